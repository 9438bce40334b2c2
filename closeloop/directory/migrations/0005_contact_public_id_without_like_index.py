# Contact ids stay unique through a constraint instead of unique=True, which on PostgreSQL also
# built a second, varchar_pattern_ops '_like' index that no query uses (ids are only compared
# for equality) and that every inserted contact had to update.


from django.db import migrations, models

import closeloop.directory.models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_failed_sign_in"),
        ("directory", "0004_embedded_gin_pending_list"),
    ]

    operations = [
        migrations.AlterField(
            model_name="contact",
            name="public_id",
            field=models.CharField(
                default=closeloop.directory.models.new_contact_id, editable=False, max_length=32
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.UniqueConstraint(fields=("public_id",), name="contact_public_id"),
        ),
    ]
