"""The contacts list: search terms and keyset pages."""

import pytest

from closeloop.directory import actions, queries
from closeloop.directory.tests.factories import make_directory

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory(org_a):
    directory = make_directory(org_a[0])
    people = [
        ("Jane", "Doe", "jane@example.com", "+14155550123", "user_1", {"Store": "Berlin"}),
        ("John", "Smith", "john@example.com", "", "user_2", {"Store": "Paris"}),
        ("Émile", "Zola", "emile@example.fr", "", "EXT-9", {}),
    ]
    for first, last, email, phone, ext_ref, embedded in people:
        actions.upsert_contact(
            directory,
            {
                "firstName": first,
                "lastName": last,
                "email": email,
                "phone": phone,
                "extRef": ext_ref,
            },
            embedded,
        )
    return directory


def names(organization, directory, term):
    rows, _ = queries.contacts_page(organization, directory, search=term)
    return [row.first_name for row in rows]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("JANE@example.com", ["Jane"]),
        ("john@", ["John"]),
        ("(415) 555-0123", ["Jane"]),
        ("user_", ["Jane", "John"]),
        ("ext-9", ["Émile"]),
        ("jo", ["John"]),
        ("émile", ["Émile"]),
        ("smi", ["John"]),
        ("jane do", ["Jane"]),
        ("Store=Paris", ["John"]),
        ("store=Paris", []),
        ("nobody", []),
        ("", ["Jane", "John", "Émile"]),
    ],
)
def test_search(org_a, directory, term, expected):
    assert names(org_a[0], directory, term) == expected


def test_keyset_pages_walk_every_contact_once(org_a, directory):
    seen, cursor = [], 0
    while True:
        rows, cursor = queries.contacts_page(org_a[0], directory, after_id=cursor, limit=2)
        seen.extend(row.first_name for row in rows)
        if cursor is None:
            break
    assert seen == ["Jane", "John", "Émile"]


def test_page_size_is_clamped():
    assert queries.clamp_page_size("0") == 1
    assert queries.clamp_page_size(1000) == 100
    assert queries.clamp_page_size("abc", default=50) == 50
