"""The events and tasks a workflow can use. Integrations register more of both.

An **event type** says how a workflow starts: its configuration (defaults, validation, the
editor template), whether it has an inbound trigger endpoint, the fields it offers to
conditions and piped text, and how it deduplicates deliveries. A **task type** says what a
step does: its configuration, its validation, the fields of its output (which later tasks
can pipe as `~{ch://<task id>/<field>}`), `run(context) -> output` and `dry_run(context)`.

A dry run walks the task chain as a run would, writing and sending nothing: each task's
dry_run returns the output the real run would give (DryRun.output, piped into later tasks),
and the records it would write (DryRun.records, an unsaved model instance by its id), which
later tasks' dry runs find in TaskContext.dry_records before they look in the database. It
says "would fail" (DryRun.problems) exactly when the real run with the same input would fail.

To add one (e.g. in closeloop/integrations/salesforce/workflow.py), subclass and register
it when the app is ready:

    class SalesforceTask(TaskType):
        key = "salesforce"
        label = "Salesforce"
        atomic = False           # calls a remote API: run() outside the database transaction
        ...

    registry.register_task(SalesforceTask())

Task failures: raise `TaskFailed` (or closeloop.jobs.registry.PermanentError, or any
ValueError) for a failure that will not go away by itself: the task fails at once. Any other
exception, or `RetryLater`, is transient: the task is retried with backoff for up to 24 hours
and shows as "retrying" meanwhile. A non-atomic task must make its side effect idempotent
with `context.idempotency_key` (the same for every attempt of this task in this run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from closeloop.jobs.registry import PermanentError, RetryLater

__all__ = [
    "DryRun",
    "EventType",
    "LinkedAccount",
    "LinkedAccounts",
    "OfferedField",
    "PermanentError",
    "RetryLater",
    "TaskContext",
    "TaskFailed",
    "TaskType",
    "event_type",
    "event_types",
    "register_event",
    "register_task",
    "task_type",
    "task_types",
]


class TaskFailed(PermanentError):
    """The task cannot succeed with this input; the message is shown in workflow reporting."""


@dataclass(frozen=True)
class OfferedField:
    """A value an event or a task offers to conditions and piped text."""

    name: str
    type: str = "String"  # String, Number or Boolean
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass
class TaskContext:
    """What a task's run() and dry_run() receive."""

    organization: Any
    workflow: Any
    task: Mapping  # {"id", "type", "name", "config"} as saved
    config: dict  # the config with every piped text rendered
    owner: Any = None  # the account the workflow runs as (its creator)
    run: Any = None  # the WorkflowRun; None in a dry run
    idempotency_key: str = ""  # stable across attempts of this task in this run
    attempt: int = 1
    dry: bool = False
    # A dry run only: what earlier tasks' dry runs would have written, by the id their output
    # gives it (DryRun.records), e.g. {"CID_…": an unsaved Contact}. Look an id up here before
    # the database: a record an earlier task would create does not exist yet.
    dry_records: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DryRun:
    """What a task would do: a sentence, and an output shaped like the real one.

    `problems` non-empty means the task would fail (the real run with this input fails),
    and the summary starts "Would fail: ". `warnings`: the task would succeed but not do all
    it is meant to (an invitation that would be skipped: an opted-out contact). `records`:
    what the task would write, unsaved, by the id its output names (a would-be contact under
    output["contactId"]), handed to later tasks' dry runs as TaskContext.dry_records.
    """

    summary: str
    output: dict = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    records: Mapping[str, Any] = field(default_factory=dict)

    @property
    def would_fail(self) -> bool:
        return bool(self.problems)


@dataclass(frozen=True)
class LinkedAccount:
    """A linked account of an external system, as an ownership transfer describes it."""

    account_id: str
    label: str  # "Support org (ana@acme.example, production)"
    holder: str  # whose account it is ("Ana Lima"), or "" when it no longer exists


class LinkedAccounts:
    """The hooks of an event or task type whose config names an account of an external
    system linked by a user (Salesforce): the workflow runs as its owner, so the account must
    be one its owner may use. closeloop.workflows.transfer asks these after an ownership
    transfer, to find and re-point the accounts of the previous owner; the defaults say the
    type links no account."""

    account_system: str = ""  # "Salesforce", in "a new Salesforce account"
    link_accounts_url_name: str = ""  # the page where a user links one ("salesforce:accounts")

    def linked_accounts(self, config: Mapping) -> set[str]:
        """The account ids the config uses."""
        return set()

    def account_usable(self, organization, owner, account_id: str) -> bool:
        """Whether a workflow owned by `owner` may run as the account (their own, or shared)."""
        return True

    def describe_account(self, organization, account_id: str) -> LinkedAccount:
        return LinkedAccount(account_id, account_id, "")

    def repoint_choices(self, organization, user, account_id: str) -> list[tuple[str, str]]:
        """(id, label) of the accounts of `user` that may replace `account_id`: on the same
        external org, whose messages and records the workflow keeps working with."""
        return []

    def repoint(self, config: Mapping, old_id: str, new_id: str) -> dict:
        """The config using `new_id` wherever it used `old_id`."""
        return dict(config)


