"""Every write of the demo: creating and removing an organization's demo workspace, and the
Try it page's steps (a case closed in the demo Salesforce org, a Segment event).

create_demo_workspace makes, as the admin who asks:

- a directory *Demo directory* with a mailing list and three contacts (each also a Contact in
  the demo Salesforce org, whose id is the contact's external data reference);
- the published survey *Support CSAT* (an NPS question, a comment, embedded data CaseNumber
  and CaseId);
- a linked Salesforce account of the demo org (writes are recorded locally, not sent), shared
  with the organization;
- three workflows on the survey: *Closed case → survey* (Salesforce outbound message for a
  Case with IsClosed = true → upsert the contact → email invitation), *Onboarding completed →
  survey* (a Segment track event → upsert → email) and *Response → Salesforce* (survey
  response → upsert a Survey_Response__c in the demo org).

Every row is listed as a DemoItem; remove_demo_workspace deletes those and nothing else.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from closeloop.demo import messages, transport
from closeloop.demo.models import DemoItem, DemoWorkspace, ItemKind, StepKind, TryStep
from closeloop.directory import actions as directory_actions
from closeloop.directory.models import Contact, Directory, MailingList
from closeloop.distributions.models import Delivery
from closeloop.integrations.salesforce import actions as salesforce_actions
from closeloop.integrations.salesforce import demo_backend
from closeloop.integrations.salesforce import event as salesforce_event
from closeloop.integrations.salesforce.models import ConnectedAccount
from closeloop.integrations.segment import actions as segment_actions
from closeloop.integrations.segment import queries as segment_queries
from closeloop.integrations.segment import spec as segment_spec
from closeloop.outbox.models import OutboxMessage
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.definition import new_definition, new_question
from closeloop.surveys.models import Survey
from closeloop.workflows import actions as workflow_actions
from closeloop.workflows import lookup_cache
from closeloop.workflows.models import Workflow, new_event_id, new_task_id

log = logging.getLogger("closeloop.demo")

SURVEY_NAME = "Support CSAT"
DIRECTORY_NAME = "Demo directory"
LIST_NAME = "Demo: support customers"
ACCOUNT_NAME = "Demo Salesforce"
USER_AGENT = "Closeloop Try it (playing {})"


@dataclass(frozen=True)
class DemoPerson:
    first_name: str
    last_name: str
    email: str
    user_id: str  # their id in the product Segment tracks
    subject: str  # the case they opened


PEOPLE = (
    DemoPerson(
        "Maria",
        "Lopez",
        "maria.lopez@example.com",
        "user_48213",
        "Router keeps dropping the connection",
    ),
    DemoPerson(
        "Wei", "Li", "li.wei@example.com", "user_59034", "Cannot export the monthly invoice"
    ),
    DemoPerson(
        "Sam",
        "Okafor",
        "sam.okafor@example.com",
        "user_60177",
        "Password reset email never arrives",
    ),
)
CASE_FIELDS = [
    {"name": "CaseNumber", "type": "String"},
    {"name": "ClosedDate", "type": "DateTime"},
    {"name": "ContactEmail", "type": "String"},
    {"name": "ContactId", "type": "String"},
    {"name": "Contact_First_Name__c", "type": "String"},
    {"name": "Contact_Last_Name__c", "type": "String"},
    {"name": "IsClosed", "type": "Boolean"},
    {"name": "Priority", "type": "String"},
    {"name": "Subject", "type": "String"},
]
FIRST_CASE_NUMBER = 1027


class DemoError(ValueError):
    """The demo cannot do what was asked; the message says why."""


class DemoExists(DemoError):
    pass


# Creating ------------------------------------------------------------------------------------


def _item(workspace, kind: str, role: str, obj, label: str) -> DemoItem:
    return DemoItem.objects.create(
        workspace=workspace,
        kind=kind,
        role=role,
        object_id=obj.pk,
        public_id=getattr(obj, "public_id", "") or "",
        label=label[:200],
    )


def _survey(organization, user) -> Survey:
    definition = new_definition(SURVEY_NAME)
    nps = new_question("nps", "QID1")
    nps["text"] = "${m://FirstName}, how likely are you to recommend our support to a friend?"
    nps["required"] = True
    comment = new_question("text", "QID2")
    comment.update(text="What could we have done better?", multiline=True)
    definition["blocks"][0]["elements"] += [nps, comment]
    definition["nextQuestion"] = 3
    definition["flow"].insert(
        0,
        {
            "type": "embedded_data",
            "fields": [
                {"name": "CaseNumber", "source": "contact", "value": ""},
                {"name": "CaseId", "source": "contact", "value": ""},
            ],
        },
    )
    survey = survey_actions.create_survey(organization, user, SURVEY_NAME, definition)
    survey_actions.publish(survey, user)
    return survey


def _contact_task(task_id: str, directory, mailing_list, contact: dict, embedded: dict) -> dict:
    """The XM Directory task upserting the event's contact into the demo list."""
    return {
        "id": task_id,
        "type": "xm_directory",
        "name": "Upsert the contact",
        "config": {
            "directory": directory.public_id,
            "mailingList": mailing_list.public_id,
            "mode": "embeddedData",
            "contact": contact,
            "embeddedData": [{"name": name, "value": value} for name, value in embedded.items()],
        },
    }


