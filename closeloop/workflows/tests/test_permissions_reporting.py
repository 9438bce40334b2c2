"""Workflow reporting shows each user the runs of the workflows they may manage, and nothing
else: the runs page and its workflow filter, the CSV, status counts, bulk replays."""

from __future__ import annotations

import pytest
from django.urls import reverse

from closeloop.workflows import queries, replays
from closeloop.workflows.models import WorkflowRun
from closeloop.workflows.tests.conftest import run_jobs
from closeloop.workflows.tests.permission_world import ACTORS, World, build_world

pytestmark = pytest.mark.django_db

WORKFLOWS = ("workflow", "own_workflow", "admin_workflow")
MANAGED = {
    "survey_owner": {"workflow", "own_workflow"},
    "org_admin": {"workflow", "own_workflow", "admin_workflow"},
    "granted": {"workflow"},
    "other_permissions": set(),
    "not_shared": set(),
    "other_org": set(),
}


@pytest.fixture
def world(org_a, org_b) -> World:
    return build_world(org_a, org_b)


def run_of(world: World, attribute: str) -> WorkflowRun:
    return world.runs[getattr(world, attribute).public_id]


def body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize("role", ACTORS)
@pytest.mark.parametrize("url_name", ["workflows:runs", "workflows:runs-csv"])
def test_runs_and_csv_hold_the_runs_of_ones_workflows(client, world: World, role, url_name):
    client.force_login(world.users[role])
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    text = body(response)
    for attribute in WORKFLOWS:
        shown = run_of(world, attribute).public_id in text
        assert shown is (attribute in MANAGED[role]), (role, attribute)


@pytest.mark.parametrize("role", ACTORS)
def test_the_workflow_filter_offers_only_ones_workflows(client, world: World, role):
    client.force_login(world.users[role])
    page = client.get(reverse("workflows:runs")).content.decode()
    for attribute in WORKFLOWS:
        offered = f'<option value="{getattr(world, attribute).public_id}"' in page
        assert offered is (attribute in MANAGED[role]), (role, attribute)


@pytest.mark.parametrize("role", ["other_permissions", "not_shared", "granted"])
def test_filtering_by_a_workflow_one_may_not_manage_shows_nothing(client, world: World, role):
    client.force_login(world.users[role])
    for attribute in ("own_workflow", "admin_workflow"):
        workflow_id = getattr(world, attribute).public_id
        for url_name in ("workflows:runs", "workflows:runs-csv"):
            text = body(client.get(reverse(url_name) + f"?workflow={workflow_id}"))
            for other in WORKFLOWS:
                assert run_of(world, other).public_id not in text, (role, attribute, url_name)


def test_the_queries_filter_in_sql(world: World, django_assert_max_num_queries):
    organization = world.organization
    bea = world.users["granted"]
    with django_assert_max_num_queries(4):  # membership, admin check, then one query
        found = list(queries.runs(organization, bea).values_list("public_id", flat=True))
    assert found == [world.run.public_id]
    assert queries.workflow_choices(organization, bea) == [
        (world.workflow.public_id, world.workflow.name)
    ]
    counts = queries.status_counts(organization, bea)
    assert counts["succeeded"] == 1 and sum(counts.values()) == 1
    admin_counts = queries.status_counts(organization, world.users["org_admin"])
    assert admin_counts["succeeded"] == 3
    assert queries.runs_page(organization, world.users["not_shared"], queries.RunFilter()) == (
        [],
        None,
    )


def test_a_members_bulk_replay_takes_only_the_runs_of_their_workflows(client, world: World):
    organization, bea = world.organization, world.users["granted"]
    preview = replays.preview(organization, bea, queries.RunFilter(), "current")
    assert (preview.shown, preview.total) == (1, 1)
    assert [name for name, _effects in preview.by_workflow] == ["Case follow-up (revision 1)"]
    client.force_login(bea)
    started = client.post(reverse("workflows:runs-replay"), {"definition": "current"})
    assert started.status_code == 302
    run_jobs()
    replayed = WorkflowRun.objects.filter(replay_of__isnull=False)
    assert [item.replay_of_id for item in replayed] == [world.run.pk]


def test_a_bulk_replay_is_its_creators_and_the_admins(client, world: World):
    bea = world.users["granted"]
    bulk = replays.start_bulk_replay(
        world.organization, bea, queries.RunFilter(), definition="current"
    )
    url = reverse("workflows:bulk-replay", args=[bulk.public_id])
    cancel = reverse("workflows:bulk-replay-cancel", args=[bulk.public_id])
    for role, status in [
        ("granted", 200),
        ("org_admin", 200),
        ("survey_owner", 404),
        ("not_shared", 404),
        ("other_org", 404),
    ]:
        client.force_login(world.users[role])
        assert client.get(url).status_code == status, role
        listed = bulk.public_id in client.get(reverse("workflows:runs")).content.decode()
        assert listed is (status == 200), role
        if status == 404:
            assert client.post(cancel).status_code == 404, role
    bulk.refresh_from_db()
    assert not bulk.is_done
