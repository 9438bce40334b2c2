"""Mailing lists (counts, list-level unsubscribe) and transactions (never overwritten)."""

from datetime import UTC, datetime

import pytest

from closeloop.directory import actions, queries
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.models import MailingList, Transaction
from closeloop.directory.tests.factories import make_directory

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory(org_a):
    return make_directory(org_a[0])


@pytest.fixture
def jane(directory):
    return actions.upsert_contact(directory, {"email": "jane@example.com", "firstName": "Jane"})[0]


def test_list_lifecycle_and_counts(org_a, directory, jane):
    _organization, user = org_a
    vip = actions.create_mailing_list(directory, " VIP ", owner=user)
    assert vip.name == "VIP" and vip.public_id.startswith("CG_")
    assert actions.add_to_mailing_list(vip, jane)[1] is True
    assert actions.add_to_mailing_list(vip, jane)[1] is False
    vip.refresh_from_db()
    assert vip.contact_count == 1
    actions.update_mailing_list(vip, name="Gold")
    assert actions.remove_from_mailing_list(vip, jane) is True
    assert actions.remove_from_mailing_list(vip, jane) is False
    vip.refresh_from_db()
    assert (vip.name, vip.contact_count) == ("Gold", 0)
    actions.delete_mailing_list(vip)
    assert not MailingList.objects.exists()
    jane.refresh_from_db()  # the contact stays


@pytest.mark.parametrize("name", ["", "  ", "x" * 201])
def test_a_list_needs_a_sensible_name(directory, name):
    with pytest.raises(InvalidValue):
        actions.create_mailing_list(directory, name)


def test_list_level_unsubscribe_leaves_the_contact_subscribed(directory, jane):
    vip = actions.create_mailing_list(directory, "VIP")
    actions.add_to_mailing_list(vip, jane)
    actions.unsubscribe_contact(jane, mailing_list=vip)
    jane.refresh_from_db()
    assert not jane.unsubscribed
    membership = queries.membership(vip, jane)
    assert membership.unsubscribed and membership.unsubscribed_at is not None
    actions.unsubscribe_contact(jane)
    jane.refresh_from_db()
    assert jane.unsubscribed


def test_transactions_accumulate_and_are_listed_newest_first(directory, jane):
    vip = actions.create_mailing_list(directory, "VIP")
    first = actions.add_transaction(jane, "2026-11-20 09:00:00", {"store": "Mitte"}, vip)
    second = actions.add_transaction(jane, "2026-11-21T10:02:44Z", {"store": "Kreuzberg"})
    third = actions.add_transaction(jane, "2026-11-19T00:00:00+01:00", {"total": 149.9})
    assert first.public_id.startswith("CTR_")
    assert second.transaction_date == datetime(2026, 11, 21, 10, 2, 44, tzinfo=UTC)
    timeline = list(queries.transactions_of(jane))
    assert [t.pk for t in timeline] == [second.pk, first.pk, third.pk]
    assert Transaction.objects.get(pk=first.pk).data == {"store": "Mitte"}
    assert Transaction.objects.get(pk=third.pk).data == {"total": 149.9}


def test_bad_transactions_are_refused(org_a, directory, jane):
    with pytest.raises(InvalidValue, match="transactionDate"):
        actions.add_transaction(jane, "soon", {})
    with pytest.raises(InvalidValue):
        actions.add_transaction(jane, "2026-11-21 10:02:44", {"nested": {"a": 1}})
    other_list = actions.create_mailing_list(make_directory(org_a[0], name="Other"), "L")
    with pytest.raises(InvalidValue, match="another directory"):
        actions.add_transaction(jane, "2026-11-21 10:02:44", {}, other_list)
    assert not Transaction.objects.exists()


def test_batches(org_a, directory, jane):
    batch = actions.create_transaction_batch(directory)
    assert batch.public_id.startswith("BT_")
    one = actions.add_transaction(jane, "2026-11-21 10:02:44", {}, batch=batch)
    two = actions.add_transaction(jane, "2026-11-21 10:02:45", {})
    assert actions.add_to_batch(batch, [two]) == 1
    assert set(batch.transactions.values_list("pk", flat=True)) == {one.pk, two.pk}
    other_batch = actions.create_transaction_batch(make_directory(org_a[0], name="Other"))
    with pytest.raises(InvalidValue):
        actions.add_to_batch(other_batch, [one])


def test_upsert_contact_transaction_is_both_or_neither(directory, jane):
    vip = actions.create_mailing_list(directory, "VIP")
    contact, created, row = actions.upsert_contact_transaction(
        directory,
        {"email": "JANE@example.com"},
        {"Tier": "Gold"},
        "2026-11-21T10:02:44Z",
        {"store": "Berlin"},
        mailing_list=vip,
    )
    assert (contact.pk, created) == (jane.pk, False)
    assert row.contact_id == jane.pk and row.mailing_list_id == vip.pk
    _new, created, _row = actions.upsert_contact_transaction(
        directory, {"email": "new@example.com"}, None, "2026-11-21 10:02:44", {}
    )
    assert created
    with pytest.raises(InvalidValue):
        actions.upsert_contact_transaction(
            directory, {"email": "other@example.com"}, None, "not a date", {}
        )
    assert not queries.contacts_page(jane.organization, directory, search="other@example.com")[0]
