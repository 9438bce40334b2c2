# The GIN index on embedded data keeps a short pending list (PostgreSQL only).
#
# Inserts go to the index's pending list, which every search scans linearly until it is
# merged. At the default 4 MB that is ~500 pages, 10 ms per search after a large import; at
# 256 kB a search reads at most ~32. Imports also merge it when they finish
# (imports.refresh_statistics).

from django.db import migrations


def shorten_pending_list(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER INDEX IF EXISTS contact_embedded_gin SET (gin_pending_list_limit = 256)"
        )


def default_pending_list(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER INDEX IF EXISTS contact_embedded_gin RESET (gin_pending_list_limit)")


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0003_embedded_data_values"),
    ]

    operations = [
        migrations.RunPython(shorten_pending_list, default_pending_list),
    ]
