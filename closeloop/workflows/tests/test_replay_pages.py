"""Replay from workflow reporting: the run page's Replay button, the replay page (which revision,
what it will send or write), the bulk replay of a filter (count, cap, progress, cancel), the
retention note; another organization can neither see nor replay any of it."""

import json
import re

import pytest
from django.urls import reverse

from closeloop.accounts.tests.conftest import logged_in
from closeloop.workflows import actions, mapping, replays
from closeloop.workflows.models import BulkReplay, BulkReplayStatus, RunStatus, WorkflowRun
from closeloop.workflows.tests.conftest import SAMPLE, make_workflow, run_jobs

pytestmark = pytest.mark.django_db

ECHO = {"type": "test.echo", "name": "Echo", "config": {"who": "~{ch://event/email}"}}
SENDER = {"type": "test.sender", "name": "Invite", "config": {}}


def finished_run(workflow):
    values, _ = mapping.extract(SAMPLE, workflow.event_config["fields"])
    run, _ = actions.start_run(workflow, payload=json.dumps(SAMPLE), fields=values, source="http")
    run_jobs()
    run.refresh_from_db()
    return run


@pytest.fixture
def succeeded(org_a):
    workflow = make_workflow(*org_a, tasks=[ECHO, SENDER])
    return finished_run(workflow)


def text(response) -> str:
    return response.content.decode()


def test_the_run_page_offers_replay_for_a_succeeded_run(client_a, succeeded):
    page = text(client_a.get(reverse("workflows:run", args=[succeeded.public_id])))
    assert "Replay…" in page and reverse("workflows:run-replay", args=[succeeded.public_id]) in page
    assert "Retry from the start" not in page


def test_the_replay_page_says_which_revision_and_what_it_will_send(client_a, succeeded, org_a):
    page = text(client_a.get(reverse("workflows:run-replay", args=[succeeded.public_id])))
    assert "revision 1, which is the workflow's current revision" in page
    assert "This replay will:</strong> send test messages (Task 2: Invite)" in page

    actions.update_workflow(succeeded.workflow, org_a[1], {"tasks": [ECHO]})
    page = text(client_a.get(reverse("workflows:run-replay", args=[succeeded.public_id])))
    assert "The workflow's current revision (2)" in page
    assert "The revision the run ran with (1)" in page
    assert page.count("This replay will:") == 1  # the current revision sends nothing
    assert "Its tasks send no message and write to no other system." in page


def test_replaying_from_the_page_makes_a_new_linked_run(client_a, succeeded, org_a):
    actions.update_workflow(succeeded.workflow, org_a[1], {"tasks": [ECHO]})
    response = client_a.post(
        reverse("workflows:run-replay", args=[succeeded.public_id]), {"definition": "original"}
    )
    replay = WorkflowRun.objects.get(source="replay")
    assert response.status_code == 302
    assert response["Location"] == reverse("workflows:run", args=[replay.public_id])
    assert (replay.replay_of_id, replay.revision) == (succeeded.pk, 1)
    page = text(client_a.get(response["Location"], follow=True))
    assert f"is replayed as {replay.public_id} with revision 1" in page
    assert "Replay of" in page and succeeded.public_id in page
    assert f"replay:{succeeded.public_id}:1" in page  # its own idempotency key
    original = text(client_a.get(reverse("workflows:run", args=[succeeded.public_id])))
    assert "Replays" in original and replay.public_id in original


def test_a_refused_replay_says_why(client_a, org_a):
    workflow = make_workflow(*org_a, tasks=[ECHO])
    run = finished_run(workflow)
    actions.set_enabled(workflow, org_a[1], False)
    page = text(client_a.get(reverse("workflows:run-replay", args=[run.public_id])))
    assert "The workflow is disabled" in page and "Replay run</button>" not in page
    response = client_a.post(reverse("workflows:run-replay", args=[run.public_id]), follow=True)
    assert "The workflow is disabled" in text(response)
    assert not WorkflowRun.objects.filter(source="replay").exists()


def test_bulk_replay_from_the_reporting_filter(client_a, org_a):
    workflow = make_workflow(*org_a, tasks=[ECHO, SENDER], name="Invites")
    runs = [finished_run(workflow) for _ in range(3)]
    listing = text(client_a.get(reverse("workflows:runs"), {"status": "succeeded"}))
    assert f"{reverse('workflows:runs-replay')}?status=succeeded" in listing

    page = text(client_a.get(reverse("workflows:runs-replay"), {"status": "succeeded"}))
    assert re.search(r"<strong>3</strong> runs will be replayed", page)
    assert "Invites (revision 1):</strong> this replay will send test messages" in page
    assert "Replay 3 runs</button>" in page

    response = client_a.post(
        reverse("workflows:runs-replay"), {"status": "succeeded", "definition": "current"}
    )
    bulk = BulkReplay.objects.get()
    assert response["Location"] == reverse("workflows:bulk-replay", args=[bulk.public_id])
    assert bulk.filters["status"] == "succeeded" and bulk.total == 3
    progress = text(client_a.get(response["Location"]))
    assert "waiting for a worker" in progress and 'hx-trigger="every 1s"' in progress
    assert "Cancel the replay" in progress
    assert bulk.public_id in text(client_a.get(reverse("workflows:runs")))  # in progress

    run_jobs()
    partial = text(client_a.get(response["Location"], headers={"HX-Request": "true"}))
    assert partial.startswith('<section class="panel" id="bulk-replay-status"')
    assert "finished" in partial and "3 of 3 runs · 100%" in partial
    assert "hx-trigger" not in partial and "Cancel the replay" not in partial
    made = WorkflowRun.objects.filter(source="replay")
    assert {run.replay_of_id for run in made} == {run.pk for run in runs}


