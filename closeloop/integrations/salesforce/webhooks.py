"""The Salesforce outbound-message receiver: POST /inbound/salesforce/<trigger token>.

Salesforce cannot send credentials of ours with an outbound message, so the URL's token (288
random bits) is the secret, and the message must also come from the Salesforce org of the
workflow's linked account and be about the configured object. Every notification is stored
as a run, deduplicated on its id, in one transaction; only then does the answer say Ack.
A message that cannot be accepted gets a SOAP 1.1 Fault and stores nothing: soapenv:Client
with HTTP 400 (or 404, 405, 413, 415) for bad input, soapenv:Server with HTTP 500 when it could
not be stored, so that Salesforce delivers it again.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from closeloop.api.base import read_body
from closeloop.api.errors import ApiError, PayloadTooLarge
from closeloop.integrations.salesforce import event, outbound, queries
from closeloop.integrations.salesforce.outbound import OutboundMessageError
from closeloop.workflows import actions, lookup_cache
from closeloop.workflows import queries as workflow_queries

log = logging.getLogger("closeloop.salesforce")

# 100 notifications of a few dozen fields fit in well under a megabyte; long text fields
# (a Case Description holds 32 KB) can make a message several.
MAX_BODY_BYTES = 5 * 1024 * 1024
XML_MEDIA_TYPES = ("text/xml", "application/xml", "application/soap+xml")


class Refused(Exception):
    """A message this endpoint will not accept: answered with a soapenv:Client fault."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def soap_response(body: bytes, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")


def client_fault(message: str, status: int = 400) -> HttpResponse:
    return soap_response(outbound.fault_response("Client", message), status)


def _endpoint(token: str):
    """(workflow, Salesforce org id of its linked account or None), briefly cached."""
    key = ("salesforce-outbound", token)
    found = lookup_cache.triggers.get(key)
    if found is None:
        workflow = workflow_queries.workflow_at_url(token, event.KEY)
        if workflow is None:
            raise Refused("No Salesforce outbound-message workflow has this endpoint URL.", 404)
        account = queries.account_in(
            workflow.organization, workflow.event_config.get("account", "")
        )
        found = (workflow, account.salesforce_organization_id if account else None)
        lookup_cache.triggers.put(key, found)
    return found


def _body(request: HttpRequest) -> bytes:
    media_type = request.META.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if media_type not in XML_MEDIA_TYPES:
        raise Refused(
            f"The Content-Type is {media_type or 'none'}; outbound messages are SOAP, text/xml.",
            415,
        )
    too_large = f"The message is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB."
    try:
        return read_body(request, MAX_BODY_BYTES, PayloadTooLarge(too_large))
    except ApiError as error:  # answered as a SOAP Fault, with the same status
        raise Refused(error.message, error.status) from None


def _checked_message(body: bytes, workflow, organization_id: str | None):
    try:
        message = outbound.parse_outbound_message(body)
    except OutboundMessageError as error:
        raise Refused(str(error)) from None
    if organization_id is None:
        raise Refused(
            "The workflow has no linked Salesforce account (none chosen yet, or it was "
            "removed): choose one in the workflow's event."
        )
    if not outbound.same_salesforce_id(message.organization_id, organization_id):
        raise Refused(
            f"The message comes from Salesforce org {message.organization_id}, but this "
            f"workflow listens to org {organization_id} (its linked account)."
        )
    wanted = (workflow.event_config.get("object") or "").lower()
    for notification in message.notifications:
        if notification.sobject_type.lower() != wanted:
            raise Refused(
                f"Notification {notification.id} is about a {notification.sobject_type}; this "
                f"workflow listens for {workflow.event_config.get('object')} messages."
            )
    return message


@csrf_exempt
def outbound_message(request: HttpRequest, token: str) -> HttpResponse:
    if request.method != "POST":
        response = client_fault("Salesforce sends outbound messages with POST.", 405)
        response["Allow"] = "POST"
        return response
    try:
        workflow, organization_id = _endpoint(token)
        body = _body(request)
        message = _checked_message(body, workflow, organization_id)
        events = [
            event.notification_event(message, notification, workflow.event_config)
            for notification in message.notifications
        ]
    except Refused as refused:
        return client_fault(str(refused), refused.status)
    except OutboundMessageError as error:
        return client_fault(str(error))
    try:
        listening = workflow.capture_until is not None and workflow.capture_until > timezone.now()
        if listening and actions.capture_event(workflow, body.decode("utf-8", "replace")):
            return soap_response(outbound.ack_response())
        created = actions.start_runs(workflow, events, source="salesforce")
    except DatabaseError:
        log.exception("outbound message for workflow %s not stored", workflow.public_id)
        fault = outbound.fault_response(
            "Server", "The message could not be stored; deliver it again."
        )
        return soap_response(fault, 500)
    log.info(
        "outbound message for %s: %d notifications, %d new",
        workflow.public_id,
        len(events),
        created,
    )
    return soap_response(outbound.ack_response())
