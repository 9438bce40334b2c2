"""Starting a CSV import: the file is checked at once, stored, and its import queued as a job
(closeloop.directory.imports reads it and calls the actions here, never the other way)."""

from __future__ import annotations

from django.db import transaction

from closeloop.directory import import_files
from closeloop.directory.actions.fields import check_list
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.models import ContactImport, Directory, MailingList
from closeloop.jobs.actions import enqueue

IMPORT_JOB = "directory.import_contacts"


def check_import_file(uploaded) -> None:
    """Refuse at once a file that cannot be imported at all (no header, not UTF-8 …)."""
    uploaded.seek(0)
    try:
        first = next(import_files.read_rows(uploaded), None)
        if first is None:
            raise import_files.ImportProblem("The file is empty.")
        import_files.column_plan(first[1])
    except import_files.ImportProblem as problem:
        raise InvalidValue(str(problem)) from None
    finally:
        uploaded.seek(0)


def start_import(
    directory: Directory, uploaded, *, mailing_list: MailingList | None = None, user=None
) -> ContactImport:
    """Store the CSV and queue its import in the job ledger."""
    check_list(directory, mailing_list)
    check_import_file(uploaded)
    contact_import = ContactImport(
        organization_id=directory.organization_id,
        directory=directory,
        mailing_list=mailing_list,
        created_by=user,
        original_name=(getattr(uploaded, "name", "") or "contacts.csv")[:255],
    )
    contact_import.file.save("contacts.csv", uploaded, save=False)
    with transaction.atomic():
        contact_import.save()
        job = enqueue(
            IMPORT_JOB,
            {"import_id": contact_import.pk},
            idempotency_key=f"{IMPORT_JOB}:{contact_import.pk}",
            organization=directory.organization_id,
        )
        contact_import.job_id = job.pk
        contact_import.save(update_fields=["job_id"])
    return contact_import
