"""Concurrent upserts of the same person create one contact (advisory locks on PostgreSQL)."""

import threading

import pytest
from django.db import connection

from closeloop.directory import actions
from closeloop.directory.models import Contact
from closeloop.directory.tests.factories import make_directory


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_upserts_of_one_person_make_one_contact(org_a):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (SQLite serialises writers with BEGIN IMMEDIATE)")
    directory = make_directory(org_a[0])
    start = threading.Barrier(8)
    errors = []

    def upsert(number):
        try:
            start.wait()
            actions.upsert_contact(
                directory, {"email": "Jane@Example.com", "firstName": f"J{number}"}
            )
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=upsert, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Contact.objects.filter(directory=directory).count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_bulk_chunks_and_single_upserts_in_parallel_make_one_contact_each(org_a):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (SQLite serialises writers with BEGIN IMMEDIATE)")
    directory = make_directory(org_a[0])
    people = [({"email": f"p{n}@example.com"}, {}) for n in range(50)]
    start = threading.Barrier(6)
    errors = []

    def bulk():
        try:
            start.wait()
            actions.upsert_contacts_bulk(directory, people)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    def single(number):
        try:
            start.wait()
            for n in range(number, 50, 3):
                actions.upsert_contact(directory, {"email": f"P{n}@example.com"})
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=bulk) for _ in range(3)]
    threads += [threading.Thread(target=single, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Contact.objects.filter(directory=directory).count() == 50
