"""The "Distribute survey" workflow task (registered when the workflows app is ready)."""

from __future__ import annotations

from closeloop.distributions.workflow_task import DistributeSurveyTask
from closeloop.workflows import registry


def register() -> None:
    registry.register_task(DistributeSurveyTask())