def _invitation(survey: Survey, contact_task: str, subject: str, opening: str) -> dict:
    return {
        "id": new_task_id(),
        "type": "distribute_survey",
        "name": "Email the survey",
        "config": {
            "survey": survey.public_id,
            "channel": "email",
            "contactId": f"~{{ch://{contact_task}/contactId}}",
            "subject": subject,
            "body": (
                f"Hello ${{m://FirstName}},\n\n{opening}\n\nTake the survey: ${{l://SurveyURL}}"
                "\n\n${l://OptOutLink?d=Unsubscribe}"
            ),
            "fromName": "Closeloop demo",
        },
    }


def _case_workflow(organization, user, survey, account, directory, mailing_list) -> Workflow:
    event_id, contact_task = new_event_id(), new_task_id()
    case = f"~{{ch://{event_id}/Case."
    definition = {
        "name": "Demo: closed case → survey",
        "survey": survey.public_id,
        "event": {
            "id": event_id,
            "type": salesforce_event.KEY,
            "config": {"account": account.public_id, "object": "Case", "fields": CASE_FIELDS},
        },
        "conditions": {
            "match": "all",
            "groups": [
                {"rules": [{"field": "Case.IsClosed", "operator": "equals", "value": "true"}]}
            ],
        },
        "tasks": [
            _contact_task(
                contact_task,
                directory,
                mailing_list,
                {
                    "firstName": f"{case}Contact_First_Name__c}}",
                    "lastName": f"{case}Contact_Last_Name__c}}",
                    "email": f"{case}ContactEmail}}",
                    "extRef": f"{case}ContactId}}",
                },
                {"CaseNumber": f"{case}CaseNumber}}", "CaseId": f"{case}Id}}"},
            ),
            _invitation(
                survey,
                contact_task,
                "How did we do on case ${e://Field/CaseNumber}?",
                "Your support case ${e://Field/CaseNumber} is closed. How did we do?",
            ),
        ],
    }
    return workflow_actions.create_workflow(organization, user, definition)[0]


def _segment_workflow(organization, user, survey, directory, mailing_list) -> Workflow:
    event_id, contact_task = new_event_id(), new_task_id()
    traits = f"~{{ch://{event_id}/context.traits."
    definition = {
        "name": "Demo: onboarding completed → survey",
        "survey": survey.public_id,
        "event": {
            "id": event_id,
            "type": segment_queries.EVENT_KEY,
            "config": {"fields": segment_spec.preset_rows()},
        },
        "conditions": {
            "match": "all",
            "groups": [
                {
                    "rules": [
                        {"field": "type", "operator": "equals", "value": "track"},
                        {
                            "field": "event",
                            "operator": "equals",
                            "value": messages.ONBOARDING_EVENT,
                        },
                    ]
                }
            ],
        },
        "tasks": [
            _contact_task(
                contact_task,
                directory,
                mailing_list,
                {
                    "firstName": f"{traits}firstName}}",
                    "lastName": f"{traits}lastName}}",
                    "email": f"{traits}email}}",
                },
                {"SegmentUserId": f"~{{ch://{event_id}/userId}}"},
            ),
            _invitation(
                survey,
                contact_task,
                "How was getting started, ${m://FirstName}?",
                "You finished the onboarding tour. How easy was it to get going?",
            ),
        ],
    }
    workflow = workflow_actions.create_workflow(organization, user, definition)[0]
    segment_actions.set_secret(workflow, "demo-" + secrets.token_urlsafe(18))
    return workflow


