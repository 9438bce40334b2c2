"""Each mailing-list membership gets its contactLookupId (CGC_…), as Qualtrics gives one when
a contact is created in a list: added empty, filled for the memberships that exist, then
required and unique."""

from django.db import migrations, models

import closeloop.directory.models

BATCH = 5000


def fill_lookup_ids(apps, schema_editor):
    Membership = apps.get_model("directory", "MailingListMembership")
    while True:
        pks = list(
            Membership.objects.filter(public_id__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        if not pks:
            return
        ids = closeloop.directory.models.new_contact_ids(len(pks), prefix="CGC_")
        rows = [Membership(pk=pk, public_id=public_id) for pk, public_id in zip(pks, ids)]
        Membership.objects.bulk_update(rows, ["public_id"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0008_contact_first_name_index_with_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="mailinglistmembership",
            name="public_id",
            field=models.CharField(editable=False, max_length=32, null=True),
        ),
        migrations.RunPython(fill_lookup_ids, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="mailinglistmembership",
            name="public_id",
            field=models.CharField(
                default=closeloop.directory.models.new_lookup_id,
                editable=False,
                help_text="the contact's id in this list: Qualtrics' contactLookupId (CGC_…)",
                max_length=32,
                unique=True,
            ),
        ),
    ]
