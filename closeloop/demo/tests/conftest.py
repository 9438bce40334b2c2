"""Helpers of the demo tests: a demo workspace, and a worker that runs what is due."""

from __future__ import annotations

import pytest

import closeloop.distributions.jobs
import closeloop.surveys.jobs
import closeloop.workflows.jobs  # noqa: F401 - registers the job handlers
from closeloop.demo import actions
from closeloop.jobs.worker import Worker
from closeloop.workflows import lookup_cache


def run_jobs(rounds: int = 50) -> None:
    """Run every due job, as `make run`'s worker would, until none is left."""
    worker = Worker()
    for _ in range(rounds):
        if not worker.run_once():
            return


@pytest.fixture
def demo_a(org_a):
    lookup_cache.forget_all()
    organization, user = org_a
    return actions.create_demo_workspace(organization, user)
