# Contacts keep their tenant columns without foreign key constraints in the database: each
# was a trigger query per imported row at commit (see Contact.organization).
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_failed_sign_in"),
        ("directory", "0006_import_write_costs"),
    ]

    operations = [
        migrations.AlterField(
            model_name="contact",
            name="directory",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="contacts",
                to="directory.directory",
            ),
        ),
        migrations.AlterField(
            model_name="contact",
            name="organization",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.organization",
            ),
        ),
    ]
