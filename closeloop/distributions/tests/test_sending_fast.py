"""The fast email path: the template compiled once per distribution and the MIME bytes written
directly must give exactly the message the previous renderer (piping.render on the whole
templates, then Django's EmailMultiAlternatives) gave; and sending stays batched."""

from __future__ import annotations

import email
import html
import re
from email import policy

import pytest
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import strip_tags

from closeloop import piping
from closeloop.directory import actions as directory_actions
from closeloop.distributions import actions, sending
from closeloop.distributions.channels.email_message import EmailTemplate, Recipient, default_sender
from closeloop.distributions.core import tracking_token
from closeloop.distributions.models import Delivery, DeliveryStatus
from closeloop.distributions.tests import helpers
from closeloop.distributions.tests.conftest import make_list
from closeloop.outbox.backends import ORGANIZATION_HEADER

pytestmark = pytest.mark.django_db

HOSTILE_NAME = '<script>alert("x")</script> Ève & ${m://LastName}'
HTML_BODY = (
    "<p>Hello ${m://FirstName} ${m://LastName} from ${e://Field/Store},</p>"
    "<p>${l://SurveyLink?d=Take the survey}</p><p>${l://OptOutLink?d=Unsubscribe}</p>"
    "<p>${e://Field/Missing}${date://CurrentDate/Y}</p>"
)
TEXT_BODY = "Hello ${m://FirstName},\n\nTake the survey: ${l://SurveyURL}\r\nBye ${l://OptOutURL}"


def previous_message(distribution, recipient: Recipient) -> EmailMultiAlternatives:
    """The message as the previous renderer built it (kept here as the reference)."""
    name, address = default_sender()
    from_address = distribution.from_email or address
    context = {
        "m": recipient.fields,
        "e": {**recipient.embedded, **(distribution.embedded_data or {})},
        "l": {
            "SurveyLink": recipient.survey_url,
            "SurveyURL": recipient.survey_url,
            "OptOutLink": recipient.opt_out_url,
            "OptOutURL": recipient.opt_out_url,
        },
    }
    subject = " ".join(piping.render(distribution.subject, context, escape_html=False).split())
    if distribution.html_body:
        html_body = piping.render(distribution.html_body, context, escape_html=True)
    else:
        text = piping.render(distribution.text_body, context, escape_html=True, escape_text=True)
        html_body = "<p>" + text.replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"
    if distribution.text_body:
        text_body = piping.render(distribution.text_body, context, escape_html=False)
    else:
        text_body = html.unescape(
            strip_tags(piping.render(distribution.html_body, context, escape_html=False))
        )
    base = settings.CLOSELOOP_BASE_URL.rstrip("/")
    pixel = base + reverse("tracking:open", args=[recipient.tracking_token])
    html_body += f'<img src="{html.escape(pixel)}" width="1" height="1" alt="">'
    unsubscribe = base + reverse("tracking:unsubscribe", args=[recipient.tracking_token])
    domain = from_address.rsplit("@", 1)[-1]
    message = EmailMultiAlternatives(
        subject=subject,
        body=text_body,
        from_email=email.utils.formataddr((distribution.from_name or name, from_address)),
        to=[recipient.email],
        reply_to=[distribution.reply_to] if distribution.reply_to else [],
        headers={
            "Message-ID": f"<{recipient.public_id}.{distribution.public_id}@{domain}>",
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            ORGANIZATION_HEADER: str(distribution.organization_id),
            "X-Closeloop-Distribution": distribution.public_id,
        },
    )
    message.attach_alternative(html_body, "text/html")
    return message


def comparable(data: bytes) -> bytes:
    """The bytes with the random MIME boundary and the Date header made constant."""
    boundary = re.search(rb'boundary="([^"]+)"', data).group(1)
    data = data.replace(boundary, b"BOUNDARY")
    return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: DATE\r\n", data).rstrip(b"\r\n")


