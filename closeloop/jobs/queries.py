"""Reads of the job ledger for the operators' Jobs page."""

from __future__ import annotations

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404

from closeloop.jobs.models import Job, JobStatus

PAGE_SIZE = 100


def jobs_visible_to(organization):
    """The organization's own jobs and the system jobs (no organization)."""
    return Job.objects.filter(Q(organization=organization) | Q(organization__isnull=True))


def recent_jobs(organization, status: str | None = None, limit: int = PAGE_SIZE):
    jobs = jobs_visible_to(organization).defer("payload", "last_error")
    if status:
        jobs = jobs.filter(status=status)
    return jobs.order_by("-id")[:limit]


def status_counts(organization) -> list[tuple[str, str, int]]:
    """(status, label, count) for every status, zeros included, in lifecycle order."""
    counted = dict(
        jobs_visible_to(organization).values_list("status").annotate(count=Count("id")).order_by()
    )
    return [(status, label, counted.get(status, 0)) for status, label in JobStatus.choices]


def job_for(organization, job_id: int) -> Job:
    return get_object_or_404(jobs_visible_to(organization), pk=job_id)
