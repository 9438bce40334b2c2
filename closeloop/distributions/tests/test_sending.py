"""Email distributions against a real SMTP server (aiosmtpd, in-process)."""

from __future__ import annotations

from collections import Counter

import pytest

from closeloop.directory import actions as directory_actions
from closeloop.directory.models import Channel, ContactMessageLog
from closeloop.distributions import actions
from closeloop.distributions.models import Delivery, DeliveryStatus, DistributionStatus
from closeloop.distributions.tests import helpers
from closeloop.distributions.tests.conftest import make_list
from closeloop.distributions.tests.helpers import make_retries_due

pytestmark = pytest.mark.django_db

BODY_HTML = (
    "<p>Hello ${m://FirstName} from ${e://Field/Store},</p>"
    "<p>${l://SurveyLink?d=Take the survey}</p><p>${l://OptOutLink?d=Unsubscribe}</p>"
)
BODY_TEXT = "Hello ${m://FirstName}, take the survey: ${l://SurveyURL}"


def distribute(organization, user, survey, mailing_list, **kwargs):
    kwargs.setdefault("subject", "Your feedback, ${m://FirstName}")
    kwargs.setdefault("html_body", BODY_HTML)
    kwargs.setdefault("text_body", BODY_TEXT)
    return actions.create_distribution(
        organization, survey, owner=user, mailing_list=mailing_list, **kwargs
    )


def test_a_thousand_contacts_minus_opt_outs_and_frequency_rule(org_a, survey_a, smtp_server):
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 1000)
    for contact in contacts[:5]:
        directory_actions.unsubscribe_contact(contact)
    for contact in contacts[5:10]:
        directory_actions.unsubscribe_contact(contact, mailing_list=mailing_list)
    directory = contacts[0].directory
    directory_actions.create_frequency_rule(directory, max_messages=1, period_days=30)
    for contact in contacts[10:20]:
        directory_actions.log_message(contact, Channel.EMAIL, survey_id="SV_other")

    distribution = distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()

    received = smtp_server.handler.messages
    assert len(received) == 980
    assert len({message["Message-ID"] for message in received}) == 980
    recipients = Counter(str(message["To"]) for message in received)
    assert max(recipients.values()) == 1
    assert {c.email for c in contacts[:20]}.isdisjoint(recipients)

    deliveries = Delivery.objects.filter(distribution=distribution)
    assert deliveries.count() == 1000
    assert deliveries.filter(status=DeliveryStatus.SUCCESS).count() == 980
    skipped = deliveries.filter(status=DeliveryStatus.SKIPPED)
    assert skipped.count() == 20
    reasons = Counter(d.reason for d in skipped)
    assert reasons == {
        "Opted out: the contact is unsubscribed from the directory.": 5,
        "Opted out: unsubscribed from the mailing list Customers.": 5,
        "Frequency rule: at most 1 in 30 days — directory": 10,
    }
    distribution.refresh_from_db()
    assert distribution.status == DistributionStatus.DONE
    assert (
        ContactMessageLog.objects.filter(contact__in=contacts, survey_id=survey_a.public_id).count()
        == 980
    )

    # What a recipient sees: piped text, both parts, the headers.
    message = next(m for m in received if str(m["To"]) == contacts[20].email)
    assert message["Subject"] == "Your feedback, Person20"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].strip().startswith("<http")
    assert message["X-Closeloop-Organization"] == str(organization.pk)
    delivery = deliveries.get(contact=contacts[20])
    assert message["Message-ID"] == delivery.message_id
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Hello Person20 from Store 20" in html
    assert '<a href="http://' in html and ">Take the survey</a>" in html
    assert "/t/o/" in html  # the open pixel
    assert "/jfe/l/" in text
    assert delivery.link is not None and delivery.link.delivery_id == delivery.public_id


def test_html_in_contact_fields_is_escaped_in_the_html_part(org_a, survey_a, smtp_server):
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 1)
    directory_actions.update_contact(contacts[0], {"firstName": "<b>Eve</b>"})
    distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()
    (message,) = smtp_server.handler.messages
    assert "&lt;b&gt;Eve&lt;/b&gt;" in message.get_body(("html",)).get_content()
    assert "<b>Eve</b>" in message.get_body(("plain",)).get_content()


def test_smtp_server_down_mid_send_then_back_delivers_each_message_once(
    org_a, survey_a, smtp_server, settings
):
    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 120)
    smtp_server.handler.accept_limit = 45  # then drops the connection at MAIL FROM
    distribution = distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()
    assert len(smtp_server.handler.messages) == 45
    deliveries = Delivery.objects.filter(distribution=distribution)
    assert deliveries.filter(status=DeliveryStatus.PENDING).count() == 75
    assert deliveries.filter(status=DeliveryStatus.SENDING).count() == 0

    # Completely down: connection refused.
    smtp_server.stop()
    make_retries_due()
    helpers.run_jobs()
    assert deliveries.filter(status=DeliveryStatus.PENDING).count() == 75

    # Back.
    smtp_server.handler.accept_limit = None
    smtp_server.start()
    make_retries_due()
    helpers.run_jobs()
    received = Counter(smtp_server.handler.recipients())
    assert len(received) == 120 and set(received.values()) == {1}
    assert deliveries.filter(status=DeliveryStatus.SUCCESS).count() == 120
    distribution.refresh_from_db()
    assert distribution.status == DistributionStatus.DONE


def test_a_refused_recipient_is_a_hard_bounce_and_blocks_the_address(org_a, survey_a, smtp_server):
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 3)
    smtp_server.handler.refuse = {contacts[1].email}
    first = distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()
    assert len(smtp_server.handler.messages) == 2
    bounced = Delivery.objects.get(distribution=first, contact=contacts[1])
    assert bounced.status == DeliveryStatus.HARD_BOUNCE
    assert "550" in bounced.reason

    second = distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()
    blocked = Delivery.objects.get(distribution=second, contact=contacts[1])
    assert blocked.status == DeliveryStatus.BLOCKED
    assert "hard bounce" in blocked.reason


def test_a_delivery_already_sent_is_never_sent_again(org_a, survey_a, smtp_server):
    from closeloop.distributions import sending
    from closeloop.jobs.models import Job

    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 5)
    distribution = distribute(organization, user, survey_a, mailing_list)
    helpers.run_jobs()
    assert len(smtp_server.handler.messages) == 5
    (job,) = Job.objects.filter(kind=actions.SEND_JOB)
    sending.send_chunk(distribution.pk, job.payload["first"], job.payload["last"], "again:1")
    sending.prepare(distribution)  # a second preparation adds nothing
    helpers.run_jobs()
    assert len(smtp_server.handler.messages) == 5
    assert Delivery.objects.filter(distribution=distribution).count() == 5


def test_ambiguous_deliveries_from_a_dead_attempt_are_not_resent(org_a, survey_a, smtp_server):
    from closeloop.distributions import sending

    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 4)
    distribution = distribute(organization, user, survey_a, mailing_list)
    sending.prepare(distribution)
    first, _second, *_rest = Delivery.objects.filter(distribution=distribution).order_by("id")
    Delivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.SENDING, claim="1:1")
    ids = list(Delivery.objects.filter(distribution=distribution).values_list("id", flat=True))
    sending.send_chunk(distribution.pk, min(ids), max(ids), "1:2")
    first.refresh_from_db()
    assert first.status == DeliveryStatus.FAILURE
    assert "not resent" in first.reason
    assert len(smtp_server.handler.messages) == 3
