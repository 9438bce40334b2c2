"""The job ledger's own jobs."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from closeloop.jobs import actions
from closeloop.jobs.schedule import recurring

FAILED_RETENTION_DAYS = 90


@recurring("jobs.housekeeping", every=timedelta(hours=1))
def delete_old_jobs(payload: dict, job) -> None:
    now = timezone.now()
    actions.delete_finished_jobs(
        succeeded_before=now - timedelta(days=settings.CLOSELOOP_JOB_RETENTION_DAYS),
        failed_before=now - timedelta(days=FAILED_RETENTION_DAYS),
    )
