"""A real worker process killed in the middle of a distribution: nobody gets two emails."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from closeloop.distributions import actions
from closeloop.distributions.models import Delivery, DeliveryStatus
from closeloop.distributions.tests.conftest import make_list
from closeloop.jobs.models import Job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_worker_killed_mid_distribution_sends_nobody_two_emails(
    org_a,
    survey_a,
    smtp_server,
    worker_process,
    monkeypatch,
):
    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 300)
    distribution = actions.create_distribution(
        organization,
        survey_a,
        owner=user,
        mailing_list=mailing_list,
        subject="Hello ${m://FirstName}",
        text_body="${l://SurveyURL}",
    )
    monkeypatch.setenv("EMAIL_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    first = worker_process("--batch", "1")
    first.wait_while_running(lambda: len(smtp_server.handler.messages) >= 40, timeout=60)
    first.send(signal.SIGKILL)
    first.wait()
    killed_at = len(smtp_server.handler.messages)
    assert killed_at < 300, "the worker finished before it could be killed"

    # Time passes: the dead worker's lease runs out.
    Job.objects.filter(kind=actions.SEND_JOB).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    second = worker_process("--once")
    assert second.wait(timeout=120) == 0, second.output()

    received = Counter(smtp_server.handler.recipients())
    assert set(received.values()) == {1}, "somebody got two emails"
    deliveries = Delivery.objects.filter(distribution=distribution)
    sent = deliveries.filter(status=DeliveryStatus.SUCCESS).count()
    ambiguous = deliveries.filter(status=DeliveryStatus.FAILURE, reason__contains="not resent")
    assert sent + ambiguous.count() == 300
    assert ambiguous.count() <= 10  # at most one claimed batch was in flight
    assert sent <= len(received) <= sent + ambiguous.count()
