"""Response retention: an organization's recorded responses older than its period are deleted,
in batches, by the hourly surveys.delete_old_responses job; responses in progress, newer ones,
organizations without a period and other organizations keep theirs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from closeloop.accounts import actions as accounts_actions
from closeloop.jobs import schedule
from closeloop.jobs.models import Job, JobStatus
from closeloop.jobs.registry import handler_for
from closeloop.jobs.worker import Worker
from closeloop.surveys import actions, retention
from closeloop.surveys import jobs as survey_jobs  # noqa: F401 - registers the handlers
from closeloop.surveys.models import Response

pytestmark = pytest.mark.django_db


def recorded(survey, days_ago: float, *, finished: bool = True) -> Response:
    response = actions.start_response(survey, survey.current_version)
    when = timezone.now() - timedelta(days=days_ago)
    actions.record_response(response, when, finished=finished)
    Response.objects.filter(pk=response.pk).update(finished_at=when, started_at=when)
    return response


def in_progress(survey, days_ago: float) -> Response:
    response = actions.start_response(survey, survey.current_version)
    when = timezone.now() - timedelta(days=days_ago)
    Response.objects.filter(pk=response.pk).update(started_at=when, last_activity_at=when)
    return response


def keep_for(organization_and_owner, days):
    accounts_actions.set_retention(
        *organization_and_owner, runs=None, payloads=None, deliveries=None, responses=days
    )


def left(survey) -> set[str]:
    return set(Response.objects.filter(survey=survey).values_list("public_id", flat=True))


def test_old_recorded_responses_are_deleted(org_a, survey_a):
    old_finished = recorded(survey_a, 40)
    old_partial = recorded(survey_a, 31, finished=False)
    recent = recorded(survey_a, 29)
    open_old = in_progress(survey_a, 60)  # not recorded yet: its period has not started
    keep_for(org_a, 30)
    assert retention.apply() == 2
    assert left(survey_a) == {recent.public_id, open_old.public_id}
    assert not Response.objects.filter(pk__in=[old_finished.pk, old_partial.pk]).exists()
    assert retention.apply() == 0  # again: nothing more


def test_without_a_period_responses_are_kept(org_a, survey_a):
    old = recorded(survey_a, 5000)
    assert retention.apply() == 0
    assert left(survey_a) == {old.public_id}


def test_another_organizations_period_does_not_touch_these(org_a, org_b, survey_a, survey_b):
    mine = recorded(survey_a, 100)
    theirs = recorded(survey_b, 100)
    keep_for(org_b, 10)
    assert retention.apply() == 1
    assert left(survey_a) == {mine.public_id}
    assert not left(survey_b)
    assert Response.objects.filter(pk=mine.pk).exists()
    assert not Response.objects.filter(pk=theirs.pk).exists()


def test_deletes_in_batches(org_a, survey_a):
    for _ in range(7):
        recorded(survey_a, 50)
    keep = recorded(survey_a, 1)
    cutoff = timezone.now() - timedelta(days=30)
    with CaptureQueriesContext(connection) as queries:
        assert retention.delete_old_responses(org_a[0], cutoff, batch=3) == 7
    picks = [q["sql"] for q in queries.captured_queries if q["sql"].rstrip().endswith("LIMIT 3")]
    assert len(picks) == 4  # 3 + 3 + 1, then none left
    assert left(survey_a) == {keep.public_id}


def test_the_job_is_recurring_and_runs_from_the_worker(org_a, survey_a):
    names = {entry.name: entry for entry in schedule.recurring_jobs()}
    assert names["surveys.delete_old_responses"].every == timedelta(hours=1)
    assert handler_for("surveys.delete_old_responses") is not None
    old = recorded(survey_a, 20)
    keep_for(org_a, 7)
    schedule.tick()
    worker = Worker()
    while worker.run_once():
        pass
    job = Job.objects.get(kind="surveys.delete_old_responses")
    assert job.status == JobStatus.SUCCEEDED
    assert not Response.objects.filter(pk=old.pk).exists()
