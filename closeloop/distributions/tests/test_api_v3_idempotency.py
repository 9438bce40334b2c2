"""POST /API/v3/distributions (email and SMS) with an Idempotency-Key: a retry of the same
request within 24 hours gets the first distribution back and sends nothing again; the key with
another body is a 409 in the Qualtrics envelope; keys are per organization."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from closeloop.accounts import actions as accounts_actions
from closeloop.distributions import actions
from closeloop.distributions import jobs as distribution_jobs
from closeloop.distributions.models import Distribution, IdempotencyKey
from closeloop.distributions.tests.conftest import make_list, make_survey
from closeloop.distributions.tests.helpers import run_jobs
from closeloop.jobs.models import Job
from closeloop.outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _emails_in_memory(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def token_a(org_a):
    return accounts_actions.create_api_token(*org_a, "tests")[1]


@pytest.fixture
def token_b(org_b):
    return accounts_actions.create_api_token(*org_b, "tests")[1]


def body(survey, mailing_list, **overrides) -> dict:
    data = {
        "message": {"messageText": "<p>Hi ${m://FirstName}: ${l://SurveyLink?d=Go}</p>"},
        "recipients": {"mailingListId": mailing_list.public_id},
        "header": {"fromName": "Acme", "subject": "Tell us"},
        "surveyLink": {"surveyId": survey.public_id, "type": "Individual"},
    }
    data.update(overrides)
    return data


def post(client, token, data, key=None, path="/API/v3/distributions", raw=None):
    headers = {"X-API-TOKEN": token}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(
        path, raw if raw is not None else data, content_type="application/json", headers=headers
    )


def test_the_same_key_twice_makes_one_distribution_and_one_set_of_emails(
    client, token_a, org_a, survey_a
):
    mailing_list, _ = make_list(org_a[0], 2)
    data = body(survey_a, mailing_list)
    first = post(client, token_a, data, key="order-42-invite")
    assert first.status_code == 200, first.content
    run_jobs()
    # A retry after a timeout: the same JSON, formatted otherwise (key order, whitespace).
    again = post(
        client,
        token_a,
        None,
        key="order-42-invite",
        raw=json.dumps(dict(reversed(list(data.items()))), indent=4),
    )
    assert again.status_code == 200, again.content
    assert again.json()["result"] == first.json()["result"]
    assert again.json()["meta"]["httpStatus"] == "200 - OK"
    run_jobs()
    assert Distribution.objects.count() == 1
    assert sorted(message.to[0] for message in mail.outbox) == ["p0@example.com", "p1@example.com"]


def test_the_same_key_with_another_body_is_a_409_and_changes_nothing(
    client, token_a, org_a, survey_a
):
    mailing_list, _ = make_list(org_a[0], 1)
    first = post(client, token_a, body(survey_a, mailing_list), key="k-1")
    changed = body(survey_a, mailing_list, header={"subject": "Something else"})
    jobs = Job.objects.count()
    refused = post(client, token_a, changed, key="k-1")
    assert refused.status_code == 409
    meta = refused.json()["meta"]
    assert meta["httpStatus"] == "409 - Conflict" and meta["requestId"]
    assert meta["error"]["errorCode"] == "REQ_06"
    message = meta["error"]["errorMessage"]
    assert "Idempotency-Key 'k-1' was used with a different request" in message
    assert first.json()["result"]["id"] in message
    assert Distribution.objects.count() == 1 and Job.objects.count() == jobs


def test_without_a_key_each_request_is_a_distribution(client, token_a, org_a, survey_a):
    mailing_list, _ = make_list(org_a[0], 1)
    for _ in range(2):
        assert post(client, token_a, body(survey_a, mailing_list)).status_code == 200
    assert Distribution.objects.count() == 2


def test_the_same_key_in_two_organizations_is_two_distributions(
    client, token_a, token_b, org_a, org_b, survey_a
):
    survey_b = make_survey(*org_b, name="Globex feedback")
    list_a, _ = make_list(org_a[0], 1)
    list_b, _ = make_list(org_b[0], 1, domain="globex.example")
    made_a = post(client, token_a, body(survey_a, list_a), key="shared-key")
    made_b = post(client, token_b, body(survey_b, list_b), key="shared-key")
    assert made_a.status_code == made_b.status_code == 200, (made_a.content, made_b.content)
    id_a, id_b = made_a.json()["result"]["id"], made_b.json()["result"]["id"]
    assert id_a != id_b
    assert Distribution.objects.get(public_id=id_a).organization == org_a[0]
    assert Distribution.objects.get(public_id=id_b).organization == org_b[0]
    # B's key never answers with A's distribution, nor refuses B's own request.
    again_b = post(client, token_b, body(survey_b, list_b), key="shared-key")
    assert again_b.json()["result"]["id"] == id_b
    run_jobs()
    assert sorted(message.to[0] for message in mail.outbox) == [
        "p0@example.com",
        "p0@globex.example",
    ]


@pytest.mark.parametrize(
    "key",
    ["", " padded", "padded ", "x" * 256, "tab\tinside", "clé", "line\nbreak"],
    ids=["empty", "leading space", "trailing space", "256 chars", "tab", "non-ASCII", "newline"],
)
def test_a_malformed_key_is_refused_in_the_envelope(client, token_a, org_a, survey_a, key):
    mailing_list, _ = make_list(org_a[0], 1)
    response = client.post(
        "/API/v3/distributions",
        body(survey_a, mailing_list),
        content_type="application/json",
        HTTP_X_API_TOKEN=token_a,
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 400
    error = response.json()["meta"]["error"]
    assert error == {
        "errorMessage": "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
        "errorCode": "REQ_01",
    }
    assert not Distribution.objects.exists()


def test_the_longest_key_and_inner_spaces_are_fine(client, token_a, org_a, survey_a):
    mailing_list, _ = make_list(org_a[0], 1)
    for key in ("k" * 255, "order 42 / invite #1"):
        assert post(client, token_a, body(survey_a, mailing_list), key=key).status_code == 200
    assert set(IdempotencyKey.objects.values_list("key", flat=True)) == {
        "k" * 255,
        "order 42 / invite #1",
    }


def test_a_refused_request_does_not_use_up_its_key(client, token_a, org_a, survey_a):
    from closeloop.directory import actions as directory_actions

    directory = directory_actions.default_directory(org_a[0])
    empty = directory_actions.create_mailing_list(directory, "Nobody yet")
    data = body(survey_a, empty)
    refused = post(client, token_a, data, key="retry-me")
    assert refused.status_code == 400 and "has no contacts" in refused.content.decode()
    directory_actions.upsert_contact(directory, {"email": "late@example.com"}, mailing_list=empty)
    assert post(client, token_a, data, key="retry-me").status_code == 200
    assert Distribution.objects.count() == 1


def test_keys_are_kept_24_hours(client, token_a, org_a, survey_a):
    mailing_list, _ = make_list(org_a[0], 1)
    first = post(client, token_a, body(survey_a, mailing_list), key="daily")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23))
    kept = post(client, token_a, body(survey_a, mailing_list), key="daily")
    assert kept.json()["result"] == first.json()["result"]
    assert Distribution.objects.count() == 1
    # Older than 24 hours the key is new again, whatever the body.
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    changed = body(survey_a, mailing_list, header={"subject": "Next day"})
    second = post(client, token_a, changed, key="daily")
    assert second.status_code == 200, second.content
    assert second.json()["result"]["id"] != first.json()["result"]["id"]
    assert IdempotencyKey.objects.get().distribution.public_id == second.json()["result"]["id"]


def test_the_hourly_job_forgets_keys_older_than_24_hours(client, token_a, org_a, survey_a):
    mailing_list, _ = make_list(org_a[0], 1)
    for key in ("old", "recent"):
        post(client, token_a, body(survey_a, mailing_list), key=key)
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyKey.objects.filter(key="recent").update(
        created_at=timezone.now() - timedelta(hours=23)
    )
    distribution_jobs.forget_idempotency_keys({}, None)
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]
    assert Distribution.objects.count() == 2  # the distributions stay


def test_sms_distributions_take_a_key_too(client, token_a, org_a, survey_a):
    from closeloop.distributions.tests.test_sms import sms_list

    mailing_list, _ = sms_list(org_a[0], ["+14155552671"])
    data = {
        "method": "Invite",
        "surveyId": survey_a.public_id,
        "message": {"messageText": "Rate us: ${l://SurveyURL}"},
        "recipients": {"mailingListId": mailing_list.public_id},
    }
    path = "/API/v3/distributions/sms"
    first = post(client, token_a, data, key="sms-1", path=path)
    again = post(client, token_a, data, key="sms-1", path=path)
    assert first.status_code == again.status_code == 200, (first.content, again.content)
    assert again.json()["result"] == first.json()["result"]
    run_jobs()
    assert OutboxMessage.objects.filter(channel="sms").count() == 1
    changed = post(client, token_a, {**data, "method": "Interactive"}, key="sms-1", path=path)
    assert changed.status_code == 409
    # The key of an SMS distribution is not a key for an email one, whatever the body.
    email = post(client, token_a, body(survey_a, mailing_list), key="sms-1")
    assert email.status_code == 409
    assert Distribution.objects.count() == 1


def test_a_request_that_loses_the_race_answers_with_the_winner(org_a, survey_a, monkeypatch):
    """The insert of the key is what decides: a request that did not see the winner's key (it
    was not committed yet) fails the unique constraint and rolls back all it did."""
    organization, _user = org_a
    mailing_list, _ = make_list(organization, 1)
    arguments = {"mailing_list": mailing_list, "subject": "S", "text_body": "${l://SurveyURL}"}
    winner, created = actions.create_distribution_once(
        organization, survey_a, idempotency_key="race", request_hash="h", **arguments
    )
    assert created
    jobs = Job.objects.count()
    looked_up = []
    real_lookup = actions.distribution_for_key

    def not_committed_yet(*args):
        looked_up.append(args)
        return None if len(looked_up) == 1 else real_lookup(*args)

    monkeypatch.setattr(actions, "distribution_for_key", not_committed_yet)
    loser, created = actions.create_distribution_once(
        organization, survey_a, idempotency_key="race", request_hash="h", **arguments
    )
    assert (loser, created) == (winner, False)
    assert len(looked_up) == 2
    assert Distribution.objects.count() == 1 and Job.objects.count() == jobs


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_with_one_key_make_one_distribution(org_a, survey_a, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (SQLite serialises writers with BEGIN IMMEDIATE)")
    organization, user = org_a
    token = accounts_actions.create_api_token(organization, user, "race")[1]
    mailing_list, _ = make_list(organization, 1)
    data = body(survey_a, mailing_list)
    real_create = actions.create_distribution

    def slow_create(*args, **kwargs):  # both requests are inside their transaction at once
        distribution = real_create(*args, **kwargs)
        time.sleep(0.3)
        return distribution

    monkeypatch.setattr(actions, "create_distribution", slow_create)
    real_lookup, lookups = actions.distribution_for_key, []

    def counted_lookup(*args):
        lookups.append(args)
        return real_lookup(*args)

    monkeypatch.setattr(actions, "distribution_for_key", counted_lookup)
    start = threading.Barrier(4)
    answers, errors = [], []

    def send():
        try:
            start.wait()
            answers.append(post(Client(), token, data, key="at-once"))
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [answer.status_code for answer in answers] == [200] * 4, [a.content for a in answers]
    assert len({answer.json()["result"]["id"] for answer in answers}) == 1
    assert Distribution.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
    # Each request looked for the key twice (the handler, then the action) and found none;
    # the three that lost the race at the insert looked again once the winner committed.
    assert len(lookups) == 4 * 2 + 3
    run_jobs()
    assert len(mail.outbox) == 1