def _response_workflow(organization, user, survey, account) -> Workflow:
    event_id = new_event_id()
    answer = f"~{{ch://{event_id}/"
    definition = {
        "name": "Demo: response → Salesforce",
        "survey": survey.public_id,
        "event": {"id": event_id, "type": "survey_response"},
        "tasks": [
            {
                "id": new_task_id(),
                "type": "salesforce",
                "name": "Upsert the Survey Response",
                "config": {
                    "account": account.public_id,
                    "operation": "upsert",
                    "object": "Survey_Response__c",
                    "externalIdField": "Response_Id__c",
                    "externalId": f"{answer}responseId}}",
                    "fields": [
                        {"field": "Case__c", "value": f"{answer}embeddedData.CaseId}}"},
                        {"field": "Case_Number__c", "value": f"{answer}embeddedData.CaseNumber}}"},
                        {"field": "Contact_Email__c", "value": f"{answer}contact.email}}"},
                        {"field": "NPS__c", "value": f"{answer}QID1}}"},
                        {"field": "Comment__c", "value": f"{answer}QID2}}"},
                    ],
                },
            }
        ],
    }
    return workflow_actions.create_workflow(organization, user, definition)[0]


def _account_name(user) -> str:
    taken = set(ConnectedAccount.objects.filter(owner=user).values_list("name", flat=True))
    name, number = ACCOUNT_NAME, 1
    while name in taken:
        number += 1
        name = f"{ACCOUNT_NAME} {number}"
    return name


def create_demo_workspace(organization, user) -> DemoWorkspace:
    """The demo workspace of the organization, made as `user` (who owns its survey and
    workflows). An organization has one: asking again raises DemoExists."""
    if DemoWorkspace.objects.filter(organization=organization).exists():
        raise DemoExists(
            f"{organization.name} already has a demo workspace: use Try it, or remove the demo "
            "first to make it again."
        )
    try:
        with transaction.atomic():
            workspace = DemoWorkspace.objects.create(
                organization=organization,
                created_by=user,
                action_id=messages.salesforce_id("04k"),
            )
            directory = directory_actions.create_directory(organization, DIRECTORY_NAME)
            _item(workspace, ItemKind.DIRECTORY, "directory", directory, directory.name)
            mailing_list = directory_actions.create_mailing_list(directory, LIST_NAME, owner=user)
            _item(workspace, ItemKind.MAILING_LIST, "mailing_list", mailing_list, LIST_NAME)
            account = demo_backend.link_demo_account(organization, user, _account_name(user))
            _item(workspace, ItemKind.SALESFORCE_ACCOUNT, "account", account, account.name)
            for person in PEOPLE:
                salesforce_contact = demo_backend.put_record(
                    account,
                    "Contact",
                    {
                        "FirstName": person.first_name,
                        "LastName": person.last_name,
                        "Email": person.email,
                    },
                    demo_backend.new_record_id("Contact"),
                )
                contact, _created = directory_actions.upsert_contact(
                    directory,
                    {
                        "firstName": person.first_name,
                        "lastName": person.last_name,
                        "email": person.email,
                        "extRef": salesforce_contact.record_id,
                    },
                    {"SegmentUserId": person.user_id},
                    mailing_list=mailing_list,
                    actor=user,
                )
                label = f"{person.first_name} {person.last_name}"
                _item(workspace, ItemKind.CONTACT, "contact", contact, label)
            survey = _survey(organization, user)
            _item(workspace, ItemKind.SURVEY, "survey", survey, survey.name)
            made = [
                (
                    "case_workflow",
                    _case_workflow(organization, user, survey, account, directory, mailing_list),
                ),
                (
                    "segment_workflow",
                    _segment_workflow(organization, user, survey, directory, mailing_list),
                ),
                ("response_workflow", _response_workflow(organization, user, survey, account)),
            ]
            for role, workflow in made:
                _item(workspace, ItemKind.WORKFLOW, role, workflow, workflow.name)
    except IntegrityError:  # another admin made it at the same moment
        if DemoWorkspace.objects.filter(organization=organization).exists():
            raise DemoExists(f"{organization.name} already has a demo workspace.") from None
        raise
    log.info("demo workspace created in %s by %s", organization.pk, getattr(user, "pk", user))
    return workspace


