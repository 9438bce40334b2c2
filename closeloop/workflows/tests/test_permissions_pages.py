"""Every workflow page obeys the workflow permissions (closeloop.workflows.permissions).

For a survey's workflow: Ana (the survey's owner), the admin and Bea (Manage workflows) get
through; Cara (every other permission) gets the 403 page saying whom to ask; Dan (nothing)
and Olga (another organization) get the 404. A refused request changes nothing. An
organization workflow is its owner's and the admins' only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse

from closeloop.workflows.models import Workflow
from closeloop.workflows.tests.permission_world import (
    ACTORS,
    ALLOWED,
    FORBIDDEN,
    REASON,
    World,
    build_world,
    state_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(org_a, org_b) -> World:
    return build_world(org_a, org_b)


@dataclass(frozen=True)
class Page:
    name: str
    method: str
    url: Callable[[World], str]
    data: Callable[[World], dict] | None = None
    hidden_status: int = 404


def wf(name: str, *extra) -> Callable[[World], str]:
    return lambda w: reverse(f"workflows:{name}", args=[w.workflow.public_id, *extra])


def task(name: str, position: int = 0) -> Callable[[World], str]:
    return lambda w: reverse(
        f"workflows:{name}", args=[w.workflow.public_id, w.workflow.tasks[position]["id"]]
    )


def run(name: str) -> Callable[[World], str]:
    return lambda w: reverse(f"workflows:{name}", args=[w.run.public_id])


def with_query(url: str, key: str, value: Callable[[World], str]) -> Callable[[World], str]:
    return lambda w: f"{reverse(url)}?{key}={value(w)}"


SURVEY = lambda w: w.survey.public_id  # noqa: E731
WORKFLOW = lambda w: w.workflow.public_id  # noqa: E731

PAGES = [
    Page("editor", "get", wf("edit")),
    Page("editor adding a task", "get", lambda w: wf("edit")(w) + "?add=test.echo"),
    Page("settings", "post", wf("settings"), lambda w: {"name": "Renamed", "enabled": "on"}),
    Page("event", "post", wf("event"), lambda w: {"action": "save"}),
    Page("new trigger URL", "post", wf("rotate-token")),
    Page("test-event capture page", "get", wf("capture")),
    Page("start capturing", "post", wf("capture"), lambda w: {"action": "start"}),
    Page("conditions", "post", wf("conditions"), lambda w: {"match": "any", "action": "save"}),
    Page(
        "new task",
        "post",
        wf("task", "new"),
        lambda w: {"type": "test.echo", "task_name": "Third"},
    ),
    Page("task", "post", task("task"), lambda w: {"task_name": "Renamed task"}),
    Page("move a task", "post", task("task-move"), lambda w: {"direction": "down"}),
    Page("delete a task", "post", task("task-delete")),
    Page("dry run", "post", wf("dry-run"), lambda w: {"sample": '{"customer": {}}'}),
    Page("revisions", "get", wf("revisions")),
    Page("one revision", "get", wf("revision", 1)),
    Page("delete page", "get", wf("delete")),
    Page("delete", "post", wf("delete")),
    Page("the workflow's reporting", "get", wf("workflow-runs")),
    Page("run detail", "get", run("run")),
    Page("retry a run", "post", run("run-retry")),
    Page("replay page", "get", run("run-replay")),
    Page("replay a run", "post", run("run-replay"), lambda w: {"definition": "current"}),
    Page(
        "bulk replay of the workflow",
        "get",
        with_query("workflows:runs-replay", "workflow", WORKFLOW),
    ),
    Page("survey's workflows tab", "get", with_query("workflows:list", "survey", SURVEY)),
    Page("create on the survey", "get", with_query("workflows:create", "survey", SURVEY)),
    Page(
        "create on the survey (posted)",
        "post",
        lambda w: reverse("workflows:create"),
        lambda w: {"name": "Mine", "event": "json", "survey": w.survey.public_id},
        hidden_status=400,  # the form says "There is no survey …", as for an unknown id
    ),
    Page(
        "Salesforce task editor",
        "post",
        lambda w: reverse("salesforce:task-editor", args=[w.workflow.public_id, "new"]),
        lambda w: {"operation": "insert"},
    ),
]


def call(client, world: World, page: Page, role: str):
    client.force_login(world.users[role])
    url = page.url(world)
    if page.method == "post":
        return client.post(url, page.data(world) if page.data else {})
    return client.get(url)


@pytest.mark.parametrize("role", ACTORS)
@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_workflow_pages(client, world: World, page: Page, role: str):
    before = state_of(world)
    response = call(client, world, page, role)
    status = response.status_code
    body = response.content.decode()
    if role in ALLOWED:
        assert status < 400, (page.name, role, status, body[:300])
        return
    if role in FORBIDDEN:
        assert status == 403, (page.name, role, status, body[:300])
        assert REASON in body
    else:
        assert status == page.hidden_status, (page.name, role, status, body[:300])
        assert world.workflow.name not in body and "Ana Member" not in body
    assert state_of(world) == before, (page.name, role)


def test_create_lists_only_the_surveys_whose_workflows_one_may_manage(client, world: World):
    for role, shown in [
        ("survey_owner", True),
        ("org_admin", True),
        ("granted", True),
        ("other_permissions", False),
        ("not_shared", False),
    ]:
        client.force_login(world.users[role])
        page = client.get(reverse("workflows:create")).content.decode()
        assert (world.survey.public_id in page) is shown, role


def test_a_workflow_created_on_a_shared_survey(client, world: World):
    client.force_login(world.users["granted"])
    created = client.post(
        reverse("workflows:create"),
        {"name": "Bea's flow", "event": "json", "survey": world.survey.public_id},
    )
    assert created.status_code == 302
    workflow = Workflow.objects.get(name="Bea's flow")
    assert (workflow.survey, workflow.owner) == (world.survey, world.users["granted"])


def test_an_unknown_survey_is_the_404(client, world: World):
    client.force_login(world.users["org_admin"])
    url = reverse("workflows:create") + "?survey=SV_nothere"
    assert client.get(url).status_code == 404


# The list ------------------------------------------------------------------------------------

LISTED = {
    "survey_owner": {"workflow", "own_workflow"},
    "org_admin": {"workflow", "own_workflow", "admin_workflow"},
    "granted": {"workflow"},
    "other_permissions": set(),
    "not_shared": set(),
    "other_org": set(),
}


@pytest.mark.parametrize("role", ACTORS)
def test_the_list_holds_the_workflows_one_may_manage(client, world: World, role: str):
    client.force_login(world.users[role])
    page = client.get(reverse("workflows:list")).content.decode()
    for attribute in ("workflow", "own_workflow", "admin_workflow"):
        shown = getattr(world, attribute).public_id in page
        assert shown is (attribute in LISTED[role]), (role, attribute)


# Organization workflows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "allowed"),
    [("own_workflow", {"survey_owner", "org_admin"}), ("admin_workflow", {"org_admin"})],
)
@pytest.mark.parametrize("role", ACTORS)
def test_an_organization_workflow_is_its_owners_and_the_admins(
    client, world: World, attribute: str, allowed: set, role: str
):
    workflow = getattr(world, attribute)
    client.force_login(world.users[role])
    editor = client.get(reverse("workflows:edit", args=[workflow.public_id]))
    run_page = client.get(reverse("workflows:run", args=[world.runs[workflow.public_id].public_id]))
    expected = 200 if role in allowed else 404
    assert (editor.status_code, run_page.status_code) == (expected, expected), role
