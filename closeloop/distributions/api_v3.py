"""/API/v3 distributions subset (Qualtrics wire format).

    POST /distributions                      create (message by libraryId+messageId or
                                             messageText; recipients by mailingListId, contactId
                                             or transactionBatchId; header; surveyLink; sendDate)
    GET  /distributions?surveyId=SV_…        list with stats
    GET  /distributions/{id}                 one, with stats
    GET  /distributions/{id}/history         per-contact history (paged)
    GET  /distributions/{id}/links           individual links (made for every recipient)
    POST /distributions/{id}/reminders       {message, header, sendDate, recipientFilter}
    POST /distributions/{id}/thankyous       same
    POST /distributions/sms                  SMS invitation (method Invite) or two-way SMS
                                             survey (method Interactive); message, recipients,
                                             surveyId, sendDate, embeddedData

Both POSTs that create a distribution honour an Idempotency-Key header: the same key and body
within 24 hours answer with the first distribution (nothing is sent again); the same key with
another body is a 409 (REQ_06). Keys are per organization.

Permissions (closeloop.distributions.permissions), for the token's user: creating a
distribution, a reminder or a thank-you, and generating individual links need Distribute on
the survey; reading distributions and their history needs Distribute or View results. A survey
the user does not see is answered like one that does not exist (404); one they see but may not
do this with is a 403 (AUTH_04) whose errorMessage says whom to ask.

Register with `api.add_router("", distributions_v3_router)` in closeloop/api/v3.py.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.utils.dateparse import parse_datetime
from ninja import Router, Schema

from closeloop.api import idempotency, qualtrics
from closeloop.api.auth import token_of
from closeloop.api.errors import Conflict, InvalidRequest, NotFound
from closeloop.directory import queries as directory_queries
from closeloop.distributions import actions, permissions, queries
from closeloop.distributions.models import Distribution, Kind
from closeloop.surveys.queries import survey_of

router = Router(tags=["Distributions"])

PAGE_SIZE = 100


class Header(Schema):
    fromEmail: str = ""
    fromName: str = ""
    replyToEmail: str = ""
    subject: str = ""


class MessageIn(Schema):
    libraryId: str = ""
    messageId: str = ""
    messageText: str = ""


class Recipients(Schema):
    mailingListId: str = ""
    contactId: str = ""
    transactionBatchId: str = ""


class SurveyLinkIn(Schema):
    surveyId: str
    type: str = "Individual"
    expirationDate: str | None = None


class CreateDistribution(Schema):
    message: MessageIn
    recipients: Recipients
    header: Header
    surveyLink: SurveyLinkIn
    sendDate: str | None = None
    embeddedData: dict[str, str] | None = None


class FollowUp(Schema):
    message: MessageIn
    header: Header = Header()
    sendDate: str | None = None
    recipientFilter: str = ""


class Created(Schema):
    id: str


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise InvalidRequest(
            f"Invalid {name}: use ISO 8601 with a time zone (2026-01-31T09:00:00Z)."
        )
    return parsed


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _message(request, message: MessageIn) -> dict:
    organization, user = token_of(request).organization, token_of(request).user
    if message.messageId:
        found = queries.message_of(organization, message.messageId, user)
        if found is None:
            raise NotFound(f"Invalid messageId: {message.messageId}")
        return {"message": found}
    if message.messageText:
        return {"html_body": message.messageText}
    raise InvalidRequest("Give message.messageId (with libraryId) or message.messageText.")


def _distribution(request, distribution_id: str, *, distributing: bool = False) -> Distribution:
    """The distribution, if the token's user may see it (`distributing`: may distribute its
    survey); the same 404 for one that does not exist and one they do not see."""
    found = queries.distribution_of(token_of(request).organization, distribution_id)
    check = permissions.require_distributing if distributing else permissions.require_seeing
    check(
        found.survey if found else None,
        token_of(request).user,
        missing=f"Invalid distributionId: {distribution_id}",
    )
    return found


def _survey(request, survey_id: str, *, distributing: bool):
    """The survey, if the token's user may distribute it (`distributing`) or see its
    distributions."""
    survey = survey_of(token_of(request).organization, survey_id)
    check = permissions.require_distributing if distributing else permissions.require_seeing
    check(survey, token_of(request).user, missing=f"Invalid surveyId: {survey_id}")
    return survey


def _element(distribution: Distribution, stats: dict) -> dict:
    return {
        "id": distribution.public_id,
        "parentDistributionId": distribution.parent.public_id if distribution.parent else None,
        "ownerId": distribution.owner.public_id if distribution.owner else None,
        "organizationId": distribution.organization.brand_id,
        "requestType": distribution.kind.capitalize()
        if distribution.kind != "thankyou"
        else "ThankYou",
        "requestStatus": {"scheduled": "Pending", "sending": "InProgress", "done": "Done"}.get(
            distribution.status, "Failed"
        ),
        "sendDate": _iso(distribution.send_at),
        "createdDate": _iso(distribution.created_at),
        "modifiedDate": _iso(distribution.finished_at or distribution.created_at),
        "channel": distribution.channel,
        "message": {
            "messageId": distribution.library_message.public_id
            if distribution.library_message
            else None,
            "messageText": distribution.text_body or distribution.html_body,
        },
        "headers": {
            "fromEmail": distribution.from_email or actions.default_sender()[1],
            "replyToEmail": distribution.reply_to,
            "fromName": distribution.from_name,
            "subject": distribution.subject,
        },
        "recipients": {
            "mailingListId": distribution.mailing_list.public_id
            if distribution.mailing_list
            else None,
            "contactId": distribution.contact.public_id if distribution.contact else None,
        },
        "surveyLink": {
            "surveyId": distribution.survey.public_id,
            "expirationDate": _iso(distribution.link_expires_at),
            "linkType": distribution.link_type,
        },
        "stats": {
            "sent": stats["sent"],
            "failed": stats["failed"],
            "started": stats["started"],
            "bounced": stats["bounced"],
            "opened": stats["opened"],
            "skipped": stats["skipped"],
            "finished": stats["finished"],
            "complaints": stats["complaints"],
            "blocked": stats["blocked"],
        },
    }


def _list_or_contact(organization, recipients: Recipients) -> dict:
    """The mailing list and/or contact a new distribution names, as keyword arguments."""
    found: dict = {}
    if recipients.mailingListId:
        found["mailing_list"] = directory_queries.mailing_list(
            organization, recipients.mailingListId
        )
        if found["mailing_list"] is None:
            raise NotFound(f"Invalid mailingListId: {recipients.mailingListId}")
    if recipients.contactId:
        found["contact"] = directory_queries.contact(organization, recipients.contactId)
        if found["contact"] is None:
            raise NotFound(f"Invalid contactId: {recipients.contactId}")
    return found


IDEMPOTENCY_PARAMETER = {
    "parameters": [
        {
            "in": "header",
            "name": idempotency.HEADER,
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_LENGTH},
            "description": (
                "Any 1 to 255 printable ASCII characters, new for each distribution (a UUID). "
                "The same key and body within 24 hours answer with the first distribution; "
                "the same key with another body is a 409."
            ),
        }
    ]
}


def _idempotency(request, operation: str) -> tuple[str, str] | None:
    """(key, request fingerprint) when the request carries an Idempotency-Key."""
    key = idempotency.idempotency_key(request)
    if key is None:
        return None
    return key, idempotency.request_fingerprint(request, operation)


def _replay(request, once: tuple[str, str] | None) -> dict | None:
    """The answer to a request sent again with its Idempotency-Key: the first distribution."""
    if once is None:
        return None
    try:
        found = actions.distribution_for_key(token_of(request).organization, *once)
    except actions.IdempotencyConflict as error:
        raise Conflict(str(error)) from None
    return qualtrics.ok({"id": found.public_id}, request=request) if found else None


def _create(request, survey, once: tuple[str, str] | None, **arguments) -> Distribution:
    organization = token_of(request).organization
    try:
        if once is None:
            return actions.create_distribution(organization, survey, **arguments)
        distribution, _created = actions.create_distribution_once(
            organization, survey, idempotency_key=once[0], request_hash=once[1], **arguments
        )
        return distribution
    except actions.IdempotencyConflict as error:
        raise Conflict(str(error)) from None
    except actions.DistributionError as error:
        raise InvalidRequest(str(error)) from None


@router.post(
    "/distributions",
    response=qualtrics.responses(Created, 403, 404, 409),
    summary="Create",
    openapi_extra=IDEMPOTENCY_PARAMETER,
)
def create_distribution(request, body: CreateDistribution):
    organization = token_of(request).organization
    # Before a replay too: a key does not answer for a survey the user may not distribute.
    survey = _survey(request, body.surveyLink.surveyId, distributing=True)
    once = _idempotency(request, "distributions")
    replayed = _replay(request, once)
    if replayed is not None:
        return replayed
    recipients = _list_or_contact(organization, body.recipients)
    if body.recipients.transactionBatchId:
        found = directory_queries.transaction_batch(
            organization, body.recipients.transactionBatchId
        )
        if found is None:
            raise NotFound(f"Invalid transactionBatchId: {body.recipients.transactionBatchId}")
        recipients["transaction_batch"] = found
    distribution = _create(
        request,
        survey,
        once,
        owner=token_of(request).user,
        link_type=body.surveyLink.type,
        link_expires_at=_date(body.surveyLink.expirationDate, "surveyLink.expirationDate"),
        subject=body.header.subject,
        from_name=body.header.fromName,
        from_email=body.header.fromEmail,
        reply_to=body.header.replyToEmail,
        send_at=_date(body.sendDate, "sendDate"),
        embedded_data=body.embeddedData,
        **recipients,
        **_message(request, body.message),
    )
    return qualtrics.ok({"id": distribution.public_id}, request=request)


class CreateSmsDistribution(Schema):
    method: str = "Invite"
    surveyId: str
    message: MessageIn = MessageIn()
    recipients: Recipients
    sendDate: str | None = None
    name: str = ""
    embeddedData: dict[str, str] | None = None


SMS_METHODS = {"Invite": "sms", "Interactive": "sms2way"}


@router.post(
    "/distributions/sms",
    response=qualtrics.responses(Created, 403, 404, 409),
    summary="Create SMS",
    openapi_extra=IDEMPOTENCY_PARAMETER,
)
def create_sms_distribution(request, body: CreateSmsDistribution):
    organization = token_of(request).organization
    if body.method not in SMS_METHODS:
        raise InvalidRequest("method must be Invite (SMS invitation) or Interactive (two-way).")
    survey = _survey(request, body.surveyId, distributing=True)
    once = _idempotency(request, "distributions/sms")
    replayed = _replay(request, once)
    if replayed is not None:
        return replayed
    recipients = _list_or_contact(organization, body.recipients)
    message: dict = {}
    if body.message.messageId:
        message = _message(request, body.message)
        message["text_body"] = message["message"].text_body
    elif body.message.messageText:
        message = {"text_body": body.message.messageText}
    elif body.method == "Invite":
        raise InvalidRequest("Give message.messageText or message.messageId.")
    distribution = _create(
        request,
        survey,
        once,
        owner=token_of(request).user,
        channel=SMS_METHODS[body.method],
        send_at=_date(body.sendDate, "sendDate"),
        embedded_data=body.embeddedData,
        **recipients,
        **message,
    )
    return qualtrics.ok({"id": distribution.public_id}, request=request)


@router.get("/distributions", summary="List distributions of a survey")
def list_distributions(request, surveyId: str, skipToken: str | None = None):
    organization = token_of(request).organization
    survey = _survey(request, surveyId, distributing=False)
    position = qualtrics.decode_skip_token(skipToken)
    user = token_of(request).user
    found = queries.with_stats(queries.distributions_seen_by(organization, user, survey=survey))
    page = list(found[position : position + PAGE_SIZE + 1])
    following = None
    if len(page) > PAGE_SIZE:
        page = page[:PAGE_SIZE]
        following = qualtrics.next_page_url(request, position + PAGE_SIZE, surveyId=surveyId)
    elements = [
        _element(item, {name: getattr(item, f"stat_{name}") for name in queries.STATS})
        for item in page
    ]
    return qualtrics.ok({"elements": elements, "nextPage": following}, request=request)


@router.get("/distributions/{distributionId}", summary="Get distribution")
def get_distribution(request, distributionId: str):
    distribution = _distribution(request, distributionId)
    return qualtrics.ok(_element(distribution, queries.stats_of(distribution)), request=request)


@router.get("/distributions/{distributionId}/history", summary="Distribution history")
def history(request: HttpRequest, distributionId: str, skipToken: str | None = None):
    distribution = _distribution(request, distributionId)
    actions.sync_survey_progress(distribution)
    position = qualtrics.decode_skip_token(skipToken)
    page = list(queries.deliveries_of(distribution)[position : position + PAGE_SIZE + 1])
    following = None
    if len(page) > PAGE_SIZE:
        page = page[:PAGE_SIZE]
        following = qualtrics.next_page_url(request, position + PAGE_SIZE)
    elements = [
        {
            "contactId": d.contact.public_id,
            "contactLookupId": None,
            "distributionId": distribution.public_id,
            "status": d.status,
            "statusReason": d.reason or None,
            "surveyLink": None,
            "contactFrequencyRuleId": None,
            "responseId": d.response_id or None,
            "responseCompletedAt": _iso(d.finished_at),
            "sentAt": _iso(d.sent_at),
            "emailAddress": d.email,
            "firstName": d.contact.first_name,
            "lastName": d.contact.last_name,
            "externalDataReference": d.contact.ext_ref,
            "surveySessionId": None,
            # Closeloop additions for SMS distributions (Qualtrics has no such fields).
            "phoneNumber": d.phone or None,
            "smsSegments": d.segments or None,
            "smsCost": d.price or None,
        }
        for d in page
    ]
    return qualtrics.ok({"elements": elements, "nextPage": following}, request=request)


@router.get("/distributions/{distributionId}/links", summary="Generated individual links")
def links(request, distributionId: str, skipToken: str | None = None):
    # Links let anyone answer as the contacts: handing them out is distributing the survey.
    distribution = _distribution(request, distributionId, distributing=True)
    position = qualtrics.decode_skip_token(skipToken)
    deliveries = list(queries.deliveries_of(distribution)[position : position + PAGE_SIZE + 1])
    following = None
    if len(deliveries) > PAGE_SIZE:
        deliveries = deliveries[:PAGE_SIZE]
        following = qualtrics.next_page_url(request, position + PAGE_SIZE)
    try:
        made = actions.links_for(distribution, deliveries)
    except actions.DistributionError as error:
        raise InvalidRequest(str(error)) from None
    elements = [
        {
            "contactId": d.contact.public_id,
            "link": url,
            "exceededContactFrequency": False,
            "linkExpiration": _iso(d.link.expires_at) if d.link else None,
            "status": d.status,
            "lastName": d.contact.last_name,
            "firstName": d.contact.first_name,
            "externalDataReference": d.contact.ext_ref,
            "email": d.email,
            "unsubscribed": d.contact.unsubscribed,
        }
        for d, url in made
    ]
    return qualtrics.ok({"elements": elements, "nextPage": following}, request=request)


def _followup(request, distributionId: str, body: FollowUp, kind: str):
    parent = _distribution(request, distributionId, distributing=True)
    try:
        followup = actions.create_followup(
            parent,
            kind,
            owner=token_of(request).user,
            recipient_filter=body.recipientFilter,
            subject=body.header.subject,
            from_name=body.header.fromName,
            from_email=body.header.fromEmail,
            reply_to=body.header.replyToEmail,
            send_at=_date(body.sendDate, "sendDate"),
            **_message(request, body.message),
        )
    except actions.DistributionError as error:
        raise InvalidRequest(str(error)) from None
    return qualtrics.ok({"distributionId": followup.public_id}, request=request)


@router.post("/distributions/{distributionId}/reminders", summary="Create a reminder")
def reminders(request, distributionId: str, body: FollowUp):
    return _followup(request, distributionId, body, Kind.REMINDER)


@router.post("/distributions/{distributionId}/thankyous", summary="Create a thank-you")
def thankyous(request, distributionId: str, body: FollowUp):
    return _followup(request, distributionId, body, Kind.THANK_YOU)
