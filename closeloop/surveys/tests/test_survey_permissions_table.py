"""Every survey page and API endpoint of closeloop.surveys, for every kind of user: the survey's
owner and the organization's admins may; a member may with the permission the entry needs,
shared directly or through a group; with every other permission they get a 403 that says whom
to ask (and nothing changes); without a share, or from another organization, a 404."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse

from closeloop.accounts import actions as accounts_actions
from closeloop.accounts.models import MemberGroup
from closeloop.surveys import actions
from closeloop.surveys.models import Survey
from closeloop.surveys.permission_rules import Permission
from closeloop.surveys.tests.conftest import make_survey
from closeloop.surveys.tests.test_lifecycle import answer_all
from conftest import add_member

pytestmark = pytest.mark.django_db

REASON = "ask Ana Member (owner)"
P = Permission


@dataclass(frozen=True)
class World:
    survey: Survey
    response: object
    export: object


@dataclass(frozen=True)
class Entry:
    name: str
    needs: Permission | None  # None: seeing the survey is enough
    method: str
    path: Callable[[World], str]
    data: Callable[[World], dict] = lambda w: {}
    api: bool = False
    refused: int = 403  # the builder sends who may not edit to what they may see instead


def page(name: str, *extra) -> Callable[[World], str]:
    return lambda w: reverse(f"surveys:{name}", args=[w.survey.public_id, *extra])


def v1(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"/api/v1/surveys/{w.survey.public_id}{suffix}"


def v3(suffix: Callable[[World], str] = lambda w: "") -> Callable[[World], str]:
    return lambda w: f"/API/v3/surveys/{w.survey.public_id}{suffix(w)}"


OPTIONS = {"title": "Tell us", "end_message": "Thanks", "link_expiry_days": "30"}
ENTRIES = [
    Entry("builder", P.EDIT, "get", page("edit"), refused=302),
    Entry("rename", P.EDIT, "post", page("rename"), lambda w: {"name": "Renamed"}),
    Entry("add question", P.EDIT, "post", page("add-question"), lambda w: {"type": "nps"}),
    Entry("add page break", P.EDIT, "post", page("add-page-break")),
    Entry("move element", P.EDIT, "post", page("element", "BL_1", 0), lambda w: {"op": "down"}),
    Entry("question editor", P.EDIT, "get", page("question", "QID1")),
    Entry("survey flow", P.EDIT, "get", page("flow")),
    Entry("save survey flow", P.EDIT, "post", page("flow"), lambda w: {"op": "save"}),
    Entry("options", P.EDIT, "get", page("options")),
    Entry("save options", P.EDIT, "post", page("options"), lambda w: OPTIONS),
    Entry("translations", P.EDIT, "get", page("translations")),
    Entry(
        "add a language",
        P.EDIT,
        "post",
        page("languages"),
        lambda w: {"op": "add", "code": "DE"},
    ),
    Entry("publish", P.EDIT, "post", page("publish")),
    Entry("close", P.EDIT, "post", page("close")),
    Entry("reopen", P.EDIT, "post", page("reopen")),
    Entry("delete", P.DELETE, "post", page("delete"), lambda w: {"confirm": w.survey.name}),
    Entry("status bar", None, "get", page("status")),
    Entry("preview", None, "get", page("preview")),
    Entry("sharing page", None, "get", page("sharing")),
    Entry("results", P.VIEW_RESULTS, "get", page("results")),
    Entry(
        "one response",
        P.VIEW_RESPONSES,
        "get",
        lambda w: reverse("surveys:response", args=[w.survey.public_id, w.response.public_id]),
    ),
    Entry("export csv", P.VIEW_RESPONSES, "get", page("export", "csv")),
    Entry("export json", P.VIEW_RESPONSES, "get", page("export", "json")),
    Entry("v1 get", None, "get", v1(), api=True),
    Entry("v1 update", P.EDIT, "put", v1(), lambda w: {"name": "Renamed"}, api=True),
    Entry("v1 publish", P.EDIT, "post", v1("/publish"), api=True),
    Entry("v3 get", None, "get", v3(), api=True),
    Entry(
        "v3 start export",
        P.VIEW_RESPONSES,
        "post",
        v3(lambda w: "/export-responses"),
        lambda w: {"format": "csv"},
        api=True,
    ),
    Entry(
        "v3 export progress",
        P.VIEW_RESPONSES,
        "get",
        v3(lambda w: f"/export-responses/{w.export.public_id}"),
        api=True,
    ),
    Entry(
        "v3 export file",
        P.VIEW_RESPONSES,
        "get",
        v3(lambda w: f"/export-responses/{w.export.file_id}/file"),
        api=True,
    ),
]
ROLES = ["owner", "admin", "granted", "group", "other permissions", "not shared", "other org"]


@pytest.fixture
def world(org_a):
    ana = add_member(org_a[0], "ana@acme.test")
    survey = make_survey(org_a[0], ana, name="Support CSAT")
    response = answer_all(survey)
    export = actions.run_export(actions.request_export(survey, ana))
    return World(survey=survey, response=response, export=export)


def _user_for(role: str, entry: Entry, world: World, org_a, org_b, member_a):
    survey = world.survey
    if role == "owner":
        return survey.owner
    if role == "admin":
        return org_a[1]
    if role == "other org":
        return org_b[1]
    granted = [entry.needs or P.DELETE]
    if role == "other permissions":
        granted = [item for item in Permission if item != entry.needs]
    if role == "group":
        group = MemberGroup.objects.create(organization=org_a[0], name="Support")
        group.members.add(member_a)
        actions.share_survey(survey, survey.owner, group=group, permissions=granted)
    elif role != "not shared":
        actions.share_survey(survey, survey.owner, user=member_a, permissions=granted)
    return member_a


def _call(client, entry: Entry, world: World, user):
    path = entry.path(world)
    body = entry.data(world)
    if not entry.api:
        client.force_login(user)
        return getattr(client, entry.method)(path, body)
    organization = user.memberships.first().organization
    token = accounts_actions.create_api_token(organization, user, "t")[1]
    if entry.method == "get":
        return client.get(path, HTTP_X_API_TOKEN=token)
    call = getattr(client, entry.method)
    return call(path, json.dumps(body), content_type="application/json", HTTP_X_API_TOKEN=token)


def _state(survey: Survey):
    found = Survey.objects.filter(pk=survey.pk).values("name", "status", "definition").first()
    return found, survey.shares.count()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("entry", ENTRIES, ids=[entry.name for entry in ENTRIES])
def test_entry_point(client, org_a, org_b, member_a, world, entry, role):
    if role == "other permissions" and entry.needs is None:
        pytest.skip("any permission lets the user see the survey")
    user = _user_for(role, entry, world, org_a, org_b, member_a)
    before = _state(world.survey)
    response = _call(client, entry, world, user)
    if role in ("not shared", "other org"):
        assert response.status_code == 404, response.content[:300]
        assert world.survey.name not in response.content.decode()
    elif role == "other permissions":
        assert response.status_code == entry.refused, response.content[:300]
        if entry.refused == 302:
            assert response["Location"] == page("results")(world)
        else:
            body = response.content.decode()
            assert REASON in body and f"for the {entry.needs.label} permission" in body
    else:
        assert response.status_code < 400, response.content[:300]
        return
    assert _state(world.survey) == before


def test_the_refused_builder_changes_store_nothing(client, org_a, member_a, world):
    """A member who may do everything but edit posts every builder form: all refused."""
    survey = world.survey
    others = [item for item in Permission if item != P.EDIT]
    actions.share_survey(survey, survey.owner, user=member_a, permissions=others)
    client.force_login(member_a)
    before = Survey.objects.get(pk=survey.pk)
    for entry in ENTRIES:
        if entry.needs == P.EDIT and entry.method == "post" and not entry.api:
            assert client.post(entry.path(world), entry.data(world)).status_code == 403
    after = Survey.objects.get(pk=survey.pk)
    assert (after.name, after.status, after.definition) == (
        before.name,
        before.status,
        before.definition,
    )
    assert after.current_version_id == before.current_version_id
