"""The Segment pages: sources and their recent events, the event's editor (URL, shared secret,
field mapping from a sample), each organization seeing only its own."""

from __future__ import annotations

import json

import pytest

from closeloop.distributions.tests.helpers import run_jobs
from closeloop.integrations.segment import actions
from closeloop.integrations.segment.models import Endpoint, Source, UseCase
from closeloop.integrations.segment.tests.conftest import (
    SECRET,
    post,
    sample,
    segment_workflow,
    url_of,
)
from closeloop.workflows import lookup_cache
from closeloop.workflows.models import Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, org_a):
    client.force_login(org_a[1])
    return client


def test_the_extensions_card_links_to_the_sources(signed_in):
    page = signed_in.get("/extensions/").content.decode()
    assert "not built yet" not in page
    assert 'href="/extensions/segment/"' in page


def test_create_a_source_from_the_page(signed_in, org_a, survey_a):
    response = signed_in.post(
        "/extensions/segment/new",
        {
            "name": "Web app",
            "use_cases": ["contacts", "transactions", "workflow"],
            "transaction_event": "Order Completed",
            "workflow_event": "Onboarding Tour Completed",
            "survey": survey_a.public_id,
            "secret": SECRET,
        },
    )
    source = Source.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/extensions/segment/{source.public_id}/"
    workflows = {link.use_case: link.workflow for link in source.links.all()}
    assert set(workflows) == {"contacts", "transactions", "workflow"}
    rules = workflows["transactions"].conditions["groups"][0]["rules"]
    assert [rule["value"] for rule in rules] == ["track", "Order Completed"]
    assert Endpoint.objects.exclude(secret_encrypted="").count() == 3
    page = signed_in.get(response["Location"]).content.decode()
    for workflow in workflows.values():
        assert workflow.trigger_token in page and workflow.name in page
    assert "Event Type is Identify" in page
    assert "Event Name is <em>Order Completed</em>" in page
    assert "3 of 3 workflow(s) check" in page


def test_the_form_explains_what_is_missing(signed_in):
    response = signed_in.post("/extensions/segment/new", {"name": "", "use_cases": ["workflow"]})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Choose the survey the started workflow sends." in page
    assert not Source.objects.exists() and not Workflow.objects.exists()


def test_the_source_page_shows_each_event_what_each_use_case_did_and_errors(
    signed_in, client, org_a
):
    organization, user = org_a
    source = actions.create_source(
        organization, user, name="Web app", use_case_list=["contacts", "transactions"]
    )
    lookup_cache.forget_all()
    links = list(source.links.all())
    for link in links:
        post(client, url_of(link.workflow), sample("webhooks_actions_batch.json"))
    no_person = {"type": "identify", "messageId": "m-no-person", "anonymousId": "a-1"}
    post(client, url_of(links[0].workflow), json.dumps(no_person))
    post(client, url_of(links[1].workflow), b"{not json")
    run_jobs()
    page = signed_in.get(f"/extensions/segment/{source.public_id}/").content.decode()
    assert page.count("jane.doe@example.com") >= 1 and "li.wei@example.com" in page
    assert "Onboarding Tour Completed" in page
    assert "Succeeded" in page and "Skipped" in page and "Failed" in page
    assert "no email, phone or userId" in page  # the failed run's error
    assert "Refused deliveries" in page and "HTTP 400" in page and "not valid JSON" in page
    assert "not sent here" in page  # the event only the contacts workflow got


def test_each_organization_sees_only_its_own_sources(signed_in, org_a, org_b):
    mine = actions.create_source(*org_a, name="Acme web", use_case_list=["contacts"])
    theirs = actions.create_source(*org_b, name="Globex app", use_case_list=["contacts"])
    page = signed_in.get("/extensions/segment/").content.decode()
    assert "Acme web" in page and "Globex app" not in page
    assert signed_in.get(f"/extensions/segment/{theirs.public_id}/").status_code == 404
    for action in ("secret", "use-cases", "delete"):
        response = signed_in.post(f"/extensions/segment/{theirs.public_id}/{action}", {})
        assert response.status_code == 404
    their_workflow = theirs.links.get().workflow
    response = signed_in.post(
        f"/extensions/segment/workflows/{their_workflow.public_id}/secret", {"secret": "x"}
    )
    assert response.status_code == 404
    assert not Endpoint.objects.filter(workflow=their_workflow).exists()
    assert signed_in.get(f"/extensions/segment/{mine.public_id}/").status_code == 200


