"""The Try it steps end to end over real HTTP: a closed case and a Segment event reach the
demo workflows' receivers, the invitation lands in the outbox, the answer comes back as a
response, and the Salesforce task's write is recorded by the demo Salesforce org."""

from __future__ import annotations

import re

import pytest

from closeloop.demo import actions, queries
from closeloop.demo.tests.conftest import run_jobs
from closeloop.integrations.salesforce.demo_models import DemoRecord, DemoWrite
from closeloop.outbox.models import OutboxMessage
from closeloop.surveys.models import Response
from closeloop.workflows.models import RunStatus, WorkflowRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def served(settings, live_server):
    settings.CLOSELOOP_BASE_URL = live_server.url
    settings.EMAIL_BACKEND = "closeloop.outbox.backends.OutboxEmailBackend"  # as `make run`
    return live_server.url


def answer(client, url: str, score: str = "9", comment: str = "Quick and friendly") -> None:
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    page = client.get(path)
    assert page.status_code == 200
    finished = client.post(path, {"page": 0, "action": "next", "QID1": score, "QID2": comment})
    assert finished.status_code == 302, finished.content.decode()[:2000]


def test_a_closed_case_goes_round_the_loop_into_the_demo_salesforce_org(
    client, served, org_a, demo_a
):
    organization, user = org_a
    step = actions.close_a_case(organization, user, "maria.lopez@example.com")

    # The request is the outbound message Salesforce sends; the answer is its Ack.
    assert step.url.startswith(served + "/inbound/salesforce/")
    assert step.request_headers["SOAPAction"] == '""'
    assert "<sf:ContactEmail>maria.lopez@example.com</sf:ContactEmail>" in step.request_body
    assert step.response_status == 200, step.response_body
    assert "<Ack>true</Ack>" in step.response_body.replace(" ", "").replace("\n", "")
    demo = queries.demo_of(demo_a)
    case = DemoRecord.objects.get(account=demo.account, sobject="Case")
    assert case.values["IsClosed"] is True and case.values["CaseNumber"] == "00001027"
    progress = queries.progress_of(step, demo)
    assert progress.run.status == RunStatus.QUEUED and not progress.done
    assert progress.waiting_for == "a worker to run the workflow"

    run_jobs()
    progress = queries.progress_of(step, demo)
    assert progress.run.status == RunStatus.SUCCEEDED, [t.error for t in progress.task_runs]
    email = progress.email
    assert email is not None and email.recipients == "maria.lopez@example.com"
    assert email.subject == "How did we do on case 00001027?"
    assert progress.survey_url.startswith(served + "/jfe/l/")
    assert progress.waiting_for.startswith("an answer")

    answer(client, progress.survey_url)
    run_jobs()
    progress = queries.progress_of(step, demo)
    response = Response.objects.get()
    assert progress.response == response and response.embedded_data["CaseNumber"] == "00001027"
    assert progress.response_run.status == RunStatus.SUCCEEDED
    write = progress.salesforce_write
    assert progress.done and write is not None
    assert (write.operation, write.sobject, write.method) == (
        "upsert",
        "Survey_Response__c",
        "PATCH",
    )
    assert write.path == (
        f"/services/data/v66.0/sobjects/Survey_Response__c/Response_Id__c/{response.public_id}"
    )
    assert write.values["Case__c"] == case.record_id
    assert write.values["NPS__c"] == 9 and write.values["Comment__c"] == "Quick and friendly"
    assert write.values["Contact_Email__c"] == "maria.lopez@example.com"
    record = DemoRecord.objects.get(account=demo.account, record_id=write.record_id)
    assert record.values["Response_Id__c"] == response.public_id and write.created

    # Nothing left the machine: the write is a row here, nothing else was asked of Salesforce.
    assert DemoWrite.objects.count() == 1


def test_a_segment_event_is_signed_accepted_and_sends_the_survey(served, org_a, demo_a):
    organization, user = org_a
    step = actions.send_segment_event(organization, user, "li.wei@example.com")
    assert step.request_headers["Content-Type"] == "application/json"
    assert re.fullmatch(r"[0-9a-f]{40}", step.request_headers["X-Signature"])
    assert step.response_status == 202, step.response_body
    assert '"runId"' in step.response_body
    run_jobs()
    progress = queries.progress_of(step, queries.demo_of(demo_a))
    assert progress.run.status == RunStatus.SUCCEEDED, [t.error for t in progress.task_runs]
    assert progress.email.recipients == "li.wei@example.com"
    assert progress.email.subject == "How was getting started, Wei?"
    assert OutboxMessage.objects.count() == 1


def test_every_click_is_a_new_case_and_a_new_run(served, org_a, demo_a):
    organization, user = org_a
    first = actions.close_a_case(organization, user)
    second = actions.close_a_case(organization, user)
    assert first.dedup_key != second.dedup_key
    assert WorkflowRun.objects.count() == 2
    numbers = sorted(
        record.values["CaseNumber"] for record in DemoRecord.objects.filter(sobject="Case")
    )
    assert numbers == ["00001027", "00001028"]


def test_no_answer_is_shown_as_such(settings, org_a, demo_a):
    settings.CLOSELOOP_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    step = actions.close_a_case(*org_a)
    assert step.response_status is None and "No answer from" in step.error
    progress = queries.progress_of(step, queries.demo_of(demo_a))
    assert progress.done and progress.run is None
