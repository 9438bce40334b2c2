"""upsert_contact / update_contact / delete_contact against the database."""

import pytest
from django.db.models import Q

from closeloop.directory import actions
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.models import Contact
from closeloop.directory.tests.factories import make_directory

pytestmark = pytest.mark.django_db

JANE = {
    "firstName": "Jane",
    "lastName": "Doe",
    "email": "Jane.Doe@Example.com",
    "phone": "(415) 555-0123",
    "extRef": "user_48213",
    "language": "EN",
}


@pytest.fixture
def directory(org_a):
    return make_directory(org_a[0])


def test_a_new_contact_keeps_values_as_given_and_their_match_forms(directory):
    contact, created = actions.upsert_contact(directory, JANE, {"plan": "Pro", "seats": 12})
    assert created
    contact.refresh_from_db()
    assert contact.public_id.startswith("CID_")
    assert contact.organization_id == directory.organization_id
    assert (contact.first_name, contact.email, contact.phone) == (
        "Jane",
        "Jane.Doe@Example.com",
        "(415) 555-0123",
    )
    assert contact.email_normalized == "jane.doe@example.com"
    assert contact.phone_e164 == "+14155550123"
    assert contact.ext_ref_normalized == "user_48213"
    assert contact.first_name_normalized == "jane"
    assert contact.embedded_data == {"plan": "Pro", "seats": "12"}
    assert contact.can_receive_sms


def test_an_unparseable_phone_is_kept_but_gets_no_sms(directory):
    contact, _ = actions.upsert_contact(directory, {"email": "a@example.com", "phone": "ext. 12"})
    assert contact.phone == "ext. 12"
    assert contact.phone_e164 == ""
    assert not contact.can_receive_sms


def test_the_phone_region_of_the_directory_is_used(org_a):
    directory = make_directory(org_a[0], default_phone_region="GB")
    contact, _ = actions.upsert_contact(directory, {"phone": "020 7946 0958"})
    assert contact.phone_e164 == "+442079460958"


def test_same_ext_ref_matches_and_non_empty_values_win(directory):
    first, _ = actions.upsert_contact(directory, JANE, {"Location": "Berlin", "Tier": "Gold"})
    again, created = actions.upsert_contact(
        directory,
        {"extRef": " USER_48213 ", "firstName": "Janet", "lastName": "", "email": None},
        {"Tier": "Platinum", "tier": "x", "Location": ""},
    )
    assert not created and again.pk == first.pk
    again.refresh_from_db()
    assert again.first_name == "Janet"
    assert again.last_name == "Doe"
    assert again.email == "Jane.Doe@Example.com"
    assert again.embedded_data == {"Location": "Berlin", "Tier": "Platinum", "tier": "x"}
    assert Contact.objects.count() == 1


def test_email_matches_when_no_ext_ref_is_given(directory):
    first, _ = actions.upsert_contact(directory, JANE)
    again, created = actions.upsert_contact(directory, {"email": "JANE.DOE@example.com"})
    assert not created and again.pk == first.pk


def test_a_different_ext_ref_with_the_same_email_matches_by_the_email_rule(directory):
    first, _ = actions.upsert_contact(directory, JANE)
    again, created = actions.upsert_contact(
        directory, {"extRef": "other", "email": "jane.doe@example.com"}
    )
    assert not created and again.pk == first.pk
    again.refresh_from_db()
    assert again.ext_ref == "other"  # the non-empty incoming value wins


def test_nothing_to_match_on_creates(directory):
    actions.upsert_contact(directory, {"firstName": "Jane"})
    _, created = actions.upsert_contact(directory, {"firstName": "Jane"})
    assert created
    assert Contact.objects.count() == 2


def test_rules_with_several_fields_and_embedded_data(directory):
    actions.update_directory_settings(
        directory, dedup_rules=[["firstName", "lastName", "phone"], ["Customer ID"]]
    )
    first, _ = actions.upsert_contact(
        directory, {"firstName": "Jane", "lastName": "Doe", "phone": "+14155550123"}
    )
    same, created = actions.upsert_contact(
        directory, {"firstName": "JANE", "lastName": "doe", "phone": "415-555-0123"}
    )
    assert not created and same.pk == first.pk
    _other, created = actions.upsert_contact(
        directory, {"firstName": "Jane", "lastName": "Roe", "phone": "+14155550123"}
    )
    assert created
    tagged, _ = actions.upsert_contact(directory, {"firstName": "T"}, {"Customer ID": "AB-7"})
    found, created = actions.upsert_contact(directory, {}, {"Customer ID": " ab-7"})
    assert not created and found.pk == tagged.pk
    _, created = actions.upsert_contact(directory, {}, {"customer id": "ab-7"})
    assert created  # embedded data names are case-sensitive


