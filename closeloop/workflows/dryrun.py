"""Test a workflow with a sample payload: what each task would do, without doing it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.utils import timezone

from closeloop.workflows import conditions, mapping, piped, registry
from closeloop.workflows import definition as definitions
from closeloop.workflows.builtin.json_event import extract_fields
from closeloop.workflows.registry import TaskContext


@dataclass
class TaskPreview:
    label: str
    input: str
    summary: str
    output: str
    problems: list[str] = field(default_factory=list)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)  # the payload cannot be used
    fields: list[tuple[str, object]] = field(default_factory=list)
    passed: bool = True
    reason: str = ""
    tasks: list[TaskPreview] = field(default_factory=list)


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def dry_run(workflow, payload_text: str) -> Report:
    """Map the sample, check the conditions and preview each task in order.

    Later tasks see the earlier tasks' previewed outputs in their piped text.
    """
    report = Report()
    definition = definitions.snapshot(workflow)
    event = definition["event"]
    if event["type"] != "json":
        report.problems.append("Dry runs take a JSON sample of a JSON event.")
        return report
    try:
        payload = mapping.parse_payload(payload_text)
    except mapping.PayloadError as error:
        report.problems.append(str(error))
        return report
    values, errors = extract_fields(payload, event["config"])
    if errors:
        report.problems += [error.message for error in errors]
        return report
    report.fields = sorted(values.items())
    types = definitions.field_types(event["type"], event["config"], survey=workflow.survey)
    outcome = conditions.evaluate(definition["conditions"], values, types)
    report.passed, report.reason = outcome.passed, outcome.reason
    event_step = piped.Step(values, payload)
    steps = {event["id"]: event_step, piped.EVENT_ALIAS: event_step}
    now = timezone.now()
    for position, task in enumerate(definition["tasks"]):
        label = definitions.task_label(task, position)
        task_kind = registry.task_type(task["type"])
        rendered = piped.render_value(task.get("config") or {}, piped.run_context(steps, now))
        if task_kind is None:
            report.tasks.append(TaskPreview(label, _pretty(rendered), "Unknown task type.", ""))
            continue
        context = TaskContext(
            organization=workflow.organization,
            workflow=workflow,
            task=task,
            config=rendered,
            owner=workflow.owner,
            dry=True,
        )
        try:
            preview = task_kind.dry_run(context)
        except Exception as error:  # a preview must never break the editor
            preview = registry.DryRun(f"Could not preview: {error}", {}, (str(error),))
        steps[task["id"]] = piped.Step(preview.output, preview.output)
        report.tasks.append(
            TaskPreview(
                label,
                _pretty(rendered),
                preview.summary,
                _pretty(preview.output) if preview.output else "",
                list(preview.problems),
            )
        )
    return report