def test_add_a_use_case_and_set_the_secret_on_a_source(signed_in, org_a, survey_a):
    source = actions.create_source(*org_a, name="Web app", use_case_list=["contacts"])
    url = f"/extensions/segment/{source.public_id}/"
    response = signed_in.post(
        url + "use-cases",
        {"use_cases": ["workflow"], "workflow_event": "Trial Ended", "survey": survey_a.public_id},
    )
    assert response.status_code == 302
    workflow = source.links.get(use_case=UseCase.WORKFLOW).workflow
    assert workflow.name == "Web app: Trial Ended survey"
    assert signed_in.post(url + "secret", {"secret": SECRET}).status_code == 302
    assert Endpoint.objects.exclude(secret_encrypted="").count() == 2
    assert signed_in.post(url + "secret", {"action": "remove"}).status_code == 302
    assert not Endpoint.objects.exclude(secret_encrypted="").exists()
    assert signed_in.post(url + "secret", {"secret": "a\tb"}).status_code == 400


def test_deleting_a_source_deletes_its_workflows(signed_in, org_a):
    source = actions.create_source(*org_a, name="Web app", use_case_list=["contacts"])
    url = f"/extensions/segment/{source.public_id}/delete"
    assert "Delete the source Web app?" in signed_in.get(url).content.decode()
    assert signed_in.post(url).status_code == 302
    assert not Source.objects.exists() and not Workflow.objects.exists()


def test_the_create_page_offers_the_segment_event(signed_in):
    page = signed_in.get("/workflows/new").content.decode()
    assert 'value="segment"' in page and "Twilio Segment" in page


def test_the_event_editor_shows_the_url_the_secret_and_the_guide(signed_in, org_a):
    workflow = segment_workflow(*org_a)
    page = signed_in.get(f"/workflows/{workflow.public_id}/").content.decode()
    assert f"/inbound/segment/{workflow.trigger_token}" in page
    assert 'data-copy="trigger-url"' in page
    assert "Connections → Destinations → Add destination" in page
    assert "Start a workflow" in page
    assert 'value="$.context.traits.email"' in page  # a preset field
    assert "Not checked" in page


def test_set_and_remove_the_secret_of_a_workflow(signed_in, client, org_a):
    workflow = segment_workflow(*org_a)
    url = f"/extensions/segment/workflows/{workflow.public_id}/secret"
    response = signed_in.post(url, {"secret": SECRET})
    assert response["Location"] == f"/workflows/{workflow.public_id}/#section-event"
    stored = Endpoint.objects.get(workflow=workflow)
    assert stored.secret_encrypted and SECRET not in stored.secret_encrypted
    page = signed_in.get(f"/workflows/{workflow.public_id}/").content.decode()
    assert "Signature checked" in page and SECRET not in page
    assert post(client, url_of(workflow), sample("identify_compact.json")).status_code == 401
    page = signed_in.get(f"/workflows/{workflow.public_id}/").content.decode()
    assert "Last refused delivery" in page and "HTTP 401" in page
    signed_in.post(url, {"action": "remove"})
    assert post(client, url_of(workflow), sample("identify_compact.json")).status_code == 202


def test_map_fields_from_a_pasted_sample(signed_in, org_a):
    workflow = segment_workflow(*org_a)
    response = signed_in.post(
        f"/workflows/{workflow.public_id}/event",
        {"action": "map-sample", "sample": sample("track_transaction_created.json").decode()},
    )
    assert response.status_code == 302, response.content
    workflow.refresh_from_db()
    rows = {row["name"]: row for row in workflow.event_config["fields"]}
    assert rows["properties.total"] == {
        "name": "properties.total",
        "path": "$.properties.total",
        "type": "Number",
    }
    assert rows["properties.first_purchase"]["type"] == "Boolean"
    assert rows["context.traits.email"]["type"] == "String"  # the preset stays
    assert not any(name.startswith(("integrations", "context.library")) for name in rows)
    assert "version" not in rows
    assert workflow.sample_payload.startswith("{")
    # A batch works too: what each of its events has.
    signed_in.post(
        f"/workflows/{workflow.public_id}/event",
        {"action": "map-sample", "sample": sample("webhooks_actions_batch.json").decode()},
    )
    workflow.refresh_from_db()
    names = {row["name"] for row in workflow.event_config["fields"]}
    assert {"traits.plan", "properties.tour", "properties.total"} <= names
    response = signed_in.post(
        f"/workflows/{workflow.public_id}/event", {"action": "map-sample", "sample": "[1, 2]"}
    )
    assert "Event 1 of the batch is not a JSON object" in response.content.decode()
