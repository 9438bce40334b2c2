"""The contacts list: search terms and keyset pages."""

import pytest

from closeloop.directory import actions, queries
from closeloop.directory.models import Contact
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
        ("Paris", ["John"]),
        ("Berlin", ["Jane"]),
        ("berlin", []),
        ('Be"rlin', []),
        ("store=Paris", []),
        ("nobody", []),
        ("us%", []),
        ("u_er", []),
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


def test_embedded_values_with_quotes_and_accents(org_a, directory):
    actions.upsert_contact(directory, {"firstName": "Q"}, {"Note": 'say "hi" \\ café'})
    assert names(org_a[0], directory, 'say "hi" \\ café') == ["Q"]


def test_postgresql_answers_embedded_value_search_from_the_gin_index(org_a, directory):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the GIN index exists on PostgreSQL only")
    query = Contact.objects.filter(embedded_data__has_value="Paris")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "contact_embedded_gin" in plan


def test_search_within_a_mailing_list(org_a, directory):
    vip = actions.create_mailing_list(directory, "VIP")
    john = Contact.objects.get(directory=directory, first_name="John")
    actions.add_to_mailing_list(vip, john)
    rows, _ = queries.contacts_page(org_a[0], directory, search="Paris", mailing_list=vip)
    assert [row.first_name for row in rows] == ["John"]
    rows, _ = queries.contacts_page(org_a[0], directory, search="Berlin", mailing_list=vip)
    assert rows == []


def test_a_contact_matching_both_parts_of_a_search_is_listed_once(org_a, directory):
    actions.upsert_contact(directory, {"firstName": "Paris", "email": "p@example.com"})
    actions.upsert_contact(directory, {"firstName": "Parisa"}, {"City": "Paris"})
    assert names(org_a[0], directory, "paris") == ["Paris", "Parisa"]
    assert names(org_a[0], directory, "Paris") == ["John", "Paris", "Parisa"]


def test_search_pages_walk_every_match_once(org_a, directory):
    for number in range(5):
        actions.upsert_contact(directory, {"firstName": f"Jo{number}"}, {"Team": "Jo"})
    seen, cursor = [], 0
    while True:
        rows, cursor = queries.contacts_page(
            org_a[0], directory, search="jo", after_id=cursor, limit=2
        )
        seen.extend(row.first_name for row in rows)
        if cursor is None:
            break
    assert seen == ["John", "Jo0", "Jo1", "Jo2", "Jo3", "Jo4"]


@pytest.mark.parametrize(
    "term",
    ["JANE@example.com", "john@", "(415) 555-0123", "user_", "u_er", "jane do", "Paris", "jo"],
)
def test_the_search_sql_text_finds_what_the_orm_query_finds(org_a, org_b, directory, term):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the search SQL text is PostgreSQL's")
    actions.upsert_contact(directory, {"firstName": "Jo", "email": "jo@example.com"}, {"X": "jo"})
    other = make_directory(org_b[0])
    actions.upsert_contact(other, {"firstName": "John", "email": "john@example.com"})
    for after_id in (0, Contact.objects.filter(directory=directory).order_by("id")[0].pk):
        by_sql = queries.search_page(org_a[0], directory, term, after_id, 50)
        by_orm = queries.orm_pages(org_a[0], directory, after_id, 50, term, None)
        assert {row.pk for row in by_sql} == {row.pk for page in by_orm for row in page}
    assert not list(queries.search_page(org_b[0], directory, term, 0, 50))
