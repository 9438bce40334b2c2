"""The whole loop with Salesforce: a closed case → survey email → response → Salesforce record.

The fake Salesforce sends case_closed.xml to the workflow's endpoint URL exactly as Salesforce
does; the workflow upserts the contact and emails the survey; the respondent answers on the
survey pages; the survey response workflow writes a Survey_Response__c linked to the Case.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail

import closeloop.distributions.jobs
import closeloop.surveys.jobs
import closeloop.workflows.jobs  # noqa: F401 - registers the job handlers
from closeloop.directory.models import Contact
from closeloop.integrations.salesforce.models import ConnectedAccount
from closeloop.integrations.salesforce.tests.test_accounts import link_account
from closeloop.integrations.salesforce.tests.test_receiver import CASE_FIELDS, FIXTURES
from closeloop.jobs.worker import Worker
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.definition import new_definition, new_question
from closeloop.surveys.models import Response
from closeloop.workflows import actions, lookup_cache
from closeloop.workflows.models import RunStatus, TaskRun, WorkflowRun

CASE_ID = "5005g00000dQz1XAAS"


def run_jobs() -> None:
    worker = Worker()
    for _ in range(50):
        if not worker.run_once():
            return


def feedback_survey(organization, owner):
    definition = new_definition("After your case")
    question = new_question("nps", "QID1")
    question["text"] = "${m://FirstName}, how likely are you to recommend us?"
    definition["blocks"][0]["elements"].append(question)
    definition["nextQuestion"] = 2
    definition["flow"].insert(
        0,
        {
            "type": "embedded_data",
            "fields": [
                {"name": "CaseId", "source": "contact", "value": ""},
                {"name": "CaseNumber", "source": "contact", "value": ""},
            ],
        },
    )
    survey = survey_actions.create_survey(organization, owner, "After your case", definition)
    survey_actions.publish(survey, owner)
    return survey


def case_workflow(organization, owner, account, survey):
    event = "~{ch://EV_case/"
    definition = {
        "name": "Survey closed cases",
        "event": {
            "id": "EV_case",
            "type": "salesforce_outbound",
            "config": {"account": account.public_id, "object": "Case", "fields": CASE_FIELDS},
        },
        "conditions": {
            "match": "all",
            "groups": [
                {"rules": [{"field": "Case.IsClosed", "operator": "equals", "value": "true"}]}
            ],
        },
        "tasks": [
            {
                "id": "TA_contact",
                "type": "xm_directory",
                "name": "Save the contact",
                "config": {
                    "mode": "embeddedData",
                    "contact": {
                        # An outbound message sends the Case's own fields: its web name here
                        # (a formula field such as Contact_First_Name__c in real set-ups).
                        "firstName": f"{event}Case.SuppliedName}}",
                        "lastName": "Customer",
                        "email": f"{event}Case.ContactEmail}}",
                    },
                    "embeddedData": [
                        {"name": "CaseNumber", "value": f"{event}Case.CaseNumber}}"},
                        {"name": "CaseId", "value": f"{event}Case.Id}}"},
                    ],
                },
            },
            {
                "id": "TA_invite",
                "type": "distribute_survey",
                "name": "Invite",
                "config": {
                    "survey": survey.public_id,
                    "contactId": "~{ch://TA_contact/contactId}",
                    "subject": "About case ${e://Field/CaseNumber}",
                    "body": "Hello ${m://FirstName}, tell us how we did: ${l://SurveyURL}",
                },
            },
        ],
    }
    return actions.create_workflow(organization, owner, definition)[0]


def response_workflow(organization, owner, account, survey):
    response = "~{ch://EV_response/"
    definition = {
        "name": "Responses to Salesforce",
        "survey": survey.public_id,
        "event": {"id": "EV_response", "type": "survey_response"},
        "tasks": [
            {
                "id": "TA_salesforce",
                "type": "salesforce",
                "name": "Survey response record",
                "config": {
                    "account": account.public_id,
                    "operation": "insert",
                    "object": "Survey_Response__c",
                    "fields": [
                        {"field": "Case__c", "value": f"{response}embeddedData.CaseId}}"},
                        {"field": "NPS__c", "value": f"{response}QID1}}"},
                        {"field": "Response_Id__c", "value": f"{response}responseId}}"},
                    ],
                },
            }
        ],
    }
    return actions.create_workflow(organization, owner, definition)[0]


def survey_path(message) -> str:
    url = re.search(r"https?://\S+/jfe/\S+", message.body).group(0)
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.mark.django_db(transaction=True)
def test_a_closed_case_comes_back_as_a_survey_response_in_salesforce(
    client, org_a, fake_salesforce, live_server, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    lookup_cache.forget_all()
    organization, owner = org_a
    client.force_login(owner)
    link_account(client, name="Support org")
    account = ConnectedAccount.objects.get()
    fake_salesforce.records["Case"] = {CASE_ID: {"Id": CASE_ID, "CaseNumber": "00001027"}}
    survey = feedback_survey(organization, owner)
    workflow = case_workflow(organization, owner, account, survey)
    response_workflow(organization, owner, account, survey)

    # Salesforce → Closeloop: one POST, answered with an Ack once stored.
    url = f"{live_server.url}/inbound/salesforce/{workflow.trigger_token}"
    replies = fake_salesforce.send_outbound_message(
        url, (FIXTURES / "case_closed.xml").read_bytes()
    )
    assert [reply[0] for reply in replies] == [200]
    assert b"<Ack>true</Ack>" in replies[0][2]

    # The workflow upserts the contact and sends the survey email.
    run_jobs()
    run = WorkflowRun.objects.get(workflow=workflow)
    assert run.status == RunStatus.SUCCEEDED, (
        run.error,
        list(TaskRun.objects.values("task_id", "error")),
    )
    contact = Contact.objects.get(email="maria.lopez@example.com")
    assert contact.embedded_data["CaseNumber"] == "00001027"
    assert contact.embedded_data["CaseId"] == CASE_ID
    (message,) = mail.outbox
    assert message.to == ["maria.lopez@example.com"]
    assert message.subject == "About case 00001027"
    assert message.body.startswith("Hello Maria Lopez, tell us how we did: http")

    # The respondent answers 9 on the survey page the link opens.
    path = survey_path(message)
    page = client.get(path)
    assert "Maria Lopez, how likely are you to recommend us?" in page.content.decode()
    finished = client.post(path, {"page": 0, "action": "next", "QID1": "9"})
    assert finished.status_code == 302 and finished["Location"].endswith("/done")
    response = Response.objects.get()
    assert response.finished and response.embedded_data["CaseId"] == CASE_ID

    # The survey response workflow writes the record, linked to the Case, into Salesforce.
    run_jobs()
    (record,) = fake_salesforce.records_of("Survey_Response__c")
    assert record["Case__c"] == CASE_ID
    assert record["NPS__c"] == 9
    assert record["Response_Id__c"] == response.public_id
    written = TaskRun.objects.get(task_id="TA_salesforce")
    assert written.output["id"] == record["Id"]

    # Salesforce delivers the same message again: acknowledged, no second run, no second email.
    replies = fake_salesforce.send_outbound_message(
        url, (FIXTURES / "case_closed.xml").read_bytes()
    )
    assert replies[0][0] == 200
    run_jobs()
    assert WorkflowRun.objects.filter(workflow=workflow).count() == 1
    assert len(mail.outbox) == 1
