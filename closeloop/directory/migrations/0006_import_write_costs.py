# An import writes a million contacts: fewer index pages touched per row.
#
# - No index on contact.organization_id alone: reads always name the directory as well.
# - The embedded data GIN index takes its pending list limit from the session again, no
#   longer from the index: Closeloop's connections ask for 256 kB (settings, so that searches
#   read a short pending list), an import's chunks for 4 MB (merging the list into the index
#   in larger, cheaper batches; the import merges it all when it finishes).

from django.db import migrations, models


def session_pending_list(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER INDEX IF EXISTS contact_embedded_gin RESET (gin_pending_list_limit)"
        )


def index_pending_list(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER INDEX IF EXISTS contact_embedded_gin SET (gin_pending_list_limit = 256)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("directory", "0005_contact_public_id_without_like_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="contact",
            name="organization",
            field=models.ForeignKey(
                db_index=False,
                on_delete=models.deletion.CASCADE,
                related_name="+",
                to="accounts.organization",
            ),
        ),
        migrations.RunPython(session_pending_list, index_pending_list),
    ]
