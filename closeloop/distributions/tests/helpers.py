"""Run the distribution jobs in-process, the way a worker would."""

from __future__ import annotations

from django.utils import timezone

import closeloop.distributions.jobs  # noqa: F401 - registers the handlers
from closeloop.jobs.models import Job, JobStatus
from closeloop.jobs.worker import Worker


def run_jobs(max_rounds: int = 50) -> None:
    """Run every due job (and those that become due at once) until none is left."""
    worker = Worker()
    for _ in range(max_rounds):
        if not worker.run_once():
            return


def make_retries_due() -> int:
    return Job.objects.filter(status=JobStatus.QUEUED, kind__startswith="distributions.").update(
        run_after=timezone.now()
    )
