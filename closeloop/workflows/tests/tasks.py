"""Task types for the workflow tests, registered when this module is imported: by the tests'
conftest in-process, and by worker subprocesses that list it in CLOSELOOP_EXTRA_MODULES."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from closeloop.workflows import registry
from closeloop.workflows.builtin.xm_directory import XmDirectoryTask
from closeloop.workflows.registry import DryRun, OfferedField, TaskContext, TaskFailed, TaskType


class EchoTask(TaskType):
    """Outputs its rendered config: shows what piped text became."""

    key = "test.echo"
    label = "Echo (test)"

    def outputs(self, config: Mapping) -> list[OfferedField]:
        return [OfferedField(name) for name in config]

    def run(self, context: TaskContext) -> dict:
        return dict(context.config)

    def dry_run(self, context: TaskContext) -> DryRun:
        return DryRun("Would echo its config.", dict(context.config))


class SenderTask(EchoTask):
    """Echo, saying it sends messages (what the replay pages warn about)."""

    key = "test.sender"
    label = "Sender (test)"
    side_effects = "send test messages"


class FlakyTask(TaskType):
    """Fails transiently while the attempt is at most config["failures"]; "permanent" fails."""

    key = "test.flaky"
    label = "Flaky (test)"

    def run(self, context: TaskContext) -> dict:
        if context.config.get("permanent"):
            raise TaskFailed(context.config.get("message") or "permanent failure")
        if context.attempt <= int(context.config.get("failures", 0)):
            raise ConnectionError(f"attempt {context.attempt} failed")
        return {"attempt": context.attempt}


class RemoteTask(FlakyTask):
    """Like test.flaky, run outside the transaction (as a remote call would be)."""

    key = "test.remote"
    label = "Remote (test)"
    atomic = False


class DirectoryThenSleep(XmDirectoryTask):
    """The XM Directory task, then a marker file and a sleep on the first attempts: a worker
    can be killed after the contact was written but before the transaction commits."""

    key = "test.directory_then_sleep"
    label = "XM Directory then sleep (test)"

    def run(self, context: TaskContext) -> dict:
        output = super().run(context)
        self._mark_then_sleep(context)
        return output

    def run_many(self, contexts: list[TaskContext]) -> list[dict | None]:
        """The batch path (a run's first task) is killed the same way."""
        outputs = super().run_many(contexts)
        for context, output in zip(contexts, outputs, strict=True):
            if output is not None:
                self._mark_then_sleep(context)
        return outputs

    def _mark_then_sleep(self, context: TaskContext) -> None:
        marker_dir = Path(context.task["config"]["marker_dir"])
        (marker_dir / f"started-{context.attempt}").touch()
        if context.attempt <= 1:
            time.sleep(60)

    def clean_config(self, config: Mapping) -> dict:
        clean = super().clean_config({k: v for k, v in config.items() if k != "marker_dir"})
        clean["marker_dir"] = config.get("marker_dir", "")
        return clean

    def validate(self, config: Mapping, *, organization) -> list[str]:
        rest = {k: v for k, v in config.items() if k != "marker_dir"}
        return super().validate(rest, organization=organization)


def register() -> None:
    for task in (EchoTask(), SenderTask(), FlakyTask(), RemoteTask(), DirectoryThenSleep()):
        registry.register_task(task)


register()