class EventType(LinkedAccounts):
    key: str = ""
    label: str = ""
    description: str = ""
    inbound: bool = False  # has a trigger endpoint that receives deliveries
    trigger_url_name: str = ""  # URL name taking the workflow's trigger token
    needs_survey: bool = False
    dedup: str = ""  # how deliveries are deduplicated, in words
    editor_template: str = ""
    sample_hint: str = "JSON"  # what a dry run's sample is, in words

    def default_config(self) -> dict:
        return {}

    def clean_config(self, config: Mapping) -> dict:
        """The config as stored (defaults filled, blanks dropped)."""
        return dict(config)

    def validate_config(self, config: Mapping, *, organization, survey) -> list[str]:
        return []

    def fields(self, config: Mapping, *, survey=None) -> list[OfferedField]:
        """The fields the event offers to conditions and piped text."""
        return []

    def remap(self, run, config: Mapping) -> dict | None:
        """Fields computed again from the run's stored payload (retry from the start after
        the mapping was fixed), read as run.payload_document (parsed once per run); None
        keeps the fields stored when the event arrived."""
        return None

    def config_from_form(self, data, previous: Mapping) -> dict:
        return dict(previous)

    def sample_event(self, sample: str, config: Mapping) -> tuple[object, dict]:
        """A sample event as a run would see it, for a dry run: (the document `$` paths walk,
        the fields); ValueError saying why the sample cannot be used."""
        raise ValueError(
            f"Dry runs take a sample of an event that arrives over HTTP, not {self.label}."
        )

    def config_from_sample(self, sample: str, config: Mapping) -> dict:
        """The config with its fields filled from a sample event (pasted, or captured while
        listening for a test event); ValueError saying why the sample cannot be used."""
        raise ValueError("this event does not map its fields from a sample.")

    def editor_context(self, config: Mapping, *, organization, workflow=None) -> dict:
        """Extra context for editor_template (e.g. the accounts the owner may choose)."""
        return {}

    def check_edit(self, before: Mapping | None, after: Mapping, *, workflow, editor) -> list[str]:
        """Problems with changing the config from `before` (None: new) to `after` by `editor`:
        settings bound to the workflow's owner (a linked account) that others may not change."""
        return []


class TaskType(LinkedAccounts):
    key: str = ""
    label: str = ""
    description: str = ""
    atomic: bool = True  # run() in the transaction that records the task's completion
    editor_template: str = ""
    # What run() does that a replay would do again for people or other systems, as the end of
    # "This replay will: …" ("send survey invitations", "write to Salesforce"); empty when it
    # does neither. A non-atomic task that leaves it empty is shown as "call <label>".
    side_effects: str = ""

    def default_config(self) -> dict:
        return {}

    def clean_config(self, config: Mapping) -> dict:
        return dict(config)

    def validate(self, config: Mapping, *, organization) -> list[str]:
        """Problems that stop the workflow from being saved."""
        return []

    def text_values(self, config: Mapping) -> list[tuple[str, str]]:
        """(label, text) of every field that takes piped text, for save-time checks."""
        found: list[tuple[str, str]] = []

        def visit(value: object, label: str) -> None:
            if isinstance(value, str):
                found.append((label, value))
            elif isinstance(value, Mapping):
                for key, item in value.items():
                    visit(item, f"{label}.{key}" if label else str(key))
            elif isinstance(value, list):
                for index, item in enumerate(value, start=1):
                    visit(item, f"{label} {index}")

        visit(config, "")
        return found

    def outputs(self, config: Mapping) -> list[OfferedField]:
        return []

    def run(self, context: TaskContext) -> dict:
        raise NotImplementedError

    def dry_run(self, context: TaskContext) -> DryRun:
        return DryRun(f"Would run {self.label}.", {})

    def config_from_form(self, data, previous: Mapping) -> dict:
        return dict(previous)

    def editor_context(self, config: Mapping, *, organization, workflow=None) -> dict:
        return {}

    def check_edit(self, before: Mapping | None, after: Mapping, *, workflow, editor) -> list[str]:
        """As EventType.check_edit, for one task (matched by its id; None when it is new)."""
        return []


_events: dict[str, EventType] = {}
_tasks: dict[str, TaskType] = {}


def register_event(event: EventType) -> EventType:
    if not event.key:
        raise ValueError("An event type needs a key.")
    _events[event.key] = event
    return event


def register_task(task: TaskType) -> TaskType:
    if not task.key:
        raise ValueError("A task type needs a key.")
    _tasks[task.key] = task
    return task


def event_type(key: str) -> EventType | None:
    return _events.get(key)


def task_type(key: str) -> TaskType | None:
    return _tasks.get(key)


def event_types() -> list[EventType]:
    return list(_events.values())


def task_types() -> list[TaskType]:
    return list(_tasks.values())