def test_contacts_in_another_directory_never_match(org_a, directory):
    other = make_directory(org_a[0], name="Other")
    first, _ = actions.upsert_contact(directory, JANE)
    second, created = actions.upsert_contact(other, JANE)
    assert created and second.pk != first.pk


def test_unsubscribed_true_opts_out_and_false_does_not_resubscribe(directory):
    contact, _ = actions.upsert_contact(directory, {**JANE, "unsubscribed": True})
    assert contact.unsubscribed and contact.unsubscribed_at is not None
    again, _ = actions.upsert_contact(directory, {**JANE, "unsubscribed": False})
    again.refresh_from_db()
    assert again.unsubscribed
    updated = actions.update_contact(again, {"unsubscribed": False})
    assert not updated.unsubscribed and updated.unsubscribed_at is None


@pytest.mark.parametrize(
    ("fields", "embedded", "message"),
    [
        ({"email": "not-an-email"}, {}, "not a valid email"),
        ({"firstName": "x" * 201}, {}, "longer than 200"),
        ({"unsubscribed": "perhaps"}, {}, "true or false"),
        ({"firstName": "Jane"}, {"n": "x" * 1025}, "longer than 1024"),
        ({"firstName": "Jane"}, {"x" * 201: "v"}, "longer than 200"),
    ],
)
def test_bad_input_changes_nothing(directory, fields, embedded, message):
    actions.upsert_contact(directory, JANE)
    before = list(Contact.objects.values())
    with pytest.raises(InvalidValue, match=message):
        actions.upsert_contact(directory, {**JANE, **fields}, embedded)
    assert list(Contact.objects.values()) == before


def test_upsert_adds_to_the_mailing_list_once(directory):
    vip = actions.create_mailing_list(directory, "VIP")
    actions.upsert_contact(directory, JANE, mailing_list=vip)
    actions.upsert_contact(directory, JANE, mailing_list=vip)
    vip.refresh_from_db()
    assert vip.contact_count == 1
    assert vip.memberships.count() == 1


def test_a_list_of_another_directory_is_refused(org_a, directory):
    other_list = actions.create_mailing_list(make_directory(org_a[0], name="Other"), "L")
    with pytest.raises(InvalidValue, match="another directory"):
        actions.upsert_contact(directory, JANE, mailing_list=other_list)
    assert Contact.objects.count() == 0


def test_update_sets_given_fields_clears_empty_ones_and_merges_embedded_data(directory):
    contact, _ = actions.upsert_contact(directory, JANE, {"a": "1", "b": "2"})
    updated = actions.update_contact(
        contact, {"lastName": "", "email": "new@example.com"}, {"b": "3", "c": "4"}
    )
    updated.refresh_from_db()
    assert updated.last_name == "" and updated.last_name_normalized == ""
    assert updated.email_normalized == "new@example.com"
    assert updated.first_name == "Jane"
    assert updated.embedded_data == {"a": "1", "b": "3", "c": "4"}
    trimmed = actions.remove_embedded_data(updated, ["a"])
    assert trimmed.embedded_data == {"b": "3", "c": "4"}


def test_delete_contact_updates_list_counts(directory):
    vip = actions.create_mailing_list(directory, "VIP")
    contact, _ = actions.upsert_contact(directory, JANE, mailing_list=vip)
    actions.add_transaction(contact, "2026-11-21 10:02:44", {"store": "Berlin"})
    actions.delete_contact(contact)
    vip.refresh_from_db()
    assert vip.contact_count == 0
    assert not Contact.objects.filter(Q(pk=contact.pk)).exists()


def test_dedup_rules_are_validated(directory):
    with pytest.raises(InvalidValue, match="At most 3"):
        actions.update_directory_settings(directory, dedup_rules=[["a"], ["b"], ["c"], ["d"]])
    with pytest.raises(InvalidValue, match="phone region"):
        actions.update_directory_settings(directory, default_phone_region="XX")
    directory.refresh_from_db()
    assert directory.dedup_rules == [["extRef"], ["email"]]


def test_default_directory_is_created_once(org_a, org_b):
    first = actions.default_directory(org_a[0])
    assert actions.default_directory(org_a[0]) == first
    assert actions.default_directory(org_b[0]) != first
    assert first.is_default
