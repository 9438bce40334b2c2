"""Settings → Sending: the organization's default sender, at a verified domain only, shown
beside the verified domains; new distributions start with it; members and other
organizations change nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from closeloop.accounts.models import AuditEvent, Organization
from closeloop.accounts.tests.conftest import add_member
from closeloop.distributions.models import VerifiedDomain

pytestmark = pytest.mark.django_db

URL = "/distributions/sending/"
SCRIPT = '<script>alert("x")</script>'


@pytest.fixture(autouse=True)
def _default_sender(settings):
    settings.DEFAULT_FROM_EMAIL = "Closeloop <noreply@closeloop.test>"


def verified(organization, domain: str, *, at=True) -> VerifiedDomain:
    return VerifiedDomain.objects.create(
        organization=organization, domain=domain, verified_at=timezone.now() if at else None
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def save(client, **values):
    data = {"from_name": "", "from_email": "", "reply_to": ""}
    data.update(values)
    return client.post(URL, data)


def stored(organization) -> tuple[str, str, str]:
    organization = Organization.objects.get(pk=organization.pk)
    return (
        organization.default_from_name,
        organization.default_from_email,
        organization.default_reply_to,
    )


def test_the_page_is_in_settings_and_lists_the_domains(org_a, org_b):
    verified(org_a[0], "mail.acme.test")
    verified(org_a[0], "pending.acme.test", at=False)
    verified(org_b[0], "globex.test")
    assert reverse("distributions:sending") == URL
    page = signed_in(org_a[1]).get(URL).content.decode()
    assert 'aria-current="page">Sending' in page  # the settings navigation
    assert "mail.acme.test" in page and "pending.acme.test" in page
    assert "Not verified" in page
    assert "globex.test" not in page
    assert f'href="{reverse("distributions:domains")}"' in page
    assert "noreply@closeloop.test" in page


def test_an_admin_saves_a_sender_at_a_verified_domain(org_a):
    organization, owner = org_a
    admin = add_member(organization, "admin@acme.test", "admin")
    verified(organization, "mail.acme.test")
    response = save(
        signed_in(admin),
        from_name="Acme Support",
        from_email="care@Mail.Acme.test",
        reply_to="help@acme.test",
    )
    assert response.status_code == 302
    assert stored(organization) == ("Acme Support", "care@mail.acme.test", "help@acme.test")
    [event] = AuditEvent.objects.filter(action="organization.changed")
    assert event.actor == admin and "Default sender" in event.summary

    # the server's own domain needs no verification; blank is the server's default again
    assert save(signed_in(owner), from_email="surveys@closeloop.test").status_code == 302
    assert stored(organization)[1] == "surveys@closeloop.test"
    assert save(signed_in(owner)).status_code == 302
    assert stored(organization) == ("", "", "")


@pytest.mark.parametrize(
    "values, error",
    [
        ({"from_email": "care@unverified.test"}, "has not verified"),
        ({"from_email": "care@pending.acme.test"}, "has not verified"),
        ({"from_email": "care@globex.test"}, "has not verified"),  # org_b's domain
        ({"from_email": "not an address"}, "Enter a valid email address."),
        ({"from_email": "a@b@mail.acme.test"}, "Enter a valid email address."),
        ({"from_email": "care@mail.acme.test\r\nBcc: x@evil.test"}, "valid email address"),
        ({"from_email": "x" * 330 + "@mail.acme.test"}, "at most 320 characters"),
        ({"reply_to": "nope@"}, "Enter a valid email address."),
        ({"from_name": "Acme\r\nBcc: x@evil.test"}, "must be on one line"),
        ({"from_name": "n" * 201}, "at most 200 characters"),
        ({"from_name": SCRIPT, "from_email": SCRIPT}, "Enter a valid email address."),
    ],
)
def test_bad_senders_are_form_errors_and_nothing_is_stored(org_a, org_b, values, error):
    verified(org_a[0], "mail.acme.test")
    verified(org_a[0], "pending.acme.test", at=False)
    verified(org_b[0], "globex.test")
    response = save(signed_in(org_a[1]), **values)
    assert response.status_code == 200
    content = response.content.decode()
    assert error in content
    assert 'class="errorlist' in content
    assert SCRIPT not in content
    assert stored(org_a[0]) == ("", "", "")
    assert not AuditEvent.objects.filter(action="organization.changed").exists()


def test_members_see_the_sender_but_cannot_change_it(org_a):
    organization, _owner = org_a
    verified(organization, "mail.acme.test")
    member = add_member(organization, "member@acme.test")
    client = signed_in(member)
    page = client.get(URL).content.decode()
    assert page.count("Save default sender") == 0
    assert "Only owners and admins" in page
    assert save(client, from_email="me@mail.acme.test").status_code == 403
    assert stored(organization) == ("", "", "")


def test_another_organizations_admin_changes_only_their_own(org_a, org_b):
    verified(org_a[0], "mail.acme.test")
    other = signed_in(org_b[1])
    response = save(other, from_email="care@mail.acme.test")  # org_a's domain
    assert response.status_code == 200 and "has not verified" in response.content.decode()
    assert save(other, from_name="Globex").status_code == 302
    assert stored(org_a[0]) == ("", "", "")
    assert stored(org_b[0])[0] == "Globex"
    assert not AuditEvent.objects.filter(organization=org_a[0]).exists()


def test_a_saved_sender_whose_domain_was_removed_is_flagged(org_a):
    organization, owner = org_a
    domain = verified(organization, "mail.acme.test")
    assert save(signed_in(owner), from_email="care@mail.acme.test").status_code == 302
    domain.delete()
    page = signed_in(owner).get(URL).content.decode()
    assert "cannot be used now" in page


def test_a_new_distribution_starts_with_the_default_sender(org_a, org_b):
    organization, owner = org_a
    verified(organization, "mail.acme.test")
    save(
        signed_in(owner),
        from_name="Acme Support",
        from_email="care@mail.acme.test",
        reply_to="help@acme.test",
    )
    form = signed_in(owner).get("/distributions/new/").context["form"]
    assert form["from_name"].value() == "Acme Support"
    assert form["from_email"].value() == "care@mail.acme.test"
    assert form["reply_to"].value() == "help@acme.test"
    other = signed_in(org_b[1]).get("/distributions/new/").context["form"]
    assert not other["from_email"].value() and not other["from_name"].value()
