"""Background work of the directory, run by the job ledger's workers."""

from closeloop.directory import imports, match_indexes
from closeloop.directory.actions import IMPORT_JOB, MATCH_INDEX_JOB
from closeloop.directory.models import ContactImport
from closeloop.jobs.registry import PermanentError, job_handler


@job_handler(IMPORT_JOB, atomic=False, lease_seconds=300)
def import_contacts(payload: dict, job) -> None:
    """Idempotent: each chunk commits with the import's progress, and a retry resumes."""
    contact_import = ContactImport.objects.filter(pk=payload.get("import_id")).first()
    if contact_import is None:
        raise PermanentError(f"Contact import {payload.get('import_id')} no longer exists.")
    if contact_import.is_done:
        return
    imports.run_import(contact_import)


@job_handler(MATCH_INDEX_JOB, atomic=False, lease_seconds=3600)
def sync_match_indexes(payload: dict, job) -> None:
    """Idempotent: builds what the directory's rules need now, drops what they no longer do.
    Not atomic: PostgreSQL builds an index concurrently only outside a transaction."""
    match_indexes.sync(payload["directory_id"])
