"""End to end in Debian's chromium: add a contact, find it, import a CSV while the page polls
for progress, read the report; accessibility checks on every directory page."""

from __future__ import annotations

import re

import pytest

from closeloop.directory import actions, imports
from closeloop.directory.models import Contact, ContactImport
from closeloop.directory.tests.test_touchpoints import deliver, make_survey, respond
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


def test_contact_timeline_shows_delivery_response_and_transaction(page, live_server, org_a):
    organization, user = org_a
    directory = actions.default_directory(organization)
    contact, _ = actions.upsert_contact(directory, {"firstName": "Tia", "email": "tia@example.com"})
    actions.add_transaction(contact, "2026-01-02 03:04:05", {"order": "A-77"})
    survey = make_survey(organization, user, "Delivery feedback")
    delivery = deliver(organization, survey, contact)
    response = respond(survey, contact, finish=True)

    base = live_server.url
    log_in(page, base, user.email)
    page.goto(f"{base}/directory/contacts/{contact.public_id}/")
    rows = page.locator("section:has(h3:text('Touchpoints')) tbody tr")
    assert rows.count() == 3
    # Newest first: the response, then the delivery, then the January transaction.
    assert [rows.nth(n).locator("td").nth(1).inner_text() for n in range(3)] == [
        "Response",
        "Delivery",
        "Transaction",
    ]
    assert "Finished" in rows.nth(0).inner_text()
    assert "Email" in rows.nth(1).inner_text()
    assert "order: A-77" in rows.nth(2).inner_text()
    assert accessibility_problems(page) == []

    rows.nth(1).get_by_role("link", name="Delivery feedback").click()
    page.wait_for_url(f"{base}/distributions/{delivery.distribution.public_id}/")
    page.go_back()
    page.locator("section:has(h3:text('Touchpoints'))").get_by_role(
        "link", name="Delivery feedback"
    ).first.click()
    page.wait_for_url(f"{base}/surveys/{survey.public_id}/responses/{response.public_id}")
