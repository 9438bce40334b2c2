"""The permission table: every entry point (pages, /api/v1, /API/v3, trigger URLs, downloads)
tried by every kind of user, against what closeloop.surveys.permissions decides.

Ana, a plain member, owns the survey. The organization's owner is an admin. Bea was given
exactly the permission the entry point needs, Cara every other one, Dan nothing; Olga owns
another organization. Ana, the admin and Bea get through; Cara gets a 403 that says whom to
ask (a trigger URL answers 404: a workflow you may not manage is not reachable); Dan and
Olga get a 404, so that the survey's existence does not leak.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse

from closeloop.accounts import actions as accounts_actions
from closeloop.directory import actions as directory_actions
from closeloop.distributions import actions as distribution_actions
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.permission_rules import Permission
from closeloop.surveys.tests.sample import simple
from closeloop.workflows import actions as workflow_actions
from conftest import add_member

pytestmark = pytest.mark.django_db

ALL = set(Permission)
ALLOWED = ("survey_owner", "org_admin", "granted")
FORBIDDEN = ("other_permissions",)
HIDDEN = ("not_shared", "other_org")
ACTORS = ALLOWED + FORBIDDEN + HIDDEN


@dataclass
class World:
    survey: object
    response: object
    export: object
    distribution: object
    workflow: object
    run_id: str
    users: dict
    tokens: dict


def _finished_response(survey):
    response = survey_actions.start_response(survey, survey.current_version)
    answers = {"QID1": ["9"]}
    survey_actions.submit_page(response, 0, lambda name: answers.get(name, []))
    response.refresh_from_db()
    return response


def _workflow(organization, owner, survey):
    definition = {
        "name": "Case follow-up",
        "survey": survey.public_id,
        "event": {
            "type": "json",
            "config": {"fields": [{"name": "email", "path": "$.email", "type": "String"}]},
        },
        "tasks": [],
    }
    return workflow_actions.create_workflow(organization, owner, definition)[0]


@pytest.fixture
def world(client, org_a, org_b) -> World:
    organization, admin = org_a
    users = {
        "org_admin": admin,
        "survey_owner": add_member(organization, "ana@acme.test"),
        "granted": add_member(organization, "bea@acme.test"),
        "other_permissions": add_member(organization, "cara@acme.test"),
        "not_shared": add_member(organization, "dan@acme.test"),
        "other_org": org_b[1],
    }
    owner = users["survey_owner"]
    survey = survey_actions.create_survey(organization, owner, "Support CSAT", simple("nps"))
    survey_actions.publish(survey, owner)
    response = _finished_response(survey)
    export = survey_actions.run_export(survey_actions.request_export(survey, owner))
    directory = directory_actions.default_directory(organization)
    contact, _created = directory_actions.create_contact(
        directory, {"firstName": "Ada", "email": "ada@example.com"}
    )
    distribution = distribution_actions.create_distribution(
        organization, survey, owner=owner, contact=contact, subject="Tell us", text_body="x"
    )
    tokens = {
        role: accounts_actions.create_api_token(
            org_b[0] if role == "other_org" else organization, user, "table"
        )[1]
        for role, user in users.items()
    }
    workflow = _workflow(organization, owner, survey)
    started = client.post(
        f"/inbound/json/{workflow.trigger_token}",
        json.dumps({"email": "ada@example.com"}),
        content_type="application/json",
        HTTP_X_API_TOKEN=tokens["survey_owner"],
    )
    assert started.status_code in (200, 202), started.content
    run_id = workflow.runs.get().public_id
    return World(survey, response, export, distribution, workflow, run_id, users, tokens)


def _share(world: World, needs: tuple[Permission, ...]) -> None:
    """Bea gets the first permission that suffices; Cara every permission that does not."""
    owner = world.users["survey_owner"]
    granted = [needs[0]] if needs else [Permission.VIEW_RESULTS]
    others = sorted(ALL - set(needs)) if needs else [Permission.DELETE]
    survey_actions.share_survey(
        world.survey, owner, user=world.users["granted"], permissions=granted
    )
    survey_actions.share_survey(
        world.survey, owner, user=world.users["other_permissions"], permissions=others
    )


# The entry points ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    name: str
    protocol: str  # page, api_v1, api_v3, trigger
    needs: tuple[Permission, ...]  # any one of them suffices; empty: seeing the survey
    call: Callable
    refused_status: int = 403


def page(method: str, url: Callable[[World], str], data: dict | None = None):
    def call(client, world, role):
        client.force_login(world.users[role])
        if method == "post":
            return client.post(url(world), data or {})
        return client.get(url(world))

    return call


def api(method: str, url: Callable[[World], str], body: dict | None = None):
    def call(client, world, role):
        headers = {"HTTP_X_API_TOKEN": world.tokens[role]}
        send = getattr(client, method)
        if body is None:
            return send(url(world), **headers)
        return send(url(world), json.dumps(body), content_type="application/json", **headers)

    return call


def trigger(client, world, role):
    return client.post(
        f"/inbound/json/{world.workflow.trigger_token}",
        json.dumps({"email": "grace@example.com"}),
        content_type="application/json",
        HTTP_X_API_TOKEN=world.tokens[role],
    )


def _create_distribution_call(client, world, role):
    contact = world.distribution.contact
    body = {
        "message": {"messageText": "<p>${l://SurveyLink?d=Go}</p>"},
        "recipients": {"contactId": contact.public_id, "mailingListId": ""},
        "header": {"fromName": "Acme", "subject": "Tell us"},
        "surveyLink": {"surveyId": world.survey.public_id, "type": "Individual"},
    }
    return client.post(
        "/API/v3/distributions",
        json.dumps(body),
        content_type="application/json",
        HTTP_X_API_TOKEN=world.tokens[role],
    )


def survey_url(name: str, *extra):
    return lambda w: reverse(f"surveys:{name}", args=[w.survey.public_id, *extra])


P = Permission
SEE_DISTRIBUTIONS = (P.DISTRIBUTE, P.VIEW_RESULTS)
ENTRIES = [
    # pages
    Entry("results page", "page", (P.VIEW_RESULTS,), page("get", survey_url("results"))),
    Entry("rename", "page", (P.EDIT,), page("post", survey_url("rename"), {"name": "Renamed"})),
    Entry("publish", "page", (P.EDIT,), page("post", survey_url("publish"))),
    Entry("delete survey", "page", (P.DELETE,), page("post", survey_url("delete"))),
    Entry(
        "one response",
        "page",
        (P.VIEW_RESPONSES,),
        page(
            "get",
            lambda w: reverse("surveys:response", args=[w.survey.public_id, w.response.public_id]),
        ),
    ),
    Entry(
        "response export download",
        "page",
        (P.VIEW_RESPONSES,),
        page("get", lambda w: reverse("surveys:export", args=[w.survey.public_id, "csv"])),
    ),
    Entry(
        "new distribution",
        "page",
        (P.DISTRIBUTE,),
        page("get", lambda w: reverse("distributions:create") + f"?survey={w.survey.public_id}"),
    ),
    Entry(
        "survey's distributions",
        "page",
        SEE_DISTRIBUTIONS,
        page("get", lambda w: reverse("distributions:survey", args=[w.survey.public_id])),
    ),
    Entry(
        "distribution detail",
        "page",
        SEE_DISTRIBUTIONS,
        page("get", lambda w: reverse("distributions:detail", args=[w.distribution.public_id])),
    ),
    Entry(
        "distribution history download",
        "page",
        SEE_DISTRIBUTIONS,
        page(
            "get", lambda w: reverse("distributions:history-csv", args=[w.distribution.public_id])
        ),
    ),
    Entry(
        "workflow editor",
        "page",
        (P.MANAGE_WORKFLOWS,),
        page("get", lambda w: reverse("workflows:edit", args=[w.workflow.public_id])),
    ),
    Entry(
        "delete workflow",
        "page",
        (P.MANAGE_WORKFLOWS,),
        page("post", lambda w: reverse("workflows:delete", args=[w.workflow.public_id])),
    ),
    Entry(
        "run detail",
        "page",
        (P.MANAGE_WORKFLOWS,),
        page("get", lambda w: reverse("workflows:run", args=[w.run_id])),
    ),
    # /api/v1
    Entry(
        "v1 get survey", "api_v1", (), api("get", lambda w: f"/api/v1/surveys/{w.survey.public_id}")
    ),
    Entry(
        "v1 replace survey",
        "api_v1",
        (P.EDIT,),
        api("put", lambda w: f"/api/v1/surveys/{w.survey.public_id}", {"name": "Renamed"}),
    ),
    Entry(
        "v1 publish",
        "api_v1",
        (P.EDIT,),
        api("post", lambda w: f"/api/v1/surveys/{w.survey.public_id}/publish", {}),
    ),
    Entry(
        "v1 get workflow",
        "api_v1",
        (P.MANAGE_WORKFLOWS,),
        api("get", lambda w: f"/api/v1/workflows/{w.workflow.public_id}"),
    ),
    Entry(
        "v1 disable workflow",
        "api_v1",
        (P.MANAGE_WORKFLOWS,),
        api("patch", lambda w: f"/api/v1/workflows/{w.workflow.public_id}", {"enabled": False}),
    ),
    Entry(
        "v1 workflow runs",
        "api_v1",
        (P.MANAGE_WORKFLOWS,),
        api("get", lambda w: f"/api/v1/workflows/{w.workflow.public_id}/runs"),
    ),
    # /API/v3
    Entry(
        "v3 get survey", "api_v3", (), api("get", lambda w: f"/API/v3/surveys/{w.survey.public_id}")
    ),
    Entry(
        "v3 start response export",
        "api_v3",
        (P.VIEW_RESPONSES,),
        api(
            "post",
            lambda w: f"/API/v3/surveys/{w.survey.public_id}/export-responses",
            {"format": "csv"},
        ),
    ),
    Entry(
        "v3 export progress",
        "api_v3",
        (P.VIEW_RESPONSES,),
        api(
            "get",
            lambda w: f"/API/v3/surveys/{w.survey.public_id}/export-responses/{w.export.public_id}",
        ),
    ),
    Entry(
        "v3 export file download",
        "api_v3",
        (P.VIEW_RESPONSES,),
        api(
            "get",
            lambda w: (
                f"/API/v3/surveys/{w.survey.public_id}/export-responses/{w.export.file_id}/file"
            ),
        ),
    ),
    Entry(
        "v3 create distribution",
        "api_v3",
        (P.DISTRIBUTE,),
        _create_distribution_call,
    ),
    Entry(
        "v3 list distributions",
        "api_v3",
        SEE_DISTRIBUTIONS,
        api("get", lambda w: f"/API/v3/distributions?surveyId={w.survey.public_id}"),
    ),
    Entry(
        "v3 distribution history",
        "api_v3",
        SEE_DISTRIBUTIONS,
        api("get", lambda w: f"/API/v3/distributions/{w.distribution.public_id}/history"),
    ),
    # trigger URLs: a workflow you may not manage is not reachable at all
    Entry("JSON event trigger", "trigger", (P.MANAGE_WORKFLOWS,), trigger, refused_status=404),
]


def _message(response, protocol: str) -> str:
    if protocol == "api_v3":
        return response.json()["meta"]["error"]["errorMessage"]
    if protocol in ("api_v1", "trigger"):
        return response.json()["detail"]
    return response.content.decode()


@pytest.mark.parametrize("role", ACTORS)
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_permission_table(client, world, entry: Entry, role: str):
    _share(world, entry.needs)
    response = entry.call(client, world, role)
    status = response.status_code
    if role in ALLOWED:
        assert status < 400, (entry.name, role, status, response.content[:300])
    elif role in FORBIDDEN and entry.needs:
        assert status == entry.refused_status, (entry.name, role, status, response.content[:300])
        if entry.refused_status == 403:
            assert "ask Ana Member (owner)" in _message(response, entry.protocol)
        else:
            assert world.workflow.runs.count() == 1  # refused, nothing stored
    elif role in FORBIDDEN:
        assert status < 400, (entry.name, role, status)  # seeing is all it takes
    else:
        assert status == 404, (entry.name, role, status, response.content[:300])


# Lists: what each user is shown ----------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    name: str
    needs: tuple[Permission, ...]
    call: Callable
    item: Callable[[World], str]  # the id that must (not) appear


LISTINGS = [
    Listing(
        "survey list page",
        (),
        page("get", lambda w: reverse("surveys:list")),
        lambda w: w.survey.public_id,
    ),
    Listing(
        "v3 list surveys", (), api("get", lambda w: "/API/v3/surveys"), lambda w: w.survey.public_id
    ),
    Listing(
        "v1 list surveys", (), api("get", lambda w: "/api/v1/surveys"), lambda w: w.survey.public_id
    ),
    Listing(
        "workflow list page",
        (P.MANAGE_WORKFLOWS,),
        page("get", lambda w: reverse("workflows:list")),
        lambda w: w.workflow.public_id,
    ),
    Listing(
        "v1 list workflows",
        (P.MANAGE_WORKFLOWS,),
        api("get", lambda w: "/api/v1/workflows"),
        lambda w: w.workflow.public_id,
    ),
    Listing(
        "reporting page",
        (P.MANAGE_WORKFLOWS,),
        page("get", lambda w: reverse("workflows:runs")),
        lambda w: w.run_id,
    ),
    Listing(
        "run CSV download",
        (P.MANAGE_WORKFLOWS,),
        page("get", lambda w: reverse("workflows:runs-csv")),
        lambda w: w.run_id,
    ),
    Listing(
        "distribution list page",
        SEE_DISTRIBUTIONS,
        page("get", lambda w: reverse("distributions:list")),
        lambda w: w.distribution.public_id,
    ),
]


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize("role", ACTORS)
@pytest.mark.parametrize("listing", LISTINGS, ids=[item.name for item in LISTINGS])
def test_lists_show_only_what_may_be_seen(client, world, listing: Listing, role: str):
    _share(world, listing.needs)
    response = listing.call(client, world, role)
    assert response.status_code == 200, (listing.name, role, response.status_code)
    shown = listing.item(world) in _body(response)
    expected = role in ALLOWED or (role in FORBIDDEN and not listing.needs)
    assert shown is expected, (listing.name, role)
