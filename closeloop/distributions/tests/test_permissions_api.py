"""/API/v3/distributions obeys the survey permissions of the token's user: Distribute to create
(email, SMS, reminders, links), Distribute or View results to read; a survey not shared is the
same Qualtrics 404 as one that does not exist, and so is another organization's."""

from __future__ import annotations

import json

import pytest

from closeloop.directory import actions as directory_actions
from closeloop.distributions.models import Distribution
from closeloop.distributions.tests.permission_world import (
    SENTENCE,
    World,
)
from closeloop.surveys import actions as survey_actions

pytestmark = pytest.mark.django_db

READ = ("list", "get", "history")
WRITE = ("create", "create sms", "reminder", "links")


def _post(client, world: World, role: str, url: str, body: dict):
    return client.post(url, json.dumps(body), content_type="application/json", **world.token(role))


def calls(world: World) -> dict:
    survey, distribution = world.survey.public_id, world.distribution.public_id
    directory = directory_actions.default_directory(world.organization)
    phone, _created = directory_actions.create_contact(
        directory, {"firstName": "Pat", "phone": "+14155552671"}
    )

    def get(url):
        return lambda client, role: client.get(url, **world.token(role))

    def post(url, body):
        return lambda client, role: _post(client, world, role, url, body)

    return {
        "list": get(f"/API/v3/distributions?surveyId={survey}"),
        "get": get(f"/API/v3/distributions/{distribution}"),
        "history": get(f"/API/v3/distributions/{distribution}/history"),
        "links": get(f"/API/v3/distributions/{distribution}/links"),
        "create": post(
            "/API/v3/distributions",
            {
                "message": {"messageText": "<p>${l://SurveyLink?d=Go}</p>"},
                "recipients": {"mailingListId": world.mailing_list.public_id},
                "header": {"fromName": "Acme", "subject": "Tell us"},
                "surveyLink": {"surveyId": survey, "type": "Individual"},
            },
        ),
        "create sms": post(
            "/API/v3/distributions/sms",
            {
                "method": "Invite",
                "surveyId": survey,
                "message": {"messageText": "Rate us: ${l://SurveyURL}"},
                "recipients": {"contactId": phone.public_id},
            },
        ),
        "reminder": post(
            f"/API/v3/distributions/{distribution}/reminders",
            {"message": {"messageText": "Soon: ${l://SurveyURL}"}, "header": {"subject": "Soon"}},
        ),
    }


def _error(response) -> dict:
    return response.json()["meta"]["error"]


@pytest.mark.parametrize("role", ("owner", "admin", "distributor"))
def test_distribute_may_do_everything(client, world, role):
    for name, call in calls(world).items():
        response = call(client, role)
        assert response.status_code == 200, (name, role, response.content[:300])
    created = Distribution.objects.exclude(pk=world.distribution.pk)
    assert created.count() == 3  # email, SMS, reminder
    assert {item.owner for item in created} == {world.users[role]}


def test_view_results_reads_but_may_not_create(client, world):
    for name, call in calls(world).items():
        response = call(client, "viewer")
        if name in READ:
            assert response.status_code == 200, (name, response.content[:300])
            continue
        assert response.status_code == 403, (name, response.content[:300])
        body = response.json()
        assert body["meta"]["httpStatus"] == "403 - Forbidden"
        assert _error(response) == {"errorMessage": SENTENCE, "errorCode": "AUTH_04"}, name
    assert Distribution.objects.count() == 1
    listed = calls(world)["list"](client, "viewer").json()["result"]["elements"]
    assert [item["id"] for item in listed] == [world.distribution.public_id]


@pytest.mark.parametrize("role", ("stranger", "other"))
def test_a_survey_not_shared_or_of_another_organization_is_a_404(client, world, role):
    for name, call in calls(world).items():
        response = call(client, role)
        assert response.status_code == 404, (name, role, response.content[:300])
        message = _error(response)["errorMessage"]
        assert message.startswith(("Invalid surveyId", "Invalid distributionId")), message
        assert _error(response)["errorCode"] == "RES_01"
    assert Distribution.objects.count() == 1


def test_an_unseen_survey_answers_like_a_missing_one(client, world):
    seen = calls(world)["get"](client, "stranger")
    missing = client.get("/API/v3/distributions/EMD_doesNotExist", **world.token("stranger"))
    assert _error(seen)["errorMessage"] == f"Invalid distributionId: {world.distribution.public_id}"
    assert _error(missing)["errorMessage"] == "Invalid distributionId: EMD_doesNotExist"


def test_an_idempotency_key_does_not_replay_for_someone_refused(client, world):
    body = {
        "message": {"messageText": "<p>${l://SurveyLink?d=Go}</p>"},
        "recipients": {"mailingListId": world.mailing_list.public_id},
        "header": {"subject": "Tell us"},
        "surveyLink": {"surveyId": world.survey.public_id, "type": "Individual"},
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": "same-key"}
    first = client.post(
        "/API/v3/distributions",
        json.dumps(body),
        content_type="application/json",
        **world.token("distributor"),
        **headers,
    )
    assert first.status_code == 200, first.content
    again = client.post(
        "/API/v3/distributions",
        json.dumps(body),
        content_type="application/json",
        **world.token("viewer"),
        **headers,
    )
    assert again.status_code == 403 and _error(again)["errorMessage"] == SENTENCE


def test_losing_the_permission_refuses_the_next_request(client, world):
    create = calls(world)["create"]
    assert create(client, "distributor").status_code == 200
    survey_actions.share_survey(
        world.survey, world.users["owner"], user=world.users["distributor"], permissions=[]
    )
    response = create(client, "distributor")
    assert response.status_code == 404