def test_cancel_from_the_progress_page(client_a, org_a):
    workflow = make_workflow(*org_a, tasks=[ECHO])
    finished_run(workflow)
    bulk = replays.start_bulk_replay(
        org_a[0], org_a[1], replays.queries.RunFilter(), definition="current"
    )
    response = client_a.post(reverse("workflows:bulk-replay-cancel", args=[bulk.public_id]))
    page = text(client_a.get(response["Location"]))
    assert "is cancelled; the replays made so far stay" in page and "cancelled" in page
    bulk.refresh_from_db()
    assert bulk.status == BulkReplayStatus.CANCELLED


def test_over_the_cap_the_page_explains_and_offers_no_button(client_a, org_a, monkeypatch):
    workflow = make_workflow(*org_a, tasks=[ECHO])
    for _ in range(3):
        finished_run(workflow)
    monkeypatch.setattr(replays, "BULK_REPLAY_CAP", 2)
    page = text(client_a.get(reverse("workflows:runs-replay")))
    assert "A bulk replay takes at most 2 runs and this filter shows 3." in page
    assert "<button" not in page.split("Replay the runs of this filter")[1].split("</main>")[0]
    response = client_a.post(
        reverse("workflows:runs-replay"), {"definition": "current"}, follow=True
    )
    assert "at most 2 runs" in text(response)
    assert not BulkReplay.objects.exists()


def test_reporting_says_how_long_runs_are_kept(client_a, org_a, settings):
    settings.CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS = 90
    page = text(client_a.get(reverse("workflows:runs")))
    assert "Runs are kept for 90 days." in page
    organization = org_a[0]
    organization.workflow_run_retention_days = 30
    organization.workflow_payload_retention_days = 7
    organization.save()
    page = text(client_a.get(reverse("workflows:runs")))
    assert (
        "Runs are kept for 30 days; their payloads, fields and task input and output for 7 days "
        "(this organization's setting)." in page
    )


def test_an_erased_run_says_so_and_offers_neither_retry_nor_replay(client_a, org_a):
    flaky = {"type": "test.flaky", "name": "Flaky", "config": {"permanent": True}}
    run = finished_run(make_workflow(*org_a, tasks=[flaky]))
    assert run.status == RunStatus.FAILED
    WorkflowRun.objects.filter(pk=run.pk).update(payload="", payload_erased_at=run.finished_at)
    page = text(client_a.get(reverse("workflows:run", args=[run.public_id])))
    assert "by the organization's retention settings" in page
    assert "Retry from the start" not in page and "Replay…" not in page


def test_another_organization_can_neither_see_nor_replay(
    client, org_a, org_b, succeeded, workflows_urls
):
    bulk = replays.start_bulk_replay(
        org_a[0], org_a[1], replays.queries.RunFilter(), definition="current"
    )
    logged_in(client, org_b[1])
    for name, args in (
        ("workflows:run-replay", [succeeded.public_id]),
        ("workflows:bulk-replay", [bulk.public_id]),
    ):
        assert client.get(reverse(name, args=args)).status_code == 404
    assert (
        client.post(reverse("workflows:run-replay", args=[succeeded.public_id])).status_code == 404
    )
    assert (
        client.post(reverse("workflows:bulk-replay-cancel", args=[bulk.public_id])).status_code
        == 404
    )
    # Their filter naming org A's workflow matches nothing of theirs.
    assert (
        client.get(
            reverse("workflows:runs-replay"), {"workflow": succeeded.workflow.public_id}
        ).status_code
        == 404
    )
    page = text(client.get(reverse("workflows:runs-replay")))
    assert "No finished run matches this filter." in page
    client.post(reverse("workflows:runs-replay"), {"definition": "current"})
    assert BulkReplay.objects.filter(organization=org_b[0]).count() == 0
    assert not WorkflowRun.objects.filter(source="replay").exists()
    bulk.refresh_from_db()
    assert bulk.status == BulkReplayStatus.QUEUED


def test_a_double_click_on_replay_makes_one_replay(client_a, succeeded):
    page = text(client_a.get(reverse("workflows:run-replay", args=[succeeded.public_id])))
    key = re.search(r'name="request_key" value="([^"]+)"', page).group(1)
    url = reverse("workflows:run-replay", args=[succeeded.public_id])
    first = client_a.post(url, {"definition": "current", "request_key": key})
    second = client_a.post(url, {"definition": "current", "request_key": key})
    assert first["Location"] == second["Location"]
    assert WorkflowRun.objects.filter(source="replay").count() == 1
    # A new visit of the page is a new replay.
    client_a.post(url, {"definition": "current", "request_key": "another-visit"})
    assert WorkflowRun.objects.filter(source="replay").count() == 2
