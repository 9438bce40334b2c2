"""The demo's pages: admins create and remove the demo, every member may use Try it, and
nothing of one organization's demo shows in another."""

from __future__ import annotations

import pytest

from closeloop.demo import actions, queries
from closeloop.demo.models import DemoWorkspace, TryStep
from closeloop.integrations.salesforce.models import ConnectedAccount

pytestmark = pytest.mark.django_db


def test_an_empty_organization_is_offered_the_demo_on_the_home_page(client, org_a):
    client.force_login(org_a[1])
    page = client.get("/").content.decode()
    assert 'data-demo="offer"' in page and "Create a demo workspace" in page
    assert ">Try it</a>" not in page


def test_an_admin_creates_the_demo_and_the_shell_links_to_try_it(client, org_a):
    client.force_login(org_a[1])
    created = client.post("/demo/create", follow=True)
    assert created.redirect_chain[-1][0] == "/demo/"
    page = created.content.decode()
    assert "The demo workspace is ready" in page
    assert "Close a case in Salesforce" in page and "Send a Segment event" in page
    assert "Demo — writes are recorded here, not sent to Salesforce" in page
    assert 'aria-current="page">Try it</a>' in page
    home = client.get("/").content.decode()
    assert 'data-demo="present"' in home and 'href="/demo/"' in home
    again = client.post("/demo/create", follow=True).content.decode()
    assert "already has a demo workspace" in again
    assert DemoWorkspace.objects.count() == 1


def test_members_may_try_but_not_create_or_remove(client, org_a, member_a):
    client.force_login(member_a)
    page = client.get("/demo/").content.decode()
    assert "Ask an owner or admin" in page
    refused = client.post("/demo/create", follow=True).content.decode()
    assert "Only owners and admins can create" in refused
    assert not DemoWorkspace.objects.exists()
    actions.create_demo_workspace(*org_a)
    page = client.get("/demo/").content.decode()
    assert "Close a case in Salesforce" in page and "Remove the demo" not in page
    refused = client.post("/demo/remove", follow=True).content.decode()
    assert "Only owners and admins can remove" in refused
    assert DemoWorkspace.objects.exists()


def test_an_admin_removes_the_demo(client, org_a, demo_a):
    client.force_login(org_a[1])
    removed = client.post("/demo/remove", follow=True)
    assert removed.redirect_chain[-1][0] == "/"
    assert "The demo workspace is removed" in removed.content.decode()
    assert not DemoWorkspace.objects.exists() and not ConnectedAccount.objects.exists()


def test_the_demo_account_is_labelled_and_its_writes_page_is_its_organizations(
    client, org_a, org_b, demo_a
):
    account = queries.demo_of(demo_a).account
    client.force_login(org_a[1])
    accounts = client.get("/extensions/salesforce/").content.decode()
    assert "Demo — writes are recorded here, not sent to Salesforce" in accounts
    assert f"/extensions/salesforce/{account.public_id}/demo-writes/" in accounts
    assert f"/extensions/salesforce/{account.public_id}/reconnect/" not in accounts
    writes = client.get(f"/extensions/salesforce/{account.public_id}/demo-writes/")
    assert writes.status_code == 200 and b"Nothing written yet" in writes.content
    client.force_login(org_b[1])
    assert client.get(f"/extensions/salesforce/{account.public_id}/demo-writes/").status_code == 404
    choices = client.get("/extensions/salesforce/").content.decode()
    assert 'value="demo"' not in choices  # nobody links a demo account by hand


@pytest.mark.django_db(transaction=True)
def test_a_member_closes_a_case_and_follows_the_step(
    client, settings, live_server, org_a, member_a
):
    settings.CLOSELOOP_BASE_URL = live_server.url
    workspace = actions.create_demo_workspace(*org_a)
    client.force_login(member_a)
    panel = client.post(
        "/demo/close-case", {"email": "sam.okafor@example.com"}, HTTP_HX_REQUEST="true"
    )
    assert panel.status_code == 200
    step = TryStep.objects.get()
    assert step.workspace == workspace and step.started_by == member_a
    html = panel.content.decode()
    assert f'id="step-{step.public_id}"' in html and 'hx-trigger="every 1s"' in html
    assert "POST " + live_server.url + "/inbound/salesforce/" in html
    assert "SOAPAction: &quot;&quot;" in html and "&lt;Ack&gt;true&lt;/Ack&gt;" in html
    assert "Waiting for a worker to run the workflow" in html
    again = client.get(f"/demo/steps/{step.public_id}")
    assert again.status_code == 200 and b"workflows/runs/WR_" in again.content
    page = client.get("/demo/").content.decode()
    assert f'id="step-{step.public_id}"' in page


def test_steps_of_another_organization_are_not_found(client, org_a, org_b, demo_a):
    organization, user = org_a
    step = TryStep.objects.create(
        organization=organization,
        workspace=demo_a,
        kind="salesforce",
        summary="s",
        url="http://x/",
        request_body="<x/>",
        dedup_key="salesforce:x",
    )
    actions.create_demo_workspace(*org_b)
    client.force_login(org_b[1])
    assert client.get(f"/demo/steps/{step.public_id}").status_code == 404
    assert step.public_id not in client.get("/demo/").content.decode()
    client.force_login(user)
    assert client.get(f"/demo/steps/{step.public_id}").status_code == 200


def test_without_a_demo_the_buttons_say_so(client, org_a):
    client.force_login(org_a[1])
    refused = client.post("/demo/close-case", follow=True).content.decode()
    assert "has no demo workspace" in refused