# Removing ------------------------------------------------------------------------------------


def _remove_item(item: DemoItem, organization, user) -> bool:
    """Delete the row the item names, if it is still there (the user may have deleted it)."""
    if item.kind == ItemKind.WORKFLOW:
        workflow = Workflow.objects.filter(organization=organization, pk=item.object_id).first()
        if workflow is not None:
            workflow_actions.delete_workflow(workflow, user)
        return workflow is not None
    if item.kind == ItemKind.SURVEY:
        survey = Survey.objects.filter(organization=organization, pk=item.object_id).first()
        if survey is None:
            return False
        sent = Delivery.objects.filter(organization=organization, distribution__survey=survey)
        message_ids = list(sent.exclude(message_id="").values_list("message_id", flat=True))
        OutboxMessage.objects.filter(organization=organization, message_id__in=message_ids).delete()
        survey_actions.delete_survey(survey)
        return True
    if item.kind == ItemKind.SALESFORCE_ACCOUNT:
        account = ConnectedAccount.objects.filter(organization=organization, pk=item.object_id)
        account = account.first()
        if account is not None:
            salesforce_actions.remove(account, user)
        return account is not None
    if item.kind == ItemKind.CONTACT:
        contact = Contact.objects.filter(organization=organization, pk=item.object_id).first()
        if contact is not None:
            directory_actions.delete_contact(contact, actor=user)
        return contact is not None
    if item.kind == ItemKind.MAILING_LIST:
        found = MailingList.objects.filter(organization=organization, pk=item.object_id).first()
        if found is not None:
            directory_actions.delete_mailing_list(found)
        return found is not None
    if item.kind == ItemKind.DIRECTORY:
        deleted, _rows = Directory.objects.filter(
            organization=organization, pk=item.object_id
        ).delete()
        return bool(deleted)
    return False


def remove_demo_workspace(organization, user=None) -> int:
    """Delete everything the demo made (its runs, responses and invitations go with its
    workflows and survey; the contacts its workflows wrote with its directory), and the
    workspace. Returns how many of the demo's items were still there."""
    workspace = DemoWorkspace.objects.filter(organization=organization).first()
    if workspace is None:
        raise DemoError(f"{organization.name} has no demo workspace.")
    removed = 0
    with transaction.atomic():
        for item in reversed(list(workspace.items.all())):
            removed += _remove_item(item, organization, user)
        workspace.delete()
        transaction.on_commit(lookup_cache.forget_all)
    log.info("demo workspace of %s removed (%d items)", organization.pk, removed)
    return removed


# Try it --------------------------------------------------------------------------------------


def _workspace(organization) -> DemoWorkspace:
    workspace = DemoWorkspace.objects.filter(organization=organization).first()
    if workspace is None:
        raise DemoError("This organization has no demo workspace: an admin can create one.")
    return workspace


def _demo_row(workspace: DemoWorkspace, role: str, model, what: str):
    item = workspace.items.filter(role=role).first()
    found = None
    if item is not None:
        found = model.objects.filter(organization=workspace.organization, pk=item.object_id).first()
    if found is None:
        raise DemoError(
            f"The demo's {what} was deleted: remove the demo workspace and create it again."
        )
    return found