def recipient(**overrides) -> Recipient:
    values = {
        "public_id": "EMDD_abcdefghijklmno",
        "email": "ann@example.com",
        "fields": {"FirstName": "Ann", "LastName": "Lee", "Email": "ann@example.com"},
        "embedded": {"Store": "Store 7"},
        "survey_url": "http://testserver/jfe/l/tok_EN-123/",
        "opt_out_url": "http://testserver/directory/opt-out/abc:def/",
        "tracking_token": tracking_token("EMDD_abcdefghijklmno"),
    }
    values.update(overrides)
    return Recipient(**values)


def distribution_with(org_a, survey_a, **kwargs):
    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 1)
    kwargs.setdefault("subject", "Your feedback, ${m://FirstName}")
    kwargs.setdefault("html_body", HTML_BODY)
    kwargs.setdefault("text_body", TEXT_BODY)
    return actions.create_distribution(
        organization, survey_a, owner=user, mailing_list=mailing_list, **kwargs
    )


def assert_same_message(distribution, person: Recipient) -> bytes:
    template = EmailTemplate(distribution, default_sender())
    fast = template.as_bytes(template.render(person))
    previous = previous_message(distribution, person).message().as_bytes(linesep="\r\n")
    assert comparable(fast) == comparable(previous)
    return fast


CASES = {
    "ascii": {},
    "hostile values": {
        "fields": {"FirstName": HOSTILE_NAME, "LastName": "O'Brien <b>"},
        "embedded": {"Store": "Zürich ${m://FirstName} </p><a href='javascript:x'>"},
    },
    "non-ascii address and names": {
        "email": "anna@bücher.example",
        "fields": {"FirstName": "Émile\u2028Zoë", "LastName": "Łukasz"},
    },
    "long subject and lines": {
        "fields": {"FirstName": "Ann " + "very-long-name " * 20, "LastName": "x" * 1200},
    },
    "line breaks in values": {"fields": {"FirstName": "Ann\r\nBcc: evil@example.com\n."}},
}


@pytest.mark.parametrize("case", CASES)
def test_fast_message_is_byte_for_byte_the_previous_one(org_a, survey_a, case):
    distribution = distribution_with(
        org_a,
        survey_a,
        subject="${m://FirstName}, how was ${e://Field/Store}?",
        from_name="Åsa at Acme",
        reply_to="support@example.com",
    )
    assert_same_message(distribution, recipient(**CASES[case]))


@pytest.mark.parametrize(
    "bodies",
    [{"html_body": ""}, {"text_body": ""}, {"html_body": "<p>" + "long line " * 150 + "</p>"}],
    ids=["text only", "html only", "long html line"],
)
def test_one_part_templates_and_long_lines_match_too(org_a, survey_a, bodies):
    distribution = distribution_with(org_a, survey_a, **bodies)
    person = recipient(fields={"FirstName": HOSTILE_NAME, "LastName": "Lee"})
    data = assert_same_message(distribution, person)
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert parsed.get_body(("html",)) is not None and parsed.get_body(("plain",)) is not None


