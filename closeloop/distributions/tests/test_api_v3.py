"""/API/v3/distributions, tried with two organizations' tokens."""

from __future__ import annotations

import pytest
from django.core import mail

from closeloop.accounts import actions as accounts_actions
from closeloop.distributions import actions
from closeloop.distributions.tests.conftest import make_list
from closeloop.distributions.tests.helpers import run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_a(org_a):
    return accounts_actions.create_api_token(*org_a, "tests")[1]


@pytest.fixture
def token_b(org_b):
    return accounts_actions.create_api_token(*org_b, "tests")[1]


def body(survey, mailing_list, **overrides):
    data = {
        "message": {"messageText": "<p>Hi ${m://FirstName}: ${l://SurveyLink?d=Go}</p>"},
        "recipients": {"mailingListId": mailing_list.public_id},
        "header": {"fromName": "Acme", "subject": "Tell us", "replyToEmail": "cx@acme.example"},
        "surveyLink": {"surveyId": survey.public_id, "type": "Individual"},
    }
    data.update(overrides)
    return data


def test_create_then_read_stats_history_and_links(client, token_a, org_a, survey_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mailing_list, _ = make_list(org_a[0], 2)
    headers = {"HTTP_X_API_TOKEN": token_a}
    created = client.post(
        "/API/v3/distributions",
        body(survey_a, mailing_list),
        content_type="application/json",
        **headers,
    )
    assert created.status_code == 200, created.content
    distribution_id = created.json()["result"]["id"]
    assert distribution_id.startswith("EMD_")
    run_jobs()
    assert len(mail.outbox) == 2

    got = client.get(f"/API/v3/distributions/{distribution_id}", **headers).json()["result"]
    assert got["stats"]["sent"] == 2 and got["headers"]["replyToEmail"] == "cx@acme.example"
    listed = client.get(f"/API/v3/distributions?surveyId={survey_a.public_id}", **headers)
    assert [e["id"] for e in listed.json()["result"]["elements"]] == [distribution_id]
    history = client.get(f"/API/v3/distributions/{distribution_id}/history", **headers).json()
    assert {e["status"] for e in history["result"]["elements"]} == {"Success"}
    links = client.get(f"/API/v3/distributions/{distribution_id}/links", **headers).json()
    urls = [e["link"] for e in links["result"]["elements"]]
    assert len(urls) == 2 and all("/jfe/l/" in url for url in urls)
    assert all(any(url in m.body for m in mail.outbox) for url in urls)  # the links sent

    reminder = client.post(
        f"/API/v3/distributions/{distribution_id}/reminders",
        {"message": {"messageText": "Reminder: ${l://SurveyURL}"}, "header": {"subject": "Soon"}},
        content_type="application/json",
        **headers,
    )
    assert reminder.status_code == 200, reminder.content
    run_jobs()
    reminders = [m for m in mail.outbox if m.subject == "Soon"]
    assert len(reminders) == 2
    assert all(any(url in m.body for url in urls) for m in reminders)  # the same links


def test_bad_input_is_a_qualtrics_error(client, token_a, org_a):
    from closeloop.distributions.tests.conftest import make_survey

    survey = make_survey(*org_a, publish=False)
    mailing_list, _ = make_list(org_a[0], 1)
    response = client.post(
        "/API/v3/distributions",
        body(survey, mailing_list),
        content_type="application/json",
        HTTP_X_API_TOKEN=token_a,
    )
    assert response.status_code == 400
    assert "publish it first" in response.json()["meta"]["error"]["errorMessage"]


def test_another_organization_cannot_read_or_use_it(client, token_a, token_b, org_a, survey_a):
    mailing_list, _ = make_list(org_a[0], 1)
    distribution = actions.create_distribution(
        org_a[0], survey_a, mailing_list=mailing_list, subject="S", text_body="x"
    )
    for path in ("", "/history", "/links"):
        response = client.get(
            f"/API/v3/distributions/{distribution.public_id}{path}", HTTP_X_API_TOKEN=token_b
        )
        assert response.status_code == 404, path
    listed = client.get(
        f"/API/v3/distributions?surveyId={survey_a.public_id}", HTTP_X_API_TOKEN=token_b
    )
    assert listed.status_code == 404
    created = client.post(
        "/API/v3/distributions",
        body(survey_a, mailing_list),
        content_type="application/json",
        HTTP_X_API_TOKEN=token_b,
    )
    assert created.status_code == 404
