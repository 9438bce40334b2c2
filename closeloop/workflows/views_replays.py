"""Workflow reporting: replay one run, or every run a filter shows (a job with progress).

Thin views: reads through queries and replays (scoped by request.organization and to the
workflows the user may manage), writes through replays' actions. A bulk replay is its
creator's and the admins' (permissions.require_bulk_replay).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from closeloop.accounts.views import organization_required
from closeloop.workflows import permissions, queries, replays
from closeloop.workflows.models import ReplayDefinition, RunStatus
from closeloop.workflows.views_runs import read_filters, run_or_404


@organization_required
def run_replay(request, run_id: str):
    run = run_or_404(request, run_id)
    if request.method == "POST":
        choice = request.POST.get("definition", ReplayDefinition.CURRENT)
        try:
            replay = replays.replay_run(
                run,
                request.user,
                definition=choice,
                request_key=request.POST.get("request_key", ""),
            )
        except replays.CannotReplay as error:
            messages.error(request, str(error))
            return redirect("workflows:run-replay", run_id=run.public_id)
        messages.success(
            request,
            f"Run {run.public_id} is replayed as {replay.public_id} with revision "
            f"{replay.revision}; {run.public_id} is unchanged.",
        )
        return redirect("workflows:run", run_id=replay.public_id)
    problem = replays.replay_problem(run)
    context = {
        "active": "workflows",
        "run": run,
        "problem": problem,
        "options": [] if problem else replays.replay_options(run),
        "request_key": secrets.token_urlsafe(12),  # a double click replays once
    }
    return render(request, "workflows/replay.html", context)


def _query(values: dict) -> str:
    return urlencode({key: value for key, value in values.items() if value})


@organization_required
def bulk_replay_new(request):
    source = request.POST if request.method == "POST" else request.GET
    if source.get("workflow"):  # one workflow's runs: the 404, or the 403 page with the reason
        permissions.require_workflow(
            queries.workflow(request.organization, source["workflow"]), request.user
        )
    filters, values, unknown_workflow = read_filters(request, source)
    if unknown_workflow:
        raise Http404("No such workflow.")
    choice = source.get("definition", ReplayDefinition.CURRENT)
    if choice not in ReplayDefinition.values:
        choice = ReplayDefinition.CURRENT
    if request.method == "POST":
        try:
            bulk = replays.start_bulk_replay(
                request.organization, request.user, filters, definition=choice
            )
        except replays.CannotReplay as error:
            messages.error(request, str(error))
            return redirect(f"{request.path}?{_query(values)}")
        return redirect("workflows:bulk-replay", replay_id=bulk.public_id)
    previews = {
        option: replays.preview(request.organization, request.user, filters, option)
        for option in ReplayDefinition.values
    }
    context = {
        "active": "workflows",
        "filters": values,
        "workflow": filters.workflow,
        "status_label": dict(RunStatus.choices).get(filters.status, ""),
        "query": _query(values),
        "preview": previews[ReplayDefinition.CURRENT],
        "options": [
            (value, label, previews[value].by_workflow) for value, label in ReplayDefinition.choices
        ],
        "choice": choice,
    }
    return render(request, "workflows/bulk_replay_new.html", context)


def _bulk_or_404(request, replay_id: str):
    return permissions.require_bulk_replay(
        queries.bulk_replay(request.organization, replay_id), request.user
    )


@organization_required
def bulk_replay_detail(request, replay_id: str):
    bulk = _bulk_or_404(request, replay_id)
    filters, _exists = replays.filters_of(bulk)
    context = {
        "active": "workflows",
        "bulk": bulk,
        "query": _query(bulk.filters or {}),
        "reasons": sorted((bulk.skip_reasons or {}).items()),
        "workflow": filters.workflow,
    }
    if request.htmx:
        return render(request, "workflows/_bulk_replay_status.html", context)
    return render(request, "workflows/bulk_replay.html", context)


@require_POST
@organization_required
def bulk_replay_cancel(request, replay_id: str):
    bulk = _bulk_or_404(request, replay_id)
    if replays.cancel_bulk_replay(bulk, request.user):
        messages.success(
            request, f"Bulk replay {bulk.public_id} is cancelled; the replays made so far stay."
        )
    else:
        messages.error(request, f"Bulk replay {bulk.public_id} had already finished.")
    return redirect("workflows:bulk-replay", replay_id=bulk.public_id)
