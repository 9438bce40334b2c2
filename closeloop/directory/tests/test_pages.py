"""The directory pages: login, tenant isolation, forms with inline errors, pagination."""

import pytest
from django.urls import reverse

from closeloop.directory import actions
from closeloop.directory.models import Contact, FrequencyRule, MailingList
from closeloop.directory.tests.factories import make_directory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("closeloop.directory.tests.urls")]


@pytest.fixture
def directory(org_a):
    return make_directory(org_a[0])


@pytest.fixture
def browser(client, org_a):
    client.force_login(org_a[1])
    return client


@pytest.fixture
def jane(directory):
    contact, _ = actions.upsert_contact(
        directory,
        {"firstName": "Jane", "lastName": "Doe", "email": "jane@example.com", "phone": "12"},
        {"Store": "Berlin"},
    )
    return contact


def test_login_required(client, directory):
    response = client.get(reverse("directory:contacts"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_contacts_page_lists_and_searches(browser, jane, directory):
    actions.upsert_contact(directory, {"firstName": "John", "email": "john@example.com"})
    page = browser.get(reverse("directory:contacts"))
    assert page.status_code == 200
    assert page.context["active"] == "directory"
    text = page.content.decode()
    assert "Jane Doe" in text and "John" in text
    assert "not a valid phone" in text or "invalid" in text
    found = browser.get(reverse("directory:contacts"), {"q": "Store=Berlin"})
    assert [c.pk for c in found.context["contacts"]] == [jane.pk]
    none = browser.get(reverse("directory:contacts"), {"q": "nobody"})
    assert "No contact matches" in none.content.decode()


def test_pages_are_keyset_and_count_nothing(browser, directory, django_assert_max_num_queries):
    for number in range(55):
        actions.upsert_contact(directory, {"email": f"p{number:02}@example.com"})
    first = browser.get(reverse("directory:contacts"))
    assert len(first.context["contacts"]) == 50
    cursor = first.context["next_cursor"]
    assert f"after={cursor}" in first.content.decode()
    second = browser.get(reverse("directory:contacts"), {"after": cursor})
    assert len(second.context["contacts"]) == 5 and second.context["next_cursor"] is None
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        browser.get(reverse("directory:contacts"), {"after": cursor})
    assert not any("COUNT(" in query["sql"].upper() for query in captured.captured_queries)


def test_a_fresh_organization_gets_a_default_directory(browser, org_a):
    page = browser.get(reverse("directory:contacts"))
    assert page.status_code == 200
    assert "No contacts yet" in page.content.decode()
    assert page.context["directory"].is_default


def test_other_organizations_rows_are_404(browser, org_b):
    theirs = make_directory(org_b[0])
    contact, _ = actions.upsert_contact(theirs, {"email": "t@example.com"})
    their_list = actions.create_mailing_list(theirs, "Theirs")
    rule = actions.create_frequency_rule(theirs, min_days_between=1)
    for url in (
        reverse("directory:contact", args=[contact.public_id]),
        reverse("directory:contact-edit", args=[contact.public_id]),
        reverse("directory:list", args=[their_list.public_id]),
        reverse("directory:contacts") + f"?directory={theirs.public_id}",
        reverse("directory:settings") + f"?directory={theirs.public_id}",
    ):
        assert browser.get(url).status_code == 404, url
    for url in (
        reverse("directory:contact-delete", args=[contact.public_id]),
        reverse("directory:contact-unsubscribe", args=[contact.public_id]),
        reverse("directory:list-delete", args=[their_list.public_id]),
        reverse("directory:frequency-rule-delete", args=[rule.pk]),
    ):
        assert browser.post(url).status_code == 404, url
    contact.refresh_from_db()
    assert not contact.unsubscribed
    assert MailingList.objects.filter(pk=their_list.pk).exists()
    assert FrequencyRule.objects.filter(pk=rule.pk).exists()


def test_create_contact_then_dedup_message(browser, directory):
    data = {"firstName": "Jane", "email": "Jane@Example.com", "embedded": "Store = Berlin\n"}
    response = browser.post(reverse("directory:contact-create"), data, follow=True)
    contact = Contact.objects.get()
    assert response.redirect_chain[-1][0] == reverse("directory:contact", args=[contact.public_id])
    assert contact.embedded_data == {"Store": "Berlin"}
    again = browser.post(reverse("directory:contact-create"), data, follow=True)
    assert "already in the directory" in again.content.decode()
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "jane@"}, "not a valid email"),
        ({"embedded": "no equals sign"}, "Line 1"),
        ({"embedded": "n = " + "x" * 1025}, "longer than 1024"),
    ],
)
def test_contact_form_errors_are_inline(browser, directory, data, message):
    response = browser.post(reverse("directory:contact-create"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Contact.objects.exists()


def test_contact_page_shows_timeline_newest_first_and_lists(browser, jane, directory):
    vip = actions.create_mailing_list(directory, "VIP")
    actions.add_to_mailing_list(vip, jane)
    # Values with a space: a random token on the page (CSRF, ids) never holds one.
    actions.add_transaction(jane, "2026-01-01 00:00:00", {"store": "Old store"})
    actions.add_transaction(jane, "2026-06-01 00:00:00", {"store": "New store"})
    page = browser.get(reverse("directory:contact", args=[jane.public_id]))
    text = page.content.decode()
    assert text.index("New store") < text.index("Old store")
    assert "VIP" in text and "/directory/opt-out/" in text


def test_edit_contact_removes_embedded_fields_not_kept(browser, jane):
    data = {
        "firstName": "Janet",
        "lastName": "Doe",
        "email": "jane@example.com",
        "embedded": "Tier = Gold",
    }
    browser.post(reverse("directory:contact-edit", args=[jane.public_id]), data)
    jane.refresh_from_db()
    assert jane.first_name == "Janet"
    assert jane.embedded_data == {"Tier": "Gold"}


def test_unsubscribe_resubscribe_delete(browser, jane):
    url = reverse("directory:contact-unsubscribe", args=[jane.public_id])
    browser.post(url)
    jane.refresh_from_db()
    assert jane.unsubscribed
    browser.post(url, {"resubscribe": "1"})
    jane.refresh_from_db()
    assert not jane.unsubscribed
    browser.post(reverse("directory:contact-delete", args=[jane.public_id]))
    assert not Contact.objects.exists()


def test_mailing_lists_pages(browser, jane, directory):
    response = browser.post(reverse("directory:lists"), {"name": "VIP"}, follow=True)
    vip = MailingList.objects.get()
    assert "VIP" in response.content.decode()
    browser.post(
        reverse("directory:contact-add-to-list", args=[jane.public_id]), {"list": vip.public_id}
    )
    listing = browser.get(reverse("directory:lists")).content.decode()
    assert "VIP" in listing
    detail = browser.get(reverse("directory:list", args=[vip.public_id]))
    assert [c.pk for c in detail.context["contacts"]] == [jane.pk]
    assert "1 contact" in detail.content.decode()
    error = browser.post(reverse("directory:lists"), {"name": ""})
    assert "This field is required" in error.content.decode()
    browser.post(reverse("directory:list-remove", args=[vip.public_id, jane.public_id]))
    vip.refresh_from_db()
    assert vip.contact_count == 0
    browser.post(reverse("directory:list-delete", args=[vip.public_id]))
    assert not MailingList.objects.exists()


def test_settings_dedup_rules_with_inline_errors(browser, directory):
    url = reverse("directory:settings")
    base = {"form": "settings", "name": "Customers", "default_phone_region": "gb"}
    browser.post(url, {**base, "rule1": "firstName, lastName", "rule2": "email"})
    directory.refresh_from_db()
    assert directory.dedup_rules == [["firstName", "lastName"], ["email"]]
    assert (directory.name, directory.default_phone_region) == ("Customers", "GB")
    bad = browser.post(url, {**base, "default_phone_region": "XX", "rule1": "email"})
    assert "is not a phone region" in bad.content.decode()
    empty = browser.post(url, {**base, "rule1": ""})
    assert "Give at least one rule" in empty.content.decode()
    twice = browser.post(url, {**base, "rule1": "email, email"})
    assert "names a field twice" in twice.content.decode()
    directory.refresh_from_db()
    assert directory.dedup_rules == [["firstName", "lastName"], ["email"]]


def test_settings_frequency_rules(browser, directory):
    url = reverse("directory:settings")
    vip = actions.create_mailing_list(directory, "VIP")
    base = {"form": "frequency", "channel": "email", "scope": "directory"}
    browser.post(url, {**base, "max_messages": "2", "period_days": "30"})
    browser.post(
        url, {**base, "scope": "list", "mailing_list": vip.public_id, "min_days_between": "7"}
    )
    rules = list(FrequencyRule.objects.order_by("id"))
    assert [(r.scope, r.mailing_list_id) for r in rules] == [
        ("directory", None),
        ("mailing_list", vip.pk),
    ]
    bad = browser.post(url, {**base, "max_messages": "2"})
    assert "Give both a number of messages and a period" in bad.content.decode()
    no_survey = browser.post(url, {**base, "scope": "survey", "min_days_between": "1"})
    assert "Give the survey id" in no_survey.content.decode()
    assert FrequencyRule.objects.count() == 2
    page = browser.get(url).content.decode()
    assert "at most 2 in 30 days" in page
    browser.post(reverse("directory:frequency-rule-delete", args=[rules[0].pk]))
    assert FrequencyRule.objects.count() == 1
