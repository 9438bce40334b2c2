"""End to end in Debian's chromium: add a contact, find it, import a CSV while the page polls
for progress, read the report; accessibility checks on every directory page."""

from __future__ import annotations

import re

import pytest

from closeloop.directory import imports
from closeloop.directory.models import Contact, ContactImport
from closeloop.surveys.tests.test_browser import accessibility_problems, log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("closeloop.directory.tests.urls"),
]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_contacts_import_and_report(page, live_server, org_a, tmp_path):
    base = live_server.url
    log_in(page, base, org_a[1].email)
    page.goto(base + "/directory/")
    assert accessibility_problems(page) == []

    page.get_by_role("link", name="Add contact").click()
    page.get_by_label("First name").fill("Jane")
    page.get_by_label("Email").fill("Jane.Doe@Example.com")
    page.get_by_label("Phone").fill("(415) 555-0123")
    page.get_by_label("Embedded data").fill("Store = Berlin")
    assert accessibility_problems(page) == []
    page.get_by_role("button", name="Add contact").click()
    page.get_by_text("Contact created.").wait_for()
    assert page.get_by_text("+14155550123").is_visible()
    assert accessibility_problems(page) == []

    page.get_by_role("link", name="Contacts").click()
    page.get_by_label("Search contacts").fill("Store=Berlin")
    page.get_by_role("button", name="Search").click()
    assert page.get_by_role("link", name="Jane").is_visible()

    csv_path = tmp_path / "people.csv"
    csv_path.write_text(
        "Email,First Name\njane.doe@example.com,Janet\nnope@,Bad\nann@example.com,Ann\n"
    )
    page.get_by_role("link", name="Import & export").click()
    assert accessibility_problems(page) == []
    page.get_by_label("CSV file").set_input_files(str(csv_path))
    page.get_by_role("button", name="Upload and import").click()
    page.get_by_text("waiting for a worker").wait_for()
    # A worker would pick the job up; run the import here while the page keeps polling.
    imports.run_import(ContactImport.objects.get())
    page.locator("#import-status").get_by_text("finished").wait_for(timeout=30_000)
    report = page.locator("#import-status").inner_text()
    assert re.search(r"Created\s+1", report) and re.search(r"Updated\s+1", report)
    assert "not a valid email" in report
    assert accessibility_problems(page) == []
    assert Contact.objects.get(email_normalized="jane.doe@example.com").first_name == "Janet"

    for path in ("/directory/lists/", "/directory/settings/"):
        page.goto(base + path)
        assert accessibility_problems(page) == [], path
