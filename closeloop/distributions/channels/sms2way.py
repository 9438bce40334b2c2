"""Two-way SMS surveys: the survey asked over SMS, one question per message.

Only three question types can be asked this way: multiple choice with a single answer (the
choices numbered 1, 2, …; the reply is the number), NPS (a reply from 0 to 10) and text entry
(any reply). A distribution of a survey with other questions is refused when it is created.

It is sent by the SMS channel's send path (channels/sms.py) with the steps of TwoWay below.

The invitation (the distribution's message text, then the first question) opens an SmsSession
for the recipient's number and starts a surveys Response (with the survey's embedded data, via
closeloop.surveys.actions). Each inbound message from that number answers the question asked
last: an invalid answer gets a validation reply and the question again; a valid one is saved
and the next displayed question is asked, until the response is recorded as finished and the
survey's end message is sent. A session with no reply for CLOSELOOP_SMS_SESSION_HOURS (default
24) expires: the response is closed as partial and the delivery shows SessionExpired.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from closeloop import piping
from closeloop.distributions.channels import sms
from closeloop.distributions.checks import DistributionError
from closeloop.distributions.models import (
    Delivery,
    DeliveryStatus,
    Distribution,
    Kind,
    SmsSession,
    SmsSessionStatus,
)
from closeloop.surveys import logic
from closeloop.surveys.actions import (
    contact_fields,
    record_response,
    report_invitation_progress,
    require_active,
    resolve_embedded_data,
    start_response,
)

INTRO = "${m://FirstName}, please answer a few questions by text. Reply STOP to opt out."
DONE = "Thank you! Your answers were recorded."
EXPIRED = "Sorry, this survey has expired."


def session_hours() -> float:
    return float(getattr(settings, "CLOSELOOP_SMS_SESSION_HOURS", 24))


def questions_of(definition: dict) -> list[dict]:
    return [
        element
        for block in definition.get("blocks", [])
        for element in block.get("elements", [])
        if element.get("type") != "page_break"
    ]


def unsupported(definition: dict) -> list[str]:
    """Why each question cannot be asked by SMS (empty: all can)."""
    reasons = []
    for question in questions_of(definition):
        qid, qtype = question.get("id"), question.get("type")
        if qtype == "mc":
            if question.get("multiple"):
                reasons.append(f"{qid} is a multiple choice question with several answers")
            elif any(choice.get("textEntry") for choice in question.get("choices", [])):
                reasons.append(f"{qid} has a choice with text entry")
        elif qtype not in ("nps", "text"):
            reasons.append(f"{qid} is a {qtype} question")
    return reasons


def check_survey(survey) -> None:
    reasons = unsupported(require_active(survey).definition)
    if reasons:
        raise DistributionError(
            "A two-way SMS survey can ask only multiple choice (single answer), NPS and text "
            "entry questions: " + "; ".join(reasons) + "."
        )


def _render(text: str, contact, embedded: dict) -> str:
    context = {"m": contact_fields(contact), "e": embedded}
    return piping.render(text or "", context, escape_html=False)


def next_question(definition: dict, after: str, answers: dict, embedded: dict) -> dict | None:
    questions = questions_of(definition)
    by_id = {question["id"]: question for question in questions}
    start = 0
    if after:
        start = next((n + 1 for n, q in enumerate(questions) if q["id"] == after), len(questions))
    for question in questions[start:]:
        if logic.is_displayed(question, answers, embedded, by_id):
            return question
    return None


def format_question(question: dict, contact, embedded: dict) -> str:
    text = _render(question.get("text", ""), contact, embedded).strip()
    if question["type"] == "mc":
        lines = [text] + [
            f"{number}. {_render(choice['text'], contact, embedded)}"
            for number, choice in enumerate(question["choices"], 1)
        ]
        lines.append("Reply with the number of your choice.")
        return "\n".join(lines)
    if question["type"] == "nps":
        return f"{text} Reply with a number from 0 to 10."
    if not question.get("required"):
        return f"{text} (Reply SKIP to skip.)"
    return text


def first_message(distribution: Distribution, delivery: Delivery, context: dict) -> str:
    """The invitation: the message text, then the first question."""
    definition = require_active(distribution.survey).definition
    embedded = resolve_embedded_data(definition, contact=delivery.contact)
    intro = piping.render(distribution.text_body or INTRO, context, escape_html=False).strip()
    question = next_question(definition, "", {}, embedded)
    if question is None:
        return intro
    return intro + "\n\n" + format_question(question, delivery.contact, embedded)


def session_for_reminder(distribution: Distribution, delivery: Delivery) -> SmsSession | None:
    """The open session a reminder of this two-way distribution nudges, if any."""
    return SmsSession.objects.filter(
        delivery__distribution_id=distribution.parent_id,
        delivery__contact_id=delivery.contact_id,
        status=SmsSessionStatus.OPEN,
        expires_at__gt=timezone.now(),
    ).first()


def reminder_message(distribution: Distribution, delivery: Delivery, context: dict) -> str:
    """A reminder: its text, then the question still waiting for an answer."""
    text = piping.render(distribution.text_body, context, escape_html=False).strip()
    session = session_for_reminder(distribution, delivery)
    if session is None or session.response is None:
        return text
    definition = session.response.version.definition
    question = next((q for q in questions_of(definition) if q["id"] == session.question_id), None)
    if question is None:
        return text
    return (
        text + "\n\n" + format_question(question, delivery.contact, session.response.embedded_data)
    )


def open_session(distribution: Distribution, delivery: Delivery, now) -> SmsSession:
    """After the invitation was sent (inside the recording transaction)."""
    version = require_active(distribution.survey)
    response = start_response(
        distribution.survey,
        version,
        contact=delivery.contact,
        metadata={"channel": "sms", "distribution": distribution.public_id},
    )
    response.delivery_id = delivery.public_id
    response.save(update_fields=["delivery_id"])
    question = next_question(version.definition, "", {}, response.embedded_data)
    session = SmsSession.objects.create(
        organization_id=distribution.organization_id,
        delivery=delivery,
        phone=delivery.phone,
        response=response,
        question_id=question["id"] if question else "",
        expires_at=now + timedelta(hours=session_hours()),
        created_at=now,
        updated_at=now,
    )
    report_invitation_progress(delivery.public_id, "started", response.public_id)
    return session


class TwoWay(sms.Steps):
    """The two-way survey's part in the SMS send path: an invitation needs the number free of
    open sessions, carries the first question and opens the session; a reminder needs the
    recipient's session still open and repeats the pending question; a thank-you is plain."""

    def conflict(self, distribution: Distribution, delivery: Delivery) -> str:
        if distribution.kind == Kind.THANK_YOU:
            return ""
        phone = delivery.contact.phone_e164
        if distribution.kind == Kind.INVITE:
            if has_open_session(distribution.organization_id, phone):
                return "A two-way SMS survey is already open with this number."
            return ""
        if session_for_reminder(distribution, delivery) is None:
            return "The two-way SMS session is no longer open."
        return ""

    def body(self, distribution: Distribution, delivery: Delivery, context: dict) -> str:
        if distribution.kind == Kind.INVITE:
            return first_message(distribution, delivery, context)
        if distribution.kind == Kind.REMINDER:
            return reminder_message(distribution, delivery, context)
        return super().body(distribution, delivery, context)

    def sent(self, distribution: Distribution, delivery: Delivery, now) -> None:
        if distribution.kind == Kind.INVITE:
            open_session(distribution, delivery, now)


