"""SMTP pipelining (RFC 2920): with a server that advertises it, MAIL FROM, RCPT TO and DATA go
in one write; each reply is still attributed to its own delivery, and a server without it gets
smtplib's sendmail() with the same results."""

from __future__ import annotations

import smtplib
from collections import Counter

import pytest

from closeloop.distributions import actions
from closeloop.distributions.models import Delivery, DeliveryStatus
from closeloop.distributions.tests import helpers
from closeloop.distributions.tests.conftest import make_list

pytestmark = pytest.mark.django_db

TEXT_BODY = "Hello ${m://FirstName},\n.a line that starts with a dot\n..and two\n${l://SurveyURL}"


@pytest.fixture
def sendmail_calls(monkeypatch):
    """How many messages went through smtplib's sendmail() (the unpipelined way)."""
    calls = []
    original = smtplib.SMTP.sendmail

    def counting(self, *args, **kwargs):
        calls.append(args[1])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "sendmail", counting)
    return calls


def distribute(organization, user, survey, mailing_list):
    return actions.create_distribution(
        organization,
        survey,
        owner=user,
        mailing_list=mailing_list,
        subject="Hello ${m://FirstName}",
        text_body=TEXT_BODY,
    )


@pytest.mark.parametrize("pipelining", [True, False])
def test_each_reply_is_attributed_to_its_own_delivery(
    org_a, survey_a, smtp_server, sendmail_calls, pipelining
):
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 6)
    smtp_server.handler.pipelining = pipelining
    smtp_server.handler.refuse = {contacts[1].email, contacts[4].email}
    distribution = distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()

    received = Counter(smtp_server.handler.recipients())
    expected = {contact.email for n, contact in enumerate(contacts) if n not in (1, 4)}
    assert set(received) == expected and set(received.values()) == {1}
    statuses = dict(
        Delivery.objects.filter(distribution=distribution).values_list("contact_id", "status")
    )
    for n, contact in enumerate(contacts):
        wanted = DeliveryStatus.HARD_BOUNCE if n in (1, 4) else DeliveryStatus.SUCCESS
        assert statuses[contact.pk] == wanted
    bounced = Delivery.objects.get(distribution=distribution, contact=contacts[4])
    assert bounced.reason.startswith("550")
    assert len(sendmail_calls) == (0 if pipelining else 6)


def test_lines_starting_with_a_dot_arrive_intact(org_a, survey_a, smtp_server, sendmail_calls):
    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 2)
    distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()
    assert sendmail_calls == []
    for message in smtp_server.handler.messages:
        lines = message.get_body(("plain",)).get_content().splitlines()
        assert lines[1:3] == [".a line that starts with a dot", "..and two"]


def test_a_4xx_for_one_recipient_puts_only_that_one_back(org_a, survey_a, smtp_server):
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 5)
    busy = contacts[2].email
    handler = smtp_server.handler
    accept = handler.handle_RCPT

    async def greylisting(server, session, envelope, address, rcpt_options):
        if address == busy:
            return "451 4.7.1 Greylisted, try again later"
        return await accept(server, session, envelope, address, rcpt_options)

    handler.handle_RCPT = greylisting
    distribution = distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()
    deliveries = Delivery.objects.filter(distribution=distribution)
    assert sorted(handler.recipients()) == sorted(c.email for c in contacts if c.email != busy)
    waiting = deliveries.get(contact=contacts[2])
    assert waiting.status == DeliveryStatus.PENDING and waiting.error.startswith("451")

    handler.handle_RCPT = accept
    helpers.make_retries_due()
    helpers.run_jobs()
    assert Counter(handler.recipients()) == Counter(c.email for c in contacts)
    assert deliveries.filter(status=DeliveryStatus.SUCCESS).count() == 5


def refusing_content_of(handler, address: str, reply: str):
    """The server refuses the content of the message to `address` (after the final dot)."""
    accept = handler.handle_DATA

    async def refusing(server, session, envelope):
        if address in envelope.rcpt_tos:
            return reply
        return await accept(server, session, envelope)

    return refusing


