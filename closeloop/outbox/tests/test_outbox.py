from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import override_settings
from django.urls import reverse

from closeloop.outbox.backends import ORGANIZATION_HEADER, OutboxSmsBackend
from closeloop.outbox.models import OutboxMessage

OUTBOX = override_settings(EMAIL_BACKEND="closeloop.outbox.backends.OutboxEmailBackend")


def send_invitation(organization, to="pat@example.com"):
    message = EmailMultiAlternatives(
        subject="Tell us how we did",
        body="Take the survey: https://closeloop.test/jfe/form/SV_1",
        from_email="cx@acme.test",
        to=[to],
        reply_to=["help@acme.test"],
        headers={ORGANIZATION_HEADER: str(organization.pk), "List-Unsubscribe": "<https://x/u>"},
    )
    message.attach_alternative(
        '<p>Hello <a href="https://closeloop.test/jfe/form/SV_1">Take the survey</a></p>',
        "text/html",
    )
    message.send()


@OUTBOX
def test_email_is_stored_with_both_parts_and_headers(org_a):
    organization, _ = org_a
    send_invitation(organization)
    stored = OutboxMessage.objects.get()
    assert stored.organization == organization
    assert stored.channel == "email"
    assert stored.recipients == "pat@example.com"
    assert "Take the survey" in stored.text_body
    assert '<a href="https://closeloop.test/jfe/form/SV_1">' in stored.html_body
    assert stored.headers["Reply-To"] == "help@acme.test"
    assert stored.headers["List-Unsubscribe"] == "<https://x/u>"
    assert ORGANIZATION_HEADER not in stored.headers
    assert stored.message_id.startswith("<")


@OUTBOX
def test_system_mail_belongs_to_the_recipients_organization(org_a):
    organization, user = org_a
    mail.send_mail("Reset your password", "link", None, [user.email.upper()])
    assert OutboxMessage.objects.get().organization == organization


@OUTBOX
def test_outbox_page_lists_and_renders_html_sandboxed(client, org_a):
    organization, user = org_a
    send_invitation(organization)
    client.force_login(user)
    listing = client.get(reverse("outbox:list"))
    assert listing.status_code == 200
    assert b"Tell us how we did" in listing.content
    stored = OutboxMessage.objects.get()
    detail = client.get(reverse("outbox:detail", args=[stored.pk]))
    assert detail.status_code == 200
    assert b'sandbox="allow-popups' in detail.content
    # The HTML is escaped into srcdoc, never inlined into Closeloop's own page.
    assert b"srcdoc=\"<base target='_top'>&lt;p&gt;Hello" in detail.content


@OUTBOX
def test_hostile_html_cannot_escape_into_the_page(client, org_a):
    organization, user = org_a
    message = EmailMultiAlternatives(
        "x<script>alert(1)</script>",
        "t",
        "a@b.c",
        ["d@e.f"],
        headers={ORGANIZATION_HEADER: str(organization.pk)},
    )
    message.attach_alternative('"><script>alert(1)</script>', "text/html")
    message.send()
    client.force_login(user)
    detail = client.get(reverse("outbox:detail", args=[OutboxMessage.objects.get().pk]))
    assert b"<script>alert(1)</script>" not in detail.content


@OUTBOX
def test_organizations_never_see_each_others_messages(client, org_a, org_b):
    organization_a, _ = org_a
    organization_b, user_b = org_b
    send_invitation(organization_a, "only-a@example.com")
    send_invitation(organization_b, "only-b@example.com")
    client.force_login(user_b)
    listing = client.get(reverse("outbox:list"))
    assert b"only-b@example.com" in listing.content
    assert b"only-a@example.com" not in listing.content
    message_of_a = OutboxMessage.objects.get(recipients="only-a@example.com")
    assert client.get(reverse("outbox:detail", args=[message_of_a.pk])).status_code == 404
    client.post(reverse("outbox:clear"))
    assert OutboxMessage.objects.filter(organization=organization_a).count() == 1


def test_outbox_needs_login(client, org_a):
    response = client.get(reverse("outbox:list"))
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_sms_backend_stores_message_with_segments(org_a):
    organization, _ = org_a
    result = OutboxSmsBackend().send(organization=organization, to="+14155550100", body="Hi " * 60)
    stored = OutboxMessage.objects.get()
    assert result.status == "delivered"
    assert stored.channel == "sms"
    assert stored.segments == result.segments == 2


def test_outbox_search_and_channel_filter(client, org_a):
    organization, user = org_a
    OutboxSmsBackend().send(organization=organization, to="+14155550100", body="Your survey")
    with OUTBOX:
        send_invitation(organization, "findme@example.com")
    client.force_login(user)
    found = client.get(reverse("outbox:list"), {"q": "findme"})
    assert b"findme@example.com" in found.content and b"+14155550100" not in found.content
    sms_only = client.get(reverse("outbox:list"), {"channel": "sms"})
    assert b"+14155550100" in sms_only.content and b"findme@example.com" not in sms_only.content
