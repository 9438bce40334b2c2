"""Tenant isolation: every read in queries.py, with two organizations, sees only its own rows."""

import pytest

from closeloop.directory import actions, queries
from closeloop.directory.tests.factories import make_directory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_worlds(org_a, org_b):
    worlds = {}
    for key, (organization, user) in (("a", org_a), ("b", org_b)):
        directory = make_directory(organization)
        mailing_list = actions.create_mailing_list(directory, "VIP", owner=user)
        contact, _ = actions.upsert_contact(
            directory,
            {"email": "same@example.com", "firstName": "Sam", "extRef": "X1"},
            {"Tier": "Gold"},
            mailing_list=mailing_list,
        )
        batch = actions.create_transaction_batch(directory)
        row = actions.add_transaction(contact, "2026-11-21 10:02:44", {"k": key}, batch=batch)
        rule = actions.create_frequency_rule(directory, min_days_between=3)
        worlds[key] = {
            "organization": organization,
            "directory": directory,
            "list": mailing_list,
            "contact": contact,
            "batch": batch,
            "transaction": row,
            "rule": rule,
        }
    return worlds


def test_directories(two_worlds):
    a, b = two_worlds["a"], two_worlds["b"]
    assert list(queries.directories_of(a["organization"])) == [a["directory"]]
    assert queries.directory(a["organization"], b["directory"].public_id) is None
    assert queries.directory(a["organization"], a["directory"].public_id) == a["directory"]
    assert queries.default_directory(b["organization"]) == b["directory"]


def test_contacts(two_worlds):
    a, b = two_worlds["a"], two_worlds["b"]
    org = a["organization"]
    assert queries.contact(org, b["contact"].public_id) is None
    assert queries.contact(org, a["contact"].public_id) == a["contact"]
    assert queries.contact(org, a["contact"].public_id, b["directory"]) is None
    ids = [a["contact"].public_id, b["contact"].public_id]
    assert list(queries.contacts_by_public_ids(org, a["directory"], ids)) == [ids[0]]
    # Another organization's directory yields nothing, even when passed in by mistake.
    assert queries.contacts_page(org, b["directory"]) == ([], None)
    assert queries.contacts_page(org, a["directory"], search="same@example.com")[0] == [
        a["contact"]
    ]
    assert queries.filtered_contacts(org, b["directory"], queries.search_condition("Sam")) == (
        [],
        None,
    )


def test_lists(two_worlds):
    a, b = two_worlds["a"], two_worlds["b"]
    org = a["organization"]
    assert list(queries.mailing_lists_of(org, a["directory"])) == [a["list"]]
    assert list(queries.mailing_lists_of(org, b["directory"])) == []
    assert queries.mailing_list(org, b["list"].public_id) is None
    assert queries.mailing_list(org, a["list"].public_id) == a["list"]
    assert queries.mailing_lists_page(org, b["directory"]) == ([], None)
    assert queries.contacts_page(org, a["directory"], mailing_list=b["list"]) == ([], None)


def test_transactions_batches_and_rules(two_worlds):
    a, b = two_worlds["a"], two_worlds["b"]
    org = a["organization"]
    assert queries.transaction(org, b["transaction"].public_id) is None
    assert queries.transaction(org, a["transaction"].public_id) == a["transaction"]
    ids = [a["transaction"].public_id, b["transaction"].public_id]
    assert list(queries.transactions_by_public_ids(org, a["directory"], ids)) == [ids[0]]
    assert queries.transaction_batch(org, b["batch"].public_id) is None
    assert queries.transaction_batch(org, a["batch"].public_id) == a["batch"]
    assert list(queries.frequency_rules_of(org, b["directory"])) == []
    assert queries.frequency_rule(org, a["directory"], b["rule"].pk) is None
    assert queries.frequency_rule(org, a["directory"], a["rule"].pk) == a["rule"]


def test_same_email_in_two_organizations_is_two_contacts(two_worlds):
    assert two_worlds["a"]["contact"].pk != two_worlds["b"]["contact"].pk