TWO_WAY = TwoWay()


def send_chunk(distribution: Distribution, chunk, claim: str) -> dict:
    """The SMS send path (channels.sms.send_chunk) with the two-way survey's steps."""
    return sms.send_chunk(distribution, chunk, claim, TWO_WAY)


def has_open_session(organization_id: int, phone: str) -> bool:
    return SmsSession.objects.filter(
        organization_id=organization_id,
        phone=phone,
        status=SmsSessionStatus.OPEN,
        expires_at__gt=timezone.now(),
    ).exists()


def expire(session: SmsSession, now) -> None:
    session.status = SmsSessionStatus.EXPIRED
    session.updated_at = now
    session.save(update_fields=["status", "updated_at"])
    response = session.response
    if response is not None and response.finished_at is None:
        record_response(response, now, finished=False)
    Delivery.objects.filter(pk=session.delivery_id).update(
        status=DeliveryStatus.SESSION_EXPIRED, updated_at=now
    )


def expire_due(now=None) -> int:
    """Expire every open session past its time (a recurring job)."""
    now = now or timezone.now()
    count = 0
    due = SmsSession.objects.filter(status=SmsSessionStatus.OPEN, expires_at__lte=now)
    for session_id in due.values_list("id", flat=True)[:500]:
        with transaction.atomic():
            session = (
                SmsSession.objects.select_for_update(of=("self",))
                .select_related("response__version", "response__survey")
                .filter(pk=session_id, status=SmsSessionStatus.OPEN)
                .first()
            )
            if session is not None:
                expire(session, now)
                count += 1
    return count


