"""Status updates after sending: open pixel, survey progress, provider webhooks, unsubscribe,
and the DNS check of sending domains."""

from __future__ import annotations

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.core import mail

from closeloop.distributions import actions
from closeloop.distributions.core import tracking_token
from closeloop.distributions.models import Delivery, DeliveryStatus, SuppressedAddress
from closeloop.distributions.tests.conftest import make_list
from closeloop.distributions.tests.helpers import run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(org_a, survey_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 2)
    distribution = actions.create_distribution(
        organization,
        survey_a,
        owner=user,
        mailing_list=mailing_list,
        subject="Hi",
        text_body="${l://SurveyURL}",
    )
    run_jobs()
    assert len(mail.outbox) == 2
    return distribution, list(Delivery.objects.filter(distribution=distribution).order_by("id"))


def status(delivery) -> str:
    delivery.refresh_from_db()
    return delivery.status


def test_the_open_pixel_marks_opened(client, sent):
    _distribution, (delivery, _other) = sent
    token = tracking_token(delivery.public_id)
    response = client.get(f"/t/o/{token}.gif")
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert status(delivery) == DeliveryStatus.OPENED
    assert client.get("/t/o/DLV_forged:xyz.gif").status_code == 200  # no effect, no error
    assert status(_other) == DeliveryStatus.SUCCESS


def test_survey_events_move_forward_only(sent):
    _distribution, (delivery, _other) = sent
    assert actions.record_survey_event(delivery.public_id, "started", response_id="R_1")
    assert status(delivery) == DeliveryStatus.SURVEY_STARTED
    assert actions.record_survey_event(delivery.public_id, "finished")
    assert status(delivery) == DeliveryStatus.SURVEY_FINISHED
    actions.record_open(delivery.public_id)
    assert status(delivery) == DeliveryStatus.SURVEY_FINISHED
    assert delivery.opened_at is not None and delivery.response_id == "R_1"
    assert not actions.record_survey_event("DLV_unknown", "started")


def test_survey_progress_is_read_from_the_responses_of_the_links(sent):
    from closeloop.surveys import actions as survey_actions

    distribution, (delivery, _other) = sent
    survey_actions.start_link_response(delivery.link)
    actions.sync_survey_progress(distribution)
    assert status(delivery) == DeliveryStatus.SURVEY_STARTED
    assert delivery.response_id.startswith("R_")


def send_event(event_type: str, delivery: Delivery, **extra) -> None:
    event = AnymailTrackingEvent(
        event_type=event_type,
        message_id="esp-123",
        metadata={"closeloop_delivery": delivery.public_id},
        recipient=delivery.email,
        **extra,
    )
    tracking.send(sender=object, event=event, esp_name="TestESP")


def test_a_hard_bounce_blocks_the_address(sent):
    _distribution, (delivery, _other) = sent
    send_event("bounced", delivery, description="550 mailbox unavailable")
    assert status(delivery) == DeliveryStatus.HARD_BOUNCE
    assert delivery.bounced_at is not None
    assert SuppressedAddress.objects.filter(email=delivery.email.lower()).exists()


def test_a_complaint_unsubscribes_the_contact(sent):
    _distribution, (delivery, _other) = sent
    send_event("complained", delivery)
    assert status(delivery) == DeliveryStatus.COMPLAINT
    delivery.contact.refresh_from_db()
    assert delivery.contact.unsubscribed


def test_events_match_by_message_id_too(sent):
    _distribution, (delivery, _other) = sent
    tracking.send(
        sender=object,
        event=AnymailTrackingEvent(event_type="opened", message_id=delivery.message_id),
        esp_name="SMTP",
    )
    assert status(delivery) == DeliveryStatus.OPENED


def test_one_click_unsubscribe(client, sent):
    _distribution, (delivery, _other) = sent
    token = tracking_token(delivery.public_id)
    assert b"Unsubscribe?" in client.get(f"/t/u/{token}/").content
    delivery.contact.refresh_from_db()
    assert not delivery.contact.unsubscribed
    response = client.post(f"/t/u/{token}/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    delivery.contact.refresh_from_db()
    assert delivery.contact.unsubscribed
    assert client.post("/t/u/DLV_x:forged/").status_code == 404


class FakeResolver:
    def __init__(self, records: dict[str, list[str]]):
        self.records = records

    def resolve(self, name, kind, lifetime=None):
        import dns.resolver

        if name not in self.records:
            raise dns.resolver.NXDOMAIN()
        return [type("Txt", (), {"strings": [value.encode()]})() for value in self.records[name]]


def test_a_domain_is_verified_by_its_txt_record(org_a):
    domain = actions.add_domain(org_a[0], "acme.test")
    assert not actions.verify_domain(domain, resolver=FakeResolver({}))
    assert "No TXT record" in domain.last_error and domain.record_name in domain.last_error
    resolver = FakeResolver({domain.record_name: ["v=spf1 -all", domain.record_value]})
    assert actions.verify_domain(domain, resolver=resolver)
    assert domain.verified_at is not None and domain.last_error == ""


def test_a_bad_domain_name_is_refused(org_a):
    with pytest.raises(actions.DistributionError, match="is not a domain name"):
        actions.add_domain(org_a[0], "not a domain")


def _personal_path(message) -> str:
    url = next(word for word in message.body.split() if "/jfe/" in word)
    return url[url.index("/jfe/") :]


def test_opening_the_personal_link_marks_survey_started_at_once(client, sent):
    _distribution, deliveries = sent
    by_recipient = {delivery.email: delivery for delivery in deliveries}
    message = mail.outbox[0]
    delivery = by_recipient[message.to[0]]
    assert client.get(_personal_path(message)).status_code == 200
    assert status(delivery) == DeliveryStatus.SURVEY_STARTED
    assert status(by_recipient[mail.outbox[1].to[0]]) == DeliveryStatus.SUCCESS


def test_an_expired_personal_link_marks_session_expired(client, sent):
    from django.utils import timezone

    from closeloop.surveys.models import SurveyLink

    _distribution, deliveries = sent
    message = mail.outbox[0]
    delivery = next(d for d in deliveries if d.email == message.to[0])
    SurveyLink.objects.filter(delivery_id=delivery.public_id).update(expires_at=timezone.now())
    client.get(_personal_path(message))
    assert status(delivery) == DeliveryStatus.SESSION_EXPIRED
