from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from closeloop.jobs import actions, queries
from closeloop.jobs.models import JobStatus


def admin_required(view):
    @login_required
    @wraps(view)
    def guarded(request, *args, **kwargs):
        membership = getattr(request, "membership", None)
        if membership is None or not membership.can_administer:
            raise PermissionDenied("Only organization owners and admins can see jobs.")
        return view(request, *args, **kwargs)

    return guarded


@admin_required
def job_list(request):
    status = request.GET.get("status")
    if status not in JobStatus.values:
        status = None
    context = {
        "active": "settings",
        "status": status,
        "counts": queries.status_counts(request.organization),
        "jobs": queries.recent_jobs(request.organization, status),
        "page_size": queries.PAGE_SIZE,
    }
    return render(request, "jobs/job_list.html", context)


@admin_required
def job_detail(request, job_id: int):
    job = queries.job_for(request.organization, job_id)
    return render(request, "jobs/job_detail.html", {"active": "settings", "job": job})


@require_POST
@admin_required
def retry(request, job_id: int):
    job = queries.job_for(request.organization, job_id)
    if actions.retry_job(job):
        messages.success(request, f"Job {job.pk} is queued to run again now.")
    else:
        messages.error(
            request, f"Job {job.pk} is {job.status}: only failed or dead jobs can be retried."
        )
    return redirect("jobs:detail", job_id=job.pk)


@require_POST
@admin_required
def cancel(request, job_id: int):
    job = queries.job_for(request.organization, job_id)
    if actions.cancel_job(job):
        messages.success(request, f"Job {job.pk} is cancelled and will not run.")
    else:
        messages.error(request, f"Job {job.pk} is {job.status}: only queued jobs can be cancelled.")
    return redirect("jobs:detail", job_id=job.pk)
