"""A workflow's definition as one JSON document: snapshot, checks, fields for the picker.

    {"name": "…", "enabled": true, "survey": "SV_…" | null, "continueOnFailure": true,
     "event": {"id": "EV_…", "type": "json", "config": {…}},
     "conditions": {"match": "all", "groups": […]},
     "tasks": [{"id": "TA_…", "type": "xm_directory", "name": "…", "config": {…}}]}

This is what revisions store, what runs follow, and what /api/v1/workflows reads and writes.
`check` returns errors (the definition cannot be saved) and warnings (piped fields that will
render empty).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from closeloop.workflows import conditions as conditions_module
from closeloop.workflows import piped, registry
from closeloop.workflows.registry import OfferedField

MAX_TASKS = 50
MAX_NAME = 200
TASK_ID = re.compile(r"TA_[A-Za-z0-9]{1,30}\Z")


@dataclass
class Check:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def snapshot(workflow) -> dict:
    return {
        "name": workflow.name,
        "enabled": workflow.enabled,
        "survey": workflow.survey.public_id if workflow.survey_id else None,
        "continueOnFailure": workflow.continue_on_failure,
        "event": {
            "id": workflow.event_id,
            "type": workflow.event_type,
            "config": workflow.event_config,
        },
        "conditions": workflow.conditions,
        "tasks": workflow.tasks,
    }


def diff(before: Mapping | None, after: Mapping, *, before_label: str, after_label: str) -> list:
    """A unified diff of two definitions as (kind, line) pairs: kind is +, -, @ or space."""
    old = json.dumps(before, indent=2, sort_keys=True).splitlines() if before else []
    new = json.dumps(after, indent=2, sort_keys=True).splitlines()
    lines = []
    for line in difflib.unified_diff(old, new, before_label, after_label, lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        lines.append((line[:1] if line[:1] in "+-@" else " ", line))
    return lines


def event_fields(event_type: str, config: Mapping, *, survey=None) -> list[OfferedField]:
    event = registry.event_type(event_type)
    return event.fields(config, survey=survey) if event is not None else []


def field_types(event_type: str, config: Mapping, *, survey=None) -> dict[str, str]:
    return {item.name: item.type for item in event_fields(event_type, config, survey=survey)}


@dataclass(frozen=True)
class PickerGroup:
    """One step in the {a} picker: the event or an earlier task, and its fields."""

    step_id: str
    label: str
    fields: list[OfferedField]

    def as_json(self) -> dict:
        return {
            "step": self.step_id,
            "label": self.label,
            "fields": [
                {
                    "name": item.name,
                    "label": item.title,
                    "type": item.type,
                    "token": piped.field_token(self.step_id, item.name),
                }
                for item in self.fields
            ],
        }


def task_label(task: Mapping, position: int) -> str:
    task_kind = registry.task_type(task.get("type", ""))
    kind = task_kind.label if task_kind else task.get("type", "?")
    name = task.get("name") or kind
    return f"Task {position + 1}: {name}"


def picker_groups(definition: Mapping, before_task: int | None, *, survey=None) -> list:
    """The event's fields, then the outputs of the tasks before position `before_task`
    (all tasks when None)."""
    event = definition["event"]
    event_kind = registry.event_type(event["type"])
    groups = [
        PickerGroup(
            event["id"],
            f"Event: {event_kind.label if event_kind else event['type']}",
            event_fields(event["type"], event.get("config") or {}, survey=survey),
        )
    ]
    tasks = definition.get("tasks") or []
    for position, task in enumerate(tasks if before_task is None else tasks[:before_task]):
        task_kind = registry.task_type(task.get("type", ""))
        outputs = task_kind.outputs(task.get("config") or {}) if task_kind else []
        groups.append(PickerGroup(task["id"], task_label(task, position), outputs))
    return groups


def known_steps(groups: list[PickerGroup], event_id: str) -> dict[str, set[str]]:
    known = {group.step_id: {item.name for item in group.fields} for group in groups}
    known[piped.EVENT_ALIAS] = known.get(event_id, set())
    return known


def check(definition: Mapping, *, organization, survey=None) -> Check:
    result = Check()
    name = definition.get("name")
    if not isinstance(name, str) or not name.strip():
        result.errors.append("Give the workflow a name.")
    elif len(name) > MAX_NAME:
        result.errors.append(f"A workflow name is at most {MAX_NAME} characters.")
    event = definition.get("event") or {}
    event_kind = registry.event_type(event.get("type", ""))
    if event_kind is None:
        known = ", ".join(item.key for item in registry.event_types())
        result.errors.append(f"Unknown event type {event.get('type')!r} (use one of {known}).")
        return result
    if event_kind.needs_survey and survey is None:
        result.errors.append(f"The {event_kind.label} event belongs to a survey: choose one.")
    config = event.get("config") or {}
    if not isinstance(config, Mapping):
        result.errors.append("The event's config must be an object.")
        return result
    result.errors += event_kind.validate_config(config, organization=organization, survey=survey)
    types = field_types(event_kind.key, config, survey=survey)
    result.errors += conditions_module.validate(definition.get("conditions") or {}, types)
    _check_tasks(result, definition, organization=organization, survey=survey)
    return result


def _check_tasks(result: Check, definition: Mapping, *, organization, survey) -> None:
    tasks = definition.get("tasks") or []
    if not isinstance(tasks, list):
        result.errors.append("Tasks must be a list.")
        return
    if len(tasks) > MAX_TASKS:
        result.errors.append(f"A workflow has at most {MAX_TASKS} tasks.")
        return
    seen: set[str] = set()
    for position, task in enumerate(tasks):
        if not isinstance(task, Mapping):
            result.errors.append(f"Task {position + 1}: must be an object with id, type, config.")
            continue
        label = task_label(task, position)
        task_id = task.get("id")
        if not isinstance(task_id, str) or not TASK_ID.match(task_id):
            result.errors.append(f"{label}: its id must look like TA_ and letters or digits.")
        elif task_id in seen:
            result.errors.append(f"{label}: the id {task_id} is used twice.")
        seen.add(str(task_id))
        task_kind = registry.task_type(task.get("type", ""))
        if task_kind is None:
            result.errors.append(f"{label}: unknown task type {task.get('type')!r}.")
            continue
        config = task.get("config") or {}
        if not isinstance(config, Mapping):
            result.errors.append(f"{label}: its config must be an object.")
            continue
        result.errors += [
            f"{label}: {problem}"
            for problem in task_kind.validate(config, organization=organization)
        ]
        groups = picker_groups(definition, position, survey=survey)
        known = known_steps(groups, definition["event"]["id"])
        for where, text in task_kind.text_values(config):
            for item in piped.unknown(text, known):
                result.warnings.append(f"{label}, {where}: {_unknown_field_warning(item)}")


def edit_problems(before: Mapping | None, after: Mapping, *, workflow, editor) -> list[str]:
    """What `editor` may not change from `before` (None: a new workflow) to `after`: each
    event and task type guards the settings bound to the workflow's owner (check_edit)."""
    problems: list[str] = []
    event = after.get("event") or {}
    event_kind = registry.event_type(event.get("type", ""))
    old_event = (before or {}).get("event") or {}
    if event_kind is not None and isinstance(event.get("config"), Mapping):
        old_config = old_event.get("config") if old_event.get("type") == event["type"] else None
        problems += event_kind.check_edit(
            old_config, event["config"], workflow=workflow, editor=editor
        )
    old_tasks = {
        task.get("id"): task
        for task in (before or {}).get("tasks") or []
        if isinstance(task, Mapping)
    }
    for position, task in enumerate(after.get("tasks") or []):
        task_kind = registry.task_type(task.get("type", "")) if isinstance(task, Mapping) else None
        if task_kind is None or not isinstance(task.get("config"), Mapping):
            continue
        old = old_tasks.get(task.get("id"))
        old_config = old.get("config") if old and old.get("type") == task["type"] else None
        problems += [
            f"{task_label(task, position)}: {problem}"
            for problem in task_kind.check_edit(
                old_config, task["config"], workflow=workflow, editor=editor
            )
        ]
    return problems


def _unknown_field_warning(item) -> str:
    if piped.is_run_field(item):
        return (
            f"{item.raw} is not a field of the event or of an earlier task; it will be empty "
            "when the workflow runs."
        )
    return (
        f"{item.raw} is not a workflow field (a workflow fills in ~{{ch://…}} and "
        "${date://…}); the task receives it as written."
    )