def test_the_next_envelope_leaves_with_the_content(org_a, survey_a, smtp_server, monkeypatch):
    """One write per message: the next message's MAIL, RCPT and DATA follow this one's dot."""
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 20)
    writes = []
    original = smtplib.SMTP.send

    def counting(self, payload):
        writes.append(payload)
        return original(self, payload)

    monkeypatch.setattr(smtplib.SMTP, "send", counting)
    distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()
    assert Counter(smtp_server.handler.recipients()) == Counter(c.email for c in contacts)
    messages = [w for w in writes if isinstance(w, bytes) and w.count(b"\r\n.\r\n")]
    assert len(messages) == 20
    # Two windows of 10: each window's first envelope is written alone, the others with the
    # previous message; then EHLO and QUIT.
    assert sum(b"MAIL FROM:" in w for w in messages) == 18
    assert len(writes) <= 20 + 2 + 2


def test_content_refused_while_the_next_envelope_is_on_its_way(org_a, survey_a, smtp_server):
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 6)
    refused = contacts[2].email
    handler = smtp_server.handler
    handler.handle_DATA = refusing_content_of(handler, refused, "554 5.7.1 Content rejected")
    distribution = distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()

    assert Counter(handler.recipients()) == Counter(c.email for c in contacts if c.email != refused)
    deliveries = Delivery.objects.filter(distribution=distribution)
    failed = deliveries.get(contact=contacts[2])
    assert failed.status == DeliveryStatus.FAILURE and failed.reason.startswith("554")
    assert deliveries.filter(status=DeliveryStatus.SUCCESS).count() == 5


def test_content_deferred_stops_cleanly_and_the_retry_sends_the_rest_once(
    org_a, survey_a, smtp_server
):
    """A 4xx after the dot stops the chunk: the next message's envelope is already on its way,
    so the connection is dropped (the server would take QUIT for content), nothing hangs, and
    the retry sends those put back, each once."""
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 6)
    busy = contacts[2].email
    handler = smtp_server.handler
    accept = handler.handle_DATA
    handler.handle_DATA = refusing_content_of(handler, busy, "452 4.3.1 Insufficient storage")
    distribution = distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()

    assert sorted(handler.recipients()) == sorted(c.email for c in contacts[:2])
    deliveries = Delivery.objects.filter(distribution=distribution)
    assert deliveries.filter(status=DeliveryStatus.PENDING).count() == 4

    handler.handle_DATA = accept
    helpers.make_retries_due()
    helpers.run_jobs()
    assert Counter(handler.recipients()) == Counter(c.email for c in contacts)
    assert deliveries.filter(status=DeliveryStatus.SUCCESS).count() == 6


def test_a_link_made_by_the_links_api_before_the_claim_is_the_one_sent(
    org_a, survey_a, smtp_server, monkeypatch
):
    """The sender makes the links of a prepared batch and saves them with the claim; when the
    links API gave a delivery its link in between, the delivery keeps that one and the
    message carries it (the link the sender made is never used)."""
    from closeloop.distributions import secrets
    from closeloop.distributions.channels import email as email_channel

    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 3)
    distribution = distribute(organization, user, survey_a, mailing_list)
    prepare_batch = email_channel.prepare_batch
    shown = {}

    def then_the_links_api(*args, **kwargs):
        ready = prepare_batch(*args, **kwargs)
        if ready and not shown:
            delivery = Delivery.objects.select_related("contact").get(pk=ready[0].id)
            ((_delivery, url),) = actions.links_for(distribution, [delivery])
            shown[delivery.contact.email] = url
        return ready

    monkeypatch.setattr(email_channel, "prepare_batch", then_the_links_api)
    helpers.run_jobs()

    ((address, url),) = shown.items()
    (message,) = [m for m in smtp_server.handler.messages if str(m["To"]) == address]
    assert url in message.get_body(("plain",)).get_content()
    delivery = Delivery.objects.get(distribution=distribution, email=address)
    assert url.rstrip("/").endswith(secrets.decrypt(delivery.link_secret))
    others = Delivery.objects.filter(distribution=distribution).exclude(pk=delivery.pk)
    assert all(other.link_id and other.link_secret for other in others)
    assert len(smtp_server.handler.messages) == 3