def test_what_a_recipient_reads(org_a, survey_a):
    distribution = distribution_with(
        org_a, survey_a, subject="Ça va, ${m://FirstName}?", from_name="Åsa at Acme"
    )
    person = recipient(
        fields={"FirstName": HOSTILE_NAME, "LastName": "Lee"},
        embedded={"Store": "Zürich & <Co>"},
    )
    data = assert_same_message(distribution, person)
    parsed = email.message_from_bytes(data, policy=policy.default)
    # Django folds a long encoded subject onto its own line: readers see a leading space.
    assert parsed["Subject"].strip() == f"Ça va, {HOSTILE_NAME}?"
    assert parsed["From"].addresses[0].display_name == "Åsa at Acme"
    assert parsed["Message-ID"].startswith(f"<{person.public_id}.{distribution.public_id}@")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = parsed["List-Unsubscribe"].strip()
    assert unsubscribe.startswith("<http") and person.tracking_token in unsubscribe
    html_part = parsed.get_body(("html",)).get_content()
    text_part = parsed.get_body(("plain",)).get_content()
    assert (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Ève &amp; ${m://LastName}" in html_part
    )
    assert "<script>" not in html_part
    assert "Zürich &amp; &lt;Co&gt;" in html_part
    assert f'<a href="{person.survey_url}">Take the survey</a>' in html_part
    assert HOSTILE_NAME in text_part and person.survey_url in text_part


def test_each_delivery_has_its_own_message_id_and_links(org_a, survey_a, smtp_server):
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 30)
    directory_actions.update_contact(contacts[0], {"firstName": "Émile"})
    distribution = actions.create_distribution(
        organization,
        survey_a,
        owner=user,
        mailing_list=mailing_list,
        subject="Bonjour ${m://FirstName}",
        html_body=HTML_BODY,
        text_body=TEXT_BODY,
    )
    helpers.run_jobs()
    received = smtp_server.handler.messages
    assert len(received) == 30
    deliveries = {d.email: d for d in Delivery.objects.filter(distribution=distribution)}
    for message in received:
        delivery = deliveries[str(message["To"])]
        assert delivery.status == DeliveryStatus.SUCCESS
        assert message["Message-ID"] == delivery.message_id
        assert delivery.link is not None and delivery.link.delivery_id == delivery.public_id
    assert len({message["Message-ID"] for message in received}) == 30
    assert len({message.get_body(("plain",)).get_content() for message in received}) == 30
    first = next(m for m in received if str(m["To"]) == contacts[0].email)
    assert first["Subject"] == "Bonjour Émile"


def test_sending_runs_a_bounded_number_of_statements(org_a, survey_a, smtp_server):
    """Batched claims, links and records: far fewer statements than messages."""
    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 200)
    distribution = actions.create_distribution(
        organization,
        survey_a,
        owner=user,
        mailing_list=mailing_list,
        subject="Hello ${m://FirstName}",
        html_body=HTML_BODY,
        text_body=TEXT_BODY,
    )
    sending.prepare(distribution)
    ids = list(Delivery.objects.filter(distribution=distribution).values_list("id", flat=True))
    with CaptureQueriesContext(connection) as queries:
        counts = sending.send_chunk(distribution.pk, min(ids), max(ids), "test:1")
    assert counts["sent"] == 200 and len(smtp_server.handler.messages) == 200
    # About 3 per window of 10 and 10 per prepared batch of 250; the old path ran ~7 a message.
    assert len(queries) < 200, [query["sql"][:80] for query in queries.captured_queries[:30]]


def test_times_written_by_raw_statements_read_as_the_orm_writes_them(org_a, survey_a, smtp_server):
    """The window's statements pass their timestamps as the ORM would (on SQLite, text in
    Django's format): comparisons in later queries (frequency rules) must see them right."""
    from django.utils import timezone

    from closeloop.directory.models import ContactMessageLog

    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 3)
    before = timezone.now()
    distribution = actions.create_distribution(
        organization, survey_a, owner=user, mailing_list=mailing_list, subject="Hi", text_body="x"
    )
    helpers.run_jobs()
    after = timezone.now()
    deliveries = Delivery.objects.filter(distribution=distribution)
    assert deliveries.filter(sent_at__range=(before, after)).count() == 3
    assert deliveries.filter(sending_at__range=(before, after)).count() == 3
    logged = ContactMessageLog.objects.filter(contact__in=deliveries.values("contact"))
    assert logged.filter(sent_at__range=(before, after)).count() == 3
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT CAST(sent_at AS TEXT) FROM {Delivery._meta.db_table} WHERE distribution_id = %s",
            [distribution.pk],
        )
        stored = [row[0] for row in cursor.fetchall()]
    if connection.vendor == "sqlite":
        assert all("+" not in value for value in stored), stored
