"""A fresh install started the way `make run` starts it, driven through a real browser."""

import re

import pytest

from tests.servers import closeloop_up

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only, pytest.mark.slow]


def test_first_visitor_sets_up_the_organization_and_logs_in(page, tmp_path):
    with closeloop_up(tmp_path) as (base_url, _process):
        page.goto(base_url + "/")
        page.wait_for_url(re.compile(r"/setup/?$"))
        page.get_by_label("Organization name").fill("Acme Support")
        page.get_by_label("First name").fill("Ada")
        page.get_by_label("Last name").fill("Admin")
        page.get_by_label("Your email").fill("ada@acme.test")
        page.get_by_label("Password", exact=True).fill("a long enough passphrase")
        page.get_by_label("Password again").fill("a long enough passphrase")
        page.get_by_role("button", name=re.compile("Create", re.I)).click()
        page.wait_for_url(base_url + "/")
        assert page.get_by_role("navigation", name="Main").is_visible()
        for section in [
            "Surveys",
            "Directory",
            "Workflows",
            "Distributions",
            "Extensions",
            "Settings",
        ]:
            assert page.get_by_role("link", name=section, exact=True).is_visible()
        assert "Acme Support" in page.content()

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(re.compile(r"/login/"))
        page.get_by_label("Email").fill("ada@acme.test")
        page.get_by_label("Password", exact=True).fill("a long enough passphrase")
        page.get_by_role("button", name=re.compile("Log in", re.I)).click()
        page.wait_for_url(base_url + "/")
        assert page.get_by_role("heading", name=re.compile("Welcome")).is_visible()

        # Setup happens once: afterwards the setup page is not offered again.
        page.goto(base_url + "/setup/")
        assert "Organization name" not in page.content()

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(base_url + "/")
        page.locator("label.nav-toggle-label").click()
        assert page.get_by_role("link", name="Directory", exact=True).is_visible()
        page.screenshot(path=str(tmp_path / "phone.png"))