def _person(workspace: DemoWorkspace, email: str) -> DemoPerson:
    for person in PEOPLE:
        if person.email == email:
            return person
    if email:
        raise DemoError(f"{email} is not one of the demo's contacts.")
    return PEOPLE[0]


def _send(step: TryStep, body: bytes) -> TryStep:
    answer = transport.post(step.url, body, step.request_headers)
    step.response_status = answer.status
    step.response_headers = answer.headers
    step.response_body = messages.pretty(answer.body, answer.headers.get("Content-Type", ""))
    step.error = answer.error
    step.save(update_fields=["response_status", "response_headers", "response_body", "error"])
    return step


def _base_url() -> str:
    return settings.CLOSELOOP_BASE_URL.rstrip("/")


def close_a_case(organization, user, email: str = "") -> TryStep:
    """Close a case in the demo Salesforce org and POST the outbound message its Flow sends,
    as Salesforce does, to the demo workflow's endpoint URL."""
    workspace = _workspace(organization)
    person = _person(workspace, email)
    account = _demo_row(workspace, "account", ConnectedAccount, "Salesforce account")
    workflow = _demo_row(workspace, "case_workflow", Workflow, "Salesforce workflow")
    contact = demo_backend.find_record(account, "Contact", "Email", person.email)
    cases = demo_backend.count_records(account, "Case")
    case_id = demo_backend.new_record_id("Case")
    fields = messages.closed_case_fields(
        case_id=case_id,
        case_number=f"{FIRST_CASE_NUMBER + cases:08d}",
        contact_id=contact.record_id if contact is not None else "",
        email=person.email,
        first_name=person.first_name,
        last_name=person.last_name,
        subject=person.subject,
        closed_at=timezone.now(),
        priority="High",
        origin="Phone",
    )
    record_fields = {**fields, "IsClosed": True}
    demo_backend.put_record(account, "Case", record_fields, case_id)
    notification = messages.Notification(messages.salesforce_id("04l"), "Case", fields)
    org = messages.Org(account.salesforce_organization_id, workspace.action_id)
    body = messages.outbound_message(org, [notification])
    path = reverse("salesforce-inbound:outbound", args=[workflow.trigger_token])
    step = TryStep.objects.create(
        organization=organization,
        workspace=workspace,
        kind=StepKind.SALESFORCE,
        started_by=user,
        summary=f"Case {fields['CaseNumber']} of {person.first_name} {person.last_name} closed",
        person=person.email,
        url=_base_url() + path,
        request_headers={
            **messages.OUTBOUND_HEADERS,
            "User-Agent": USER_AGENT.format("Salesforce"),
        },
        request_body=body.decode("utf-8"),
        dedup_key=salesforce_event.dedup_key(notification.id),
    )
    return _send(step, body)


def send_segment_event(organization, user, email: str = "") -> TryStep:
    """POST the track call Segment's Webhooks (Actions) destination sends when the person
    finishes the onboarding tour, signed with the demo workflow's shared secret."""
    workspace = _workspace(organization)
    person = _person(workspace, email)
    workflow = _demo_row(workspace, "segment_workflow", Workflow, "Segment workflow")
    event = messages.track_event(
        messages.Person(person.user_id, person.email, person.first_name, person.last_name),
        sent_at=timezone.now(),
    )
    body = messages.segment_body(event)
    headers = {**messages.SEGMENT_HEADERS, "User-Agent": USER_AGENT.format("Segment")}
    secret = segment_queries.secret_of(workflow)
    if isinstance(secret, str):
        headers["X-Signature"] = messages.segment_signature(secret, body)
    step = TryStep.objects.create(
        organization=organization,
        workspace=workspace,
        kind=StepKind.SEGMENT,
        started_by=user,
        summary=f"{person.first_name} {person.last_name} completed the onboarding tour",
        person=person.email,
        url=_base_url() + reverse("segment-inbound:event", args=[workflow.trigger_token]),
        request_headers=headers,
        request_body=body.decode("utf-8"),
        dedup_key=f"segment:{event['messageId']}",
    )
    return _send(step, body)
