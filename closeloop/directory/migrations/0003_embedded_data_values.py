# A GIN index for searching contacts by an embedded data value (PostgreSQL only).

from django.db import migrations


def create_gin_index(apps, schema_editor):
    # PostgreSQL only: answers "some embedded data field equals X" (search) from an index.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS contact_embedded_gin ON directory_contact "
            "USING gin (embedded_data)"
        )


def drop_gin_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS contact_embedded_gin")


class Migration(migrations.Migration):

    dependencies = [
        ('directory', '0002_contactimport'),
    ]

    operations = [
        migrations.RunPython(create_gin_index, drop_gin_index),
    ]
