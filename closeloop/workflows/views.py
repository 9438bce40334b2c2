"""The workflow editor: list, create, event, conditions, tasks, settings, dry run, revisions.

Each section of the editor page is a form that posts to its own view. With HTMX the view
answers the section alone (a template partial of workflows/edit.html); without it, a save
redirects to the editor and an unsaved change (a row added) renders the whole page. Views
read through queries, write through actions and show InvalidWorkflow's problems inline.

Every page of one workflow goes through permissions.require_workflow (a 404 for a workflow
the user may not see, the 403 page with whom to ask for one they see but may not manage);
the list holds only the workflows they may manage, and a new workflow goes only on a survey
whose workflows they may manage.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from closeloop.accounts.views import organization_required
from closeloop.api.errors import NotFound
from closeloop.surveys import queries as survey_queries
from closeloop.workflows import actions, dryrun, mapping, permissions, queries, registry
from closeloop.workflows import definition as definitions
from closeloop.workflows import forms as workflow_forms
from closeloop.workflows.models import new_task_id

SECTIONS = ("settings", "event", "conditions", "tasks", "dryrun", "capture")


def _workflow_or_404(request, workflow_id: str):
    """The workflow, if the user may manage it (NotFound / NotPermitted otherwise: the 404
    and the 403 page)."""
    return permissions.require_workflow(
        queries.workflow(request.organization, workflow_id), request.user
    )


def _chosen_survey(request, survey_id: str):
    """The survey a new workflow goes on, if the user may manage its workflows: the 404 for
    one they may not see (or none of that id), the 403 page with whom to ask otherwise."""
    if not survey_id:
        return None
    survey = survey_queries.survey_of(request.organization, survey_id)
    if survey is None:
        raise NotFound("No such survey.")
    return permissions.require_survey_choice(survey, request.user)


# The list and creating -----------------------------------------------------------------------


@organization_required
def workflow_list(request):
    """All workflows, or a survey's (?survey=SV_…: the survey's Workflows tab)."""
    survey = _chosen_survey(request, request.GET.get("survey", ""))
    context = {
        "active": "workflows",
        "tab": "workflows",
        "survey": survey,
        "workflows": queries.workflows_with_activity(
            request.organization, request.user, survey=survey
        ),
    }
    return render(request, "workflows/list.html", context)


@organization_required
def workflow_create(request):
    event_types = registry.event_types()
    surveys = list(permissions.manageable_surveys(request.organization, request.user))
    values = {
        "name": "",
        "event": "json",
        "survey": request.GET.get("survey", ""),
    }
    _chosen_survey(request, values["survey"])
    errors: list[str] = []
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip() for key in values}
        raw = {
            "name": values["name"],
            "survey": values["survey"] or None,
            "event": {"type": values["event"]},
        }
        try:
            _chosen_survey(request, values["survey"])
            workflow, _warnings = actions.create_workflow(request.organization, request.user, raw)
        except NotFound:
            errors = [f"There is no survey {values['survey']}."]  # as for an unknown id
        except actions.InvalidWorkflow as error:
            errors = error.errors
        else:
            messages.success(request, f"Workflow “{workflow.name}” created.")
            return redirect("workflows:edit", workflow_id=workflow.public_id)
    context = {
        "active": "workflows",
        "tab": "workflows",
        "event_types": event_types,
        "surveys": surveys,
        "values": values,
        "errors": errors,
    }
    return render(request, "workflows/create.html", context, status=400 if errors else 200)


# The editor ----------------------------------------------------------------------------------


def _task_views(request, workflow, snapshot, state: dict) -> list[dict]:
    tasks = list(snapshot["tasks"])
    adding = state.get("adding")
    if adding is not None:
        tasks.append(adding)
    views = []
    for position, task in enumerate(tasks):
        kind = registry.task_type(task.get("type", ""))
        is_new = adding is not None and task is adding
        key = "new" if is_new else task["id"]
        config = state.get("task_configs", {}).get(key, task.get("config") or {})
        groups = definitions.picker_groups({**snapshot, "tasks": tasks}, position)
        views.append(
            {
                "task": task,
                "key": key,
                "is_new": is_new,
                "position": position,
                "label": definitions.task_label(task, position),
                "kind": kind,
                "config": config,
                "editor": kind.editor_context(
                    config, organization=request.organization, workflow=workflow
                )
                if kind
                else {},
                "picker": [group.as_json() for group in groups],
                "picker_id": f"picker-{key}",
                "errors": state.get("task_errors", {}).get(key, []),
                "extra_rows": range(1 + state.get("extra_rows", {}).get(key, 0)),
                "is_first": position == 0,
                "is_last": position == len(snapshot["tasks"]) - 1,
            }
        )
    return views


def _editor_context(request, workflow, state: dict) -> dict:
    snapshot = definitions.snapshot(workflow)
    event_kind = registry.event_type(workflow.event_type)
    fields = definitions.event_fields(
        workflow.event_type, workflow.event_config, survey=workflow.survey
    )
    conditions = state.get("conditions", workflow.conditions)
    listening = workflow.capture_until is not None and workflow.capture_until > timezone.now()
    return {
        "active": "workflows",
        "workflow": workflow,
        "event_kind": event_kind,
        "event_editor": event_kind.editor_context(
            workflow.event_config, organization=request.organization, workflow=workflow
        )
        if event_kind
        else {},
        "event_fields": fields,
        "trigger_url": queries.trigger_url(workflow),
        "mapping_rows": state.get("mapping_rows", workflow.event_config.get("fields", [])),
        "mapping_extra": range(1 + state.get("mapping_extra", 0)),
        "field_types": mapping.FIELD_TYPES,
        "sample": state.get("sample", workflow.sample_payload),
        "listening": listening,
        "conditions": conditions,
        "operators": workflow_forms.conditions_module.OPERATORS,
        "tasks": _task_views(request, workflow, snapshot, state),
        "task_types": registry.task_types(),
        "report": state.get("report"),
        "saved": state.get("saved", ""),
        "warnings": state.get("warnings", []),
        "errors": state.get("errors", {}),
        "revision_count": workflow.revision,
    }


def _render(request, workflow, section: str | None = None, **state):
    context = _editor_context(request, workflow, state)
    template = "workflows/edit.html"
    if request.htmx and section in SECTIONS:
        template = f"workflows/edit.html#{section}"
    return render(request, template, context)


def _saved(request, workflow, section: str, warnings: list[str], message: str):
    if request.htmx:
        return _render(request, workflow, section, saved=section, warnings=warnings)
    messages.success(request, message)
    for warning in warnings:
        messages.warning(request, warning)
    return redirect(reverse("workflows:edit", args=[workflow.public_id]) + f"#section-{section}")


def _update(request, workflow, section: str, changes: dict, message: str, **state):
    try:
        workflow, warnings = actions.update_workflow(workflow, request.user, changes)
    except actions.InvalidWorkflow as error:
        errors = {section: error.errors}
        return _render(request, workflow, section, errors=errors, **state)
    return _saved(request, workflow, section, warnings, message)


@organization_required
def workflow_edit(request, workflow_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    state = {}
    adding = request.GET.get("add")
    if adding and registry.task_type(adding) is not None:
        kind = registry.task_type(adding)
        state["adding"] = {"id": "new", "type": adding, "name": "", "config": kind.default_config()}
        return _render(request, workflow, "tasks", **state)
    return _render(request, workflow, None, **state)


@require_POST
@organization_required
def workflow_settings(request, workflow_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    changes = workflow_forms.settings_from_post(request.POST)
    return _update(request, workflow, "settings", changes, "Settings saved.")


# Event ---------------------------------------------------------------------------------------


@require_POST
@organization_required
def workflow_event(request, workflow_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    event_kind = registry.event_type(workflow.event_type)
    if event_kind is None:
        raise Http404("Unknown event type.")
    action = request.POST.get("action", "save")
    if action == "map-sample" and "field_name" not in request.POST:
        config = dict(workflow.event_config)  # from the captured test event: keep the mapping
    else:
        config = event_kind.config_from_form(request.POST, workflow.event_config)
    if action == "add-row" and "fields" in config:
        extra = int(request.POST.get("mapping_extra", "0") or 0) + 1
        return _render(
            request, workflow, "event", mapping_rows=config["fields"], mapping_extra=min(extra, 20)
        )
    if action == "map-sample":
        sample = request.POST.get("sample", "")
        try:
            config = event_kind.config_from_sample(sample, config)
        except ValueError as error:
            return _render(
                request,
                workflow,
                "event",
                mapping_rows=config.get("fields", []),
                sample=sample,
                errors={"event": [f"The sample payload: {error}"]},
            )
        actions.save_sample_payload(workflow, sample)
        changes = {"event": {"type": workflow.event_type, "config": config}}
        message = f"{len(config.get('fields', []))} fields mapped from the sample."
        return _update(request, workflow, "event", changes, message, mapping_rows=config["fields"])
    changes = {"event": {"type": workflow.event_type, "config": config}}
    rows = config.get("fields")
    state = {"mapping_rows": rows} if rows is not None else {}
    return _update(request, workflow, "event", changes, "Event saved.", **state)


@require_POST
@organization_required
def workflow_rotate_token(request, workflow_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    actions.rotate_trigger_token(workflow)
    return _saved(request, workflow, "event", [], "New trigger URL: the old one no longer works.")


@organization_required
def workflow_capture(request, workflow_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    if request.method == "POST":
        if request.POST.get("action") == "stop":
            actions.stop_capture(workflow)
        else:
            actions.start_capture(workflow)
        if not request.htmx:
            return redirect(reverse("workflows:edit", args=[workflow.public_id]) + "#section-event")
    return _render(request, workflow, "capture")


# Conditions ----------------------------------------------------------------------------------


@require_POST
@organization_required
def workflow_conditions(request, workflow_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    conditions = workflow_forms.conditions_from_post(request.POST)
    action = request.POST.get("action", "save")
    if action != "save":
        conditions = workflow_forms.apply_condition_action(conditions, action)
        return _render(request, workflow, "conditions", conditions=conditions)
    to_save = workflow_forms.conditions_to_save(conditions)
    return _update(
        request,
        workflow,
        "conditions",
        {"conditions": to_save},
        "Conditions saved.",
        conditions=conditions,
    )


# Tasks ---------------------------------------------------------------------------------------


def _task_index(workflow, task_id: str) -> int:
    for index, task in enumerate(workflow.tasks):
        if task["id"] == task_id:
            return index
    raise Http404("No such task in this workflow.")


@require_POST
@organization_required
def task_save(request, workflow_id: str, task_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    tasks = list(workflow.tasks)
    if task_id == "new":
        kind = registry.task_type(request.POST.get("type", ""))
        if kind is None:
            raise Http404("Unknown task type.")
        index = len(tasks)
        existing = {"id": new_task_id(), "type": kind.key, "name": "", "config": {}}
    else:
        index = _task_index(workflow, task_id)
        existing = tasks[index]
        kind = registry.task_type(existing["type"])
        if kind is None:
            raise Http404("Unknown task type.")
    config = kind.config_from_form(request.POST, existing.get("config") or {})
    name = request.POST.get("task_name", "").strip()
    state: dict = {"task_configs": {task_id: config}}
    if task_id == "new":
        state["adding"] = {"id": "new", "type": kind.key, "name": name, "config": config}
    if request.POST.get("action") == "add-row":
        extra = int(request.POST.get("extra_rows", "0") or 0) + 1
        state["extra_rows"] = {task_id: min(extra, 20)}
        return _render(request, workflow, "tasks", **state)
    updated = {**existing, "name": name, "config": config}
    new_tasks = [*tasks[:index], updated, *tasks[index + 1 :]]
    try:
        workflow, warnings = actions.update_workflow(workflow, request.user, {"tasks": new_tasks})
    except actions.InvalidWorkflow as error:
        state["task_errors"] = {task_id: error.errors}
        return _render(request, workflow, "tasks", **state)
    return _saved(request, workflow, "tasks", warnings, f"{kind.label} task saved.")


@require_POST
@organization_required
def task_move(request, workflow_id: str, task_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    tasks = list(workflow.tasks)
    index = _task_index(workflow, task_id)
    other = index - 1 if request.POST.get("direction") == "up" else index + 1
    if 0 <= other < len(tasks):
        tasks[index], tasks[other] = tasks[other], tasks[index]
    return _update(request, workflow, "tasks", {"tasks": tasks}, "Tasks reordered.")


@require_POST
@organization_required
def task_delete(request, workflow_id: str, task_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    tasks = list(workflow.tasks)
    del tasks[_task_index(workflow, task_id)]
    return _update(request, workflow, "tasks", {"tasks": tasks}, "Task removed.")


# Dry run -------------------------------------------------------------------------------------


@require_POST
@organization_required
def workflow_dry_run(request, workflow_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    sample = request.POST.get("sample", "")
    if len(sample.encode()) > mapping.MAX_BODY_BYTES:
        report = dryrun.Report(problems=["The sample is larger than 100 KB."])
    else:
        report = dryrun.dry_run(workflow, sample)
        if not report.problems and sample != workflow.sample_payload:
            actions.save_sample_payload(workflow, sample)
    return _render(request, workflow, "dryrun", report=report, sample=sample)


# Revisions and deleting ----------------------------------------------------------------------


@organization_required
def workflow_revisions(request, workflow_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    context = {
        "active": "workflows",
        "workflow": workflow,
        "revisions": queries.revisions_of(workflow),
    }
    return render(request, "workflows/revisions.html", context)


@organization_required
def workflow_revision(request, workflow_id: str, number: int):
    workflow = _workflow_or_404(request, workflow_id)
    revision = queries.revision(workflow, number)
    if revision is None:
        raise Http404("No such revision.")
    previous = queries.previous_revision(revision)
    lines = definitions.diff(
        previous.definition if previous else None,
        revision.definition,
        before_label=f"revision {previous.number}" if previous else "nothing",
        after_label=f"revision {revision.number}",
    )
    context = {
        "active": "workflows",
        "workflow": workflow,
        "revision": revision,
        "previous": previous,
        "lines": lines,
    }
    return render(request, "workflows/revision.html", context)


@organization_required
def workflow_delete(request, workflow_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    if request.method == "POST":
        name = workflow.name
        actions.delete_workflow(workflow, request.user)
        messages.success(request, f"Workflow “{name}” deleted with its runs.")
        return redirect("workflows:list")
    context = {"active": "workflows", "workflow": workflow}
    return render(request, "workflows/delete.html", context)


@organization_required
def workflow_runs(request, workflow_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    return redirect(reverse("workflows:runs") + f"?workflow={workflow.public_id}")
