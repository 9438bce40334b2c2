"""The Segment sources pages hold each user to the workflow permissions: a source shows the
workflows one may manage, a change to the whole source needs all of them, a workflow's
shared secret needs managing it, and a use case goes only on a survey whose workflows one
may manage. (The Salesforce task editor is in test_permissions_pages.)"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from closeloop.distributions.tests.conftest import make_survey
from closeloop.integrations.segment import actions as segment_actions
from closeloop.integrations.segment.models import Endpoint, Source, SourceWorkflow
from closeloop.surveys import actions as survey_actions
from closeloop.workflows.models import Workflow
from conftest import add_member

pytestmark = pytest.mark.django_db
REASON = "ask Ana Member (owner) for the Manage workflows permission"


@dataclass
class Segment:
    source: Source
    survey: object
    survey_workflow: Workflow  # the source's "workflow" use case, on Ana's survey
    org_workflow: Workflow  # its "contacts" use case, the admin's organization workflow
    users: dict

    @property
    def url(self) -> str:
        return f"/extensions/segment/{self.source.public_id}/"


@pytest.fixture
def segment(org_a, org_b) -> Segment:
    organization, admin = org_a
    users = {
        "org_admin": admin,
        "survey_owner": add_member(organization, "ana@acme.test"),
        "granted": add_member(organization, "bea@acme.test"),
        "other_permissions": add_member(organization, "cara@acme.test"),
        "not_shared": add_member(organization, "dan@acme.test"),
        "other_org": org_b[1],
    }
    ana = users["survey_owner"]
    survey = make_survey(organization, ana, name="Onboarding")
    # the "workflow" use case's task sends the survey: Bea may distribute it too
    survey_actions.share_survey(
        survey, ana, user=users["granted"], permissions=["manage_workflows", "distribute"]
    )
    survey_actions.share_survey(
        survey, ana, user=users["other_permissions"], permissions=["edit", "distribute"]
    )
    source = segment_actions.create_source(
        organization, admin, name="Web app", use_case_list=["contacts", "workflow"], survey=survey
    )
    links = {link.use_case: link.workflow for link in SourceWorkflow.objects.filter(source=source)}
    return Segment(source, survey, links["workflow"], links["contacts"], users)


SHOWN = {
    "org_admin": {"survey_workflow", "org_workflow"},
    "survey_owner": {"survey_workflow"},
    "granted": {"survey_workflow"},
    "other_permissions": set(),
    "not_shared": set(),
}


@pytest.mark.parametrize("role", list(SHOWN))
def test_a_source_shows_the_workflows_one_may_manage(client, segment: Segment, role: str):
    client.force_login(segment.users[role])
    page = client.get(segment.url).content.decode()
    for attribute in ("survey_workflow", "org_workflow"):
        shown = getattr(segment, attribute).trigger_token in page
        assert shown is (attribute in SHOWN[role]), (role, attribute)
    listing = client.get("/extensions/segment/").content.decode()
    assert f"<td>{len(SHOWN[role])}</td>" in listing


def test_another_organization_does_not_see_the_source(client, segment: Segment):
    client.force_login(segment.users["other_org"])
    assert client.get(segment.url).status_code == 404
    assert "Web app" not in client.get("/extensions/segment/").content.decode()


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("org_admin", 302),
        ("granted", 403),
        ("not_shared", 403),
        ("other_org", 404),
    ],
)
def test_the_whole_source_needs_every_one_of_its_workflows(client, segment, role, status):
    client.force_login(segment.users[role])
    secret = client.post(segment.url + "secret", {"secret": "s3cret-from-segment"})
    delete_page = client.get(segment.url + "delete")
    deleted = client.post(segment.url + "delete")
    if status == 302:
        assert (secret.status_code, delete_page.status_code) == (302, 200)
        assert deleted.status_code == 302 and not Source.objects.exists()
        return
    assert {secret.status_code, delete_page.status_code, deleted.status_code} == {status}
    if status == 403:
        assert "workflow(s) you can" in deleted.content.decode()
    assert Source.objects.filter(pk=segment.source.pk).exists()
    assert Workflow.objects.count() == 2


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("survey_owner", 302),
        ("org_admin", 302),
        ("granted", 302),
        ("other_permissions", 403),
        ("not_shared", 404),
        ("other_org", 404),
    ],
)
def test_a_workflows_shared_secret_needs_managing_it(client, segment, role, status):
    client.force_login(segment.users[role])
    url = f"/extensions/segment/workflows/{segment.survey_workflow.public_id}/secret"
    response = client.post(url, {"secret": "s3cret-from-segment"})
    assert response.status_code == status
    if status == 403:
        assert REASON in response.content.decode()
    secrets = Endpoint.objects.filter(workflow=segment.survey_workflow).exclude(secret_encrypted="")
    assert secrets.exists() is (status == 302)


@pytest.mark.parametrize(
    ("role", "added"),
    [("granted", True), ("org_admin", True), ("other_permissions", False), ("not_shared", False)],
)
def test_a_use_case_goes_only_on_a_survey_whose_workflows_one_manages(client, segment, role, added):
    client.force_login(segment.users[role])
    offered = segment.survey.public_id in client.get("/extensions/segment/").content.decode()
    assert offered is added
    response = client.post(
        segment.url + "use-cases",
        {
            "use_cases": ["workflow"],
            "workflow_event": "Trial Ended",
            "survey": segment.survey.public_id,
        },
    )
    assert response.status_code == (302 if added else 400)
    assert Workflow.objects.filter(name__contains="Trial Ended").exists() is added
