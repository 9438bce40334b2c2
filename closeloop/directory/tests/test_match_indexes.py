"""Dedup rules that begin with an embedded data field get an index of their own (PostgreSQL)."""

import pytest
from django.db import connection

import closeloop.directory.jobs  # noqa: F401 - registers the handlers
from closeloop.directory import actions, dedup, match_indexes
from closeloop.directory.actions import matching
from closeloop.directory.models import Contact
from closeloop.directory.tests.factories import make_directory
from closeloop.jobs.models import Job
from closeloop.jobs.worker import Worker

CUSTOMER_RULES = [["CustomerId"], ["email"]]


def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (rule indexes are PostgreSQL's)")


def _run_jobs():
    worker = Worker()
    while worker.run_once():
        pass


def _fill(directory, count: int) -> None:
    Contact.objects.bulk_create(
        Contact(
            organization_id=directory.organization_id,
            directory=directory,
            public_id=f"CID_{directory.pk:04d}{number:011d}",
            email=f"person{number}@example.com",
            email_normalized=f"person{number}@example.com",
            embedded_data={"CustomerId": f"C-{number:06d}", "Tier": "Gold"},
        )
        for number in range(count)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Contact._meta.db_table}")


def _plan(directory, value: str) -> str:
    lookup = next(iter(dedup.lookups([["CustomerId"]], {}, {"CustomerId": value}, "US")))
    aliases, conditions = matching.lookup_filter(lookup)
    queryset = directory.contacts.alias(**aliases).filter(conditions)
    return queryset.explain()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_rule_on_an_embedded_field_is_indexed_and_used(org_a):
    _needs_postgres()
    directory = make_directory(org_a[0])
    _fill(directory, 5000)
    name = match_indexes.index_name(directory.pk, "CustomerId")

    actions.update_directory_settings(directory, dedup_rules=CUSTOMER_RULES)
    assert Job.objects.filter(kind=actions.MATCH_INDEX_JOB).count() == 1
    _run_jobs()

    assert match_indexes.existing(directory.pk) == {name: True}
    assert name in _plan(directory, " c-000123 ")
    found = actions.find_duplicate(
        directory, dedup.lookups(CUSTOMER_RULES, {}, {"CustomerId": " c-004321 "}, "US")[0]
    )
    assert found.embedded_data["CustomerId"] == "C-004321"
    # An upsert matches through it: merged, not duplicated.
    contact, created = actions.upsert_contact(directory, {}, {"CustomerId": "C-000007"})
    assert not created and contact.email == "person7@example.com"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_changing_the_rules_drops_what_they_no_longer_need_in_that_directory_only(org_a, org_b):
    _needs_postgres()
    first, second = make_directory(org_a[0]), make_directory(org_b[0])
    for directory in (first, second):
        actions.update_directory_settings(directory, dedup_rules=CUSTOMER_RULES)
    _run_jobs()
    assert list(match_indexes.existing(first.pk)) == [
        match_indexes.index_name(first.pk, "CustomerId")
    ]

    actions.update_directory_settings(first, dedup_rules=[["Account Number"], ["email"]])
    _run_jobs()
    assert list(match_indexes.existing(first.pk)) == [
        match_indexes.index_name(first.pk, "Account Number")
    ]
    actions.update_directory_settings(first, dedup_rules=[["extRef"], ["email"]])
    _run_jobs()
    assert match_indexes.existing(first.pk) == {}
    assert list(match_indexes.existing(second.pk)) == [
        match_indexes.index_name(second.pk, "CustomerId")
    ]
    # Saving the same rules again queues nothing.
    jobs = Job.objects.filter(kind=actions.MATCH_INDEX_JOB).count()
    actions.update_directory_settings(first, dedup_rules=[["extRef"], ["email"]])
    assert Job.objects.filter(kind=actions.MATCH_INDEX_JOB).count() == jobs


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_field_name_with_quotes_and_an_invalid_build_are_handled(org_a):
    _needs_postgres()
    directory = make_directory(org_a[0])
    field = 'Customer\'s "Id"; DROP TABLE x'
    directory.dedup_rules = [[field]]
    directory.save()
    assert match_indexes.sync(directory.pk)["created"] == [
        match_indexes.index_name(directory.pk, field)
    ]
    name = match_indexes.index_name(directory.pk, field)
    # What a failed CREATE INDEX CONCURRENTLY leaves behind: an index marked invalid.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", [name]
        )
    assert match_indexes.existing(directory.pk) == {name: False}
    assert match_indexes.sync(directory.pk) == {"created": [name], "dropped": [name]}
    assert match_indexes.existing(directory.pk) == {name: True}
    contact, created = actions.upsert_contact(directory, {}, {field: "X1"})
    again, created_again = actions.upsert_contact(directory, {}, {field: " x1 "})
    assert created and not created_again and again.pk == contact.pk


@pytest.mark.django_db
def test_on_sqlite_rules_on_embedded_fields_queue_no_index_and_still_match(org_a):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite behaviour")
    directory = make_directory(org_a[0])
    actions.update_directory_settings(directory, dedup_rules=CUSTOMER_RULES)
    assert not Job.objects.filter(kind=actions.MATCH_INDEX_JOB).exists()
    contact, _ = actions.upsert_contact(directory, {}, {"CustomerId": "C-1"})
    again, created = actions.upsert_contact(directory, {}, {"CustomerId": " c-1 "})
    assert not created and again.pk == contact.pk


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_settings_page_says_whether_the_index_is_ready(client, org_a):
    _needs_postgres()
    organization, user = org_a
    directory = make_directory(organization)
    client.force_login(user)
    page = client.post(
        f"/directory/settings/?directory={directory.public_id}",
        {
            "form": "settings",
            "directory": directory.public_id,
            "name": directory.name,
            "default_phone_region": "US",
            "rule1": "CustomerId",
            "rule2": "email",
        },
        follow=True,
    )
    assert "CustomerId</strong>: index being built" in page.content.decode()
    _run_jobs()
    page = client.get(f"/directory/settings/?directory={directory.public_id}")
    assert "CustomerId</strong>: indexed" in page.content.decode()
