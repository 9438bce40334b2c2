"""Test a workflow with a sample payload: what each task would do, without doing it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.utils import timezone

from closeloop.directory.actions import contact_values
from closeloop.directory.models import Contact
from closeloop.workflows import conditions, piped, registry
from closeloop.workflows import definition as definitions
from closeloop.workflows.registry import TaskContext


@dataclass
class TaskPreview:
    label: str
    input: str
    summary: str
    output: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    records: str = ""  # what the task would write (a would-be contact's fields), as JSON
    status: str = "succeed"  # succeed, fail or skip (not run: an earlier task would fail)

    @property
    def would_fail(self) -> bool:
        return self.status == "fail"


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
    """Map the sample, check the conditions and preview each task in order, as a run would.

    Later tasks see the outputs the earlier tasks would give in their piped text, and the
    records they would write (TaskContext.dry_records): a contact the XM Directory task would
    create is the contact a Distribute survey task after it checks. A task that would fail
    gives later tasks no output, as in a run; with "continue on failure" off they would not
    run at all. Nothing is written and nothing is sent.
    """
    report = Report()
    definition = definitions.snapshot(workflow)
    event = definition["event"]
    event_kind = registry.event_type(event["type"])
    if event_kind is None:
        report.problems.append(f"Unknown event type {event['type']!r}.")
        return report
    try:
        payload, values = event_kind.sample_event(payload_text, event["config"])
    except ValueError as error:
        report.problems += [problem for problem in str(error).split("\n") if problem]
        return report
    report.fields = sorted(values.items())
    types = definitions.field_types(event["type"], event["config"], survey=workflow.survey)
    outcome = conditions.evaluate(definition["conditions"], values, types)
    report.passed, report.reason = outcome.passed, outcome.reason
    event_step = piped.Step(values, payload)
    steps = {event["id"]: event_step, piped.EVENT_ALIAS: event_step}
    records: dict = {}
    now = timezone.now()
    failed_before = ""
    for position, task in enumerate(definition["tasks"]):
        label = definitions.task_label(task, position)
        task_kind = registry.task_type(task["type"])
        rendered = piped.render_value(task.get("config") or {}, piped.run_context(steps, now))
        if failed_before and not definition.get("continueOnFailure", True):
            summary = f"Would not run: {failed_before} would fail first."
            report.tasks.append(TaskPreview(label, _pretty(rendered), summary, "", status="skip"))
            continue
        if task_kind is None:
            problem = f"Unknown task type {task['type']!r} (is its app installed?)."
            report.tasks.append(
                TaskPreview(
                    label, _pretty(rendered), f"Would fail: {problem}", "", [problem], status="fail"
                )
            )
            failed_before = failed_before or label
            continue
        context = TaskContext(
            organization=workflow.organization,
            workflow=workflow,
            task=task,
            config=rendered,
            owner=workflow.owner,
            dry=True,
            dry_records=dict(records),
        )
        try:
            preview = task_kind.dry_run(context)
        except Exception as error:  # a preview must never break the editor
            preview = registry.DryRun(f"Could not preview: {error}", {}, (str(error),))
        if preview.would_fail:
            failed_before = failed_before or label
        else:
            steps[task["id"]] = piped.Step(preview.output, preview.output)
            records.update(preview.records)
        report.tasks.append(
            TaskPreview(
                label,
                _pretty(rendered),
                preview.summary,
                _pretty(preview.output) if preview.output else "",
                list(preview.problems),
                list(preview.warnings),
                _records_text(preview.records),
                "fail" if preview.would_fail else "succeed",
            )
        )
    return report


def _records_text(records) -> str:
    """The records a task would write, shown in the editor: a would-be contact's fields."""
    shown = {}
    for record_id, record in records.items():
        if isinstance(record, Contact):
            shown[record_id] = {
                **{name: value for name, value in contact_values(record).items() if value},
                "embeddedData": record.embedded_data,
                "unsubscribed": record.unsubscribed,
                "exists": record.pk is not None,
            }
        else:
            shown[record_id] = str(record)
    return _pretty(shown) if shown else ""