def close_for_stop(organization, phone: str) -> int:
    """STOP from a number ends its open session (the response is kept as partial)."""
    now = timezone.now()
    closed = 0
    with transaction.atomic():
        sessions = (
            SmsSession.objects.select_for_update(of=("self",))
            .select_related("response__version", "response__survey")
            .filter(organization=organization, phone=phone, status=SmsSessionStatus.OPEN)
        )
        for session in sessions:
            expire(session, now)
            Delivery.objects.filter(pk=session.delivery_id).update(
                reason="The respondent replied STOP."
            )
            closed += 1
    return closed


def _parse(question: dict, body: str):
    """(value, error) for a reply to the question."""
    text = (body or "").strip()
    qid = question["id"]
    if question["type"] == "text" and text.upper() == "SKIP" and not question.get("required"):
        return None, ""
    if question["type"] == "mc":
        choices = question["choices"]
        if not (text.isdigit() and 1 <= int(text) <= len(choices)):
            return None, f"Please reply with a number from 1 to {len(choices)}."
        text = choices[int(text) - 1]["id"]
    parsed = logic.parse_answer(question, lambda name: [text] if name == qid and text else [])
    if parsed.error:
        return None, parsed.error
    if parsed.value is None and question.get("required"):
        return None, "Please answer this question."
    return parsed.value, ""


def answer(organization, phone: str, body: str) -> str | None:
    """Apply an inbound reply to the number's open session; the reply to send, or None when
    the number has no session."""
    now = timezone.now()
    with transaction.atomic():
        session = (
            SmsSession.objects.select_for_update(of=("self",))
            .select_related("response__version", "response__survey", "delivery__contact")
            .filter(organization=organization, phone=phone)
            .exclude(status=SmsSessionStatus.FINISHED)
            .order_by("-created_at", "-id")
            .first()
        )
        if session is None:
            return None
        if session.status == SmsSessionStatus.EXPIRED:
            return EXPIRED
        if session.expires_at <= now:
            expire(session, now)
            return EXPIRED
        response = session.response
        contact = session.delivery.contact
        definition = response.version.definition
        question = next(
            (q for q in questions_of(definition) if q["id"] == session.question_id), None
        )
        if question is None:
            return None
        value, error = _parse(question, body)
        if error:
            return error + "\n" + format_question(question, contact, response.embedded_data)
        if value is not None:
            response.answers = {**response.answers, question["id"]: value}
        response.last_activity_at = now
        following = next_question(
            definition, question["id"], response.answers, response.embedded_data
        )
        session.updated_at = now
        session.expires_at = now + timedelta(hours=session_hours())
        if following is None:
            record_response(response, now, finished=True)
            session.status = SmsSessionStatus.FINISHED
            session.question_id = ""
            session.save(update_fields=["status", "question_id", "updated_at", "expires_at"])
            end = (definition.get("end") or {}).get("message") or DONE
            return _render(end, contact, response.embedded_data).strip() or DONE
        response.save(update_fields=["answers", "last_activity_at"])
        session.question_id = following["id"]
        session.save(update_fields=["question_id", "updated_at", "expires_at"])
        return format_question(following, contact, response.embedded_data)
