"""Invite a colleague, receive the invitation in the Outbox, join, and use an API token."""

import json
import re
import urllib.request

import pytest

from conftest import make_organization

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, base_url, email, password):
    page.goto(base_url + "/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    page.wait_for_url(base_url + "/")


def test_invitation_through_the_outbox_and_a_token_that_works(page, live_server, settings):
    settings.CLOSELOOP_BASE_URL = live_server.url
    settings.EMAIL_BACKEND = "closeloop.outbox.backends.OutboxEmailBackend"
    make_organization("Acme Corp", "owner@acme.test", "owner passphrase 1")
    base = live_server.url

    log_in(page, base, "owner@acme.test", "owner passphrase 1")
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email").fill("new.colleague@acme.test")
    page.get_by_role("button", name="Send invitation").click()
    assert "new.colleague@acme.test" in page.content()

    page.get_by_role("link", name="Outbox", exact=True).click()
    page.get_by_role("link", name=re.compile("invit", re.I)).first.click()
    assert "new.colleague@acme.test" in page.content()
    # The link inside the sandboxed HTML email is clickable and opens the acceptance page.
    page.frame_locator("iframe.message-body").get_by_role("link").first.click()
    page.wait_for_url(re.compile(r"/invite/"))
    invitation_url = page.url
    assert "This invitation is for someone else" in page.content()
    page.context.clear_cookies()
    page.goto(invitation_url)
    page.get_by_label("First name").fill("Nina")
    page.get_by_label("Last name").fill("New")
    page.get_by_label("Password", exact=True).fill("nina passphrase 22")
    page.get_by_label("Password again").fill("nina passphrase 22")
    page.get_by_role("button", name="Join").click()
    page.wait_for_url(base + "/")
    assert "Acme Corp" in page.content()

    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Token name").fill("segment destination")
    page.get_by_role("button", name="Create token").click()
    token = page.locator(".secret").inner_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9]{40}", token)
    request = urllib.request.Request(base + "/API/v3/whoami", headers={"X-API-TOKEN": token})
    with urllib.request.urlopen(request, timeout=10) as response:
        result = json.load(response)["result"]
    assert result["email"] == "new.colleague@acme.test"
    assert result["firstName"] == "Nina"
    # Shown once: reloading the page never shows the secret again.
    page.reload()
    assert token not in page.content()
