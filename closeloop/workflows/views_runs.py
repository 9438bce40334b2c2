"""Workflow reporting: every run with filters, a run's payload and task attempts, retries, CSV.

Thin views: reads through queries (scoped by request.organization, and to the workflows the
user may manage, in SQL), writes through actions. A run's page needs Manage workflows on its
workflow (permissions.require_workflow: the 404, or the 403 page with whom to ask).
"""

from __future__ import annotations

import csv
import json
from itertools import groupby
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from closeloop.accounts.retention import retention_of
from closeloop.accounts.views import organization_required
from closeloop.workflows import actions, mapping, permissions, queries
from closeloop.workflows.models import RunStatus, TaskRun

CSV_COLUMNS = [
    "run_id",
    "workflow_id",
    "workflow",
    "event",
    "status",
    "received_at",
    "started_at",
    "finished_at",
    "attempt",
    "skip_reason",
    "error",
    "tasks",
    "fields",
    "payload",
]


def read_filters(request, params=None) -> tuple[queries.RunFilter, dict, bool]:
    """The filters in the query string (or `params`), their values for the form, and whether
    a workflow id was given that is not one the user may manage (then nothing matches, as for
    another organization's)."""
    params = request.GET if params is None else params
    workflow = None
    unknown_workflow = False
    if params.get("workflow"):
        workflow = queries.workflow(request.organization, params["workflow"])
        if workflow is not None and not permissions.may_manage(workflow, request.user):
            workflow = None
        unknown_workflow = workflow is None
    status = params.get("status", "")
    filters = queries.RunFilter(
        workflow=workflow,
        status=status if status in RunStatus.values else "",
        since=queries.parse_day(params.get("since")),
        until=queries.parse_day(params.get("until")),
        text=params.get("q", "")[: queries.MAX_SEARCH],
    )
    values = {
        "workflow": params.get("workflow", ""),
        "status": filters.status,
        "since": filters.since.isoformat() if filters.since else "",
        "until": filters.until.isoformat() if filters.until else "",
        "q": filters.text,
    }
    return filters, values, unknown_workflow


@organization_required
def run_list(request):
    filters, values, unknown_workflow = read_filters(request)
    try:
        before = int(request.GET["before"]) if request.GET.get("before") else None
    except ValueError:
        before = None
    rows, next_cursor = ([], None)
    if not unknown_workflow:
        rows, next_cursor = queries.runs_page(
            request.organization, request.user, filters, before_id=before
        )
    query = urlencode({key: value for key, value in values.items() if value})
    context = {
        "active": "workflows",
        "tab": "runs",
        "runs": rows,
        "next_cursor": next_cursor,
        "filters": values,
        "query": query,
        "workflow": filters.workflow,
        "workflows": queries.workflow_choices(request.organization, request.user),
        "statuses": RunStatus.choices,
        "is_filtered": any(values.values()),
        "retention": retention_of(request.organization),
        "bulk_replays": queries.recent_bulk_replays(request.organization, request.user, limit=3),
    }
    return render(request, "workflows/runs.html", context)


def _safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(runs):
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(CSV_COLUMNS)
    for chunk_start in range(0, 10**9, 500):
        chunk = list(runs[chunk_start : chunk_start + 500])
        if not chunk:
            return
        tasks = TaskRun.objects.filter(run__in=chunk).order_by("run_id", "generation", "position")
        by_run = {
            run_id: list(items) for run_id, items in groupby(tasks, key=lambda item: item.run_id)
        }
        for run in chunk:
            latest = [item for item in by_run.get(run.pk, []) if item.generation == run.generation]
            summary = "; ".join(f"{item.name}: {item.status}" for item in latest)
            yield writer.writerow(
                [
                    _safe_cell(value)
                    for value in (
                        run.public_id,
                        run.workflow.public_id,
                        run.workflow.name,
                        run.event_type,
                        run.status,
                        run.created_at.isoformat(),
                        run.started_at.isoformat() if run.started_at else "",
                        run.finished_at.isoformat() if run.finished_at else "",
                        run.generation,
                        run.skip_reason,
                        run.error,
                        summary,
                        json.dumps(run.fields, ensure_ascii=False, sort_keys=True),
                        run.payload,
                    )
                ]
            )


@organization_required
def run_csv(request):
    filters, _values, unknown_workflow = read_filters(request)
    runs = queries.runs(request.organization, request.user, filters)
    if unknown_workflow:
        runs = runs.none()
    response = StreamingHttpResponse(_csv_rows(runs), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="workflow-runs.csv"'
    return response


def pretty_json(text_or_value: object) -> str:
    if isinstance(text_or_value, str):
        try:
            value = mapping.parse_json(text_or_value)
        except mapping.PayloadError:
            return text_or_value
    else:
        value = text_or_value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def run_or_404(request, run_id: str):
    """The run, if the user may manage its workflow (NotFound / NotPermitted otherwise)."""
    run = queries.run(request.organization, run_id)
    if run is None:
        raise Http404("No such workflow run.")
    permissions.require_workflow(run.workflow, request.user, not_found="No such workflow run.")
    return run


@organization_required
def run_detail(request, run_id: str):
    run = run_or_404(request, run_id)
    task_runs = queries.task_runs_of(run)
    attempts = []
    for generation, items in groupby(task_runs, key=lambda item: item.generation):
        rows = [
            {
                "task": item,
                "input": pretty_json(item.input) if item.input else "",
                "output": pretty_json(item.output) if item.output else "",
            }
            for item in items
        ]
        attempts.append({"generation": generation, "rows": rows})
    failed_task = next(
        (
            row["task"]
            for attempt in attempts[:1]
            for row in attempt["rows"]
            if row["task"].status == "failed"
        ),
        None,
    )
    context = {
        "active": "workflows",
        "run": run,
        "payload": pretty_json(run.payload) if run.payload else "",
        "fields": sorted(run.fields.items()),
        "attempts": attempts,
        "failed_task": failed_task,
        "replays": queries.replays_of(run),
    }
    return render(request, "workflows/run.html", context)


@require_POST
@organization_required
def run_retry(request, run_id: str):
    run = run_or_404(request, run_id)
    from_failed = request.POST.get("from") == "failed"
    try:
        actions.retry_run(run, request.user, from_failed_task=from_failed)
    except actions.CannotRetry as error:
        messages.error(request, str(error))
    else:
        where = "from the failed task" if from_failed else "from the start"
        messages.success(request, f"Run {run.public_id} is queued again, {where}.")
    return redirect("workflows:run", run_id=run.public_id)
