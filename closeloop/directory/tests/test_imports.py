"""CSV import: the bulk upsert equals one-by-one upserts; reports; resuming; the job; export."""

import contextlib
import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closeloop.directory import actions, chunks, import_files, imports
from closeloop.directory.actions import matching
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.models import Contact, ContactImport, ImportStatus
from closeloop.directory.tests.factories import make_directory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def directory(org_a):
    return make_directory(org_a[0])


def upload(text: str, name="contacts.csv"):
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def snapshot(directory):
    return sorted(
        (
            c.first_name,
            c.last_name,
            c.email,
            c.phone,
            c.ext_ref,
            c.unsubscribed,
            sorted(c.embedded_data.items()),
        )
        for c in Contact.objects.filter(directory=directory)
    )


# The bulk upsert -----------------------------------------------------------------------------

names = st.sampled_from(["", "Ann", "ann", "Bob"])
emails = st.sampled_from(["", "a@example.com", "A@example.com", "b@example.com", "bad@"])
refs = st.sampled_from(["", "X1", "x1 ", "X2"])
rows = st.lists(
    st.tuples(names, emails, refs, st.sampled_from(["", "Gold", "Blue"]), st.booleans()),
    max_size=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=rows,
    rules=st.sampled_from(
        [[["extRef"], ["email"]], [["email"], ["firstName"]], [["firstName", "Tier"]]]
    ),
)
def test_bulk_upsert_equals_one_by_one(org_a, rows, rules):
    one_by_one = make_directory(org_a[0], name="a", is_default=False, dedup_rules=rules)
    bulk = make_directory(org_a[0], name="b", is_default=False, dedup_rules=rules)
    expected = []
    payload = []
    for first, email, ref, tier, unsubscribed in rows:
        fields = {"firstName": first, "email": email, "extRef": ref, "unsubscribed": unsubscribed}
        embedded = {"Tier": tier}
        payload.append((fields, embedded))
        try:
            _contact, created = actions.upsert_contact(one_by_one, fields, embedded)
            expected.append("created" if created else "matched")
        except InvalidValue:
            expected.append("rejected")
    outcomes = actions.upsert_contacts_bulk(bulk, payload)
    got = [o if o in ("created", "rejected") else "matched" for o, _c, _r in outcomes]
    assert got == expected
    assert snapshot(bulk) == snapshot(one_by_one)


phones = st.sampled_from(["", "+14155550123", "(415) 555-0123", "+44 20 7946 0958", "123"])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stored=st.lists(st.tuples(emails, refs, phones, st.sampled_from(["", "Gold"])), max_size=4),
    incoming=st.lists(
        st.tuples(emails, refs, phones, st.sampled_from(["", "Blue", "Gold"])), max_size=6
    ),
    rules=st.sampled_from([[["extRef"], ["email"]], [["phone"]], [["email", "phone"]]]),
)
def test_bulk_merges_into_stored_contacts_as_one_by_one(org_a, stored, incoming, rules):
    """Stored contacts updated by a chunk (PostgreSQL: one UPDATE … FROM a COPY) end up as
    one-by-one upserts leave them."""
    one_by_one = make_directory(org_a[0], name="a", is_default=False, dedup_rules=rules)
    bulk = make_directory(org_a[0], name="b", is_default=False, dedup_rules=rules)

    def row(email, ref, phone, tier):
        return {"email": email, "extRef": ref, "phone": phone}, {"Tier": tier}

    for values in stored:
        for directory in (one_by_one, bulk):
            with contextlib.suppress(InvalidValue):
                actions.upsert_contact(directory, *row(*values))
    expected = []
    for values in incoming:
        try:
            _contact, created = actions.upsert_contact(one_by_one, *row(*values))
            expected.append("created" if created else "matched")
        except InvalidValue:
            expected.append("rejected")
    outcomes = actions.upsert_contacts_bulk(bulk, [row(*values) for values in incoming])
    got = [o if o in ("created", "rejected") else "matched" for o, _c, _r in outcomes]
    assert got == expected
    assert snapshot(bulk) == snapshot(one_by_one)
    normalized = sorted(
        Contact.objects.filter(directory=bulk).values_list("email_normalized", "phone_e164")
    )
    assert normalized == sorted(
        Contact.objects.filter(directory=one_by_one).values_list("email_normalized", "phone_e164")
    )


def test_bulk_outcomes_and_reasons(directory):
    actions.upsert_contact(directory, {"email": "old@example.com", "firstName": "Old"})
    outcomes = actions.upsert_contacts_bulk(
        directory,
        [
            ({"email": "new@example.com"}, {}),
            ({"email": "old@example.com", "firstName": "Old"}, {}),
            ({"email": "old@example.com", "firstName": "Older"}, {}),
            ({"email": "nope"}, {}),
            ({"email": "NEW@example.com", "lastName": "Dup"}, {"k": "v"}),
        ],
    )
    assert [o for o, _c, _r in outcomes] == ["created", "skipped", "updated", "rejected", "updated"]
    assert "not a valid email" in outcomes[3][2]
    assert outcomes[4][1] is outcomes[0][1]
    assert Contact.objects.count() == 2


# The file import -----------------------------------------------------------------------------

CSV = (
    "First Name,Last Name,Email,Phone,External Data Reference,Store,contactId\n"
    "Jane,Doe,jane@example.com,(415) 555-0123,user_1,Berlin,CID_ignored\n"
    "John,Smith,not-an-email,,user_2,Paris,\n"
    "\n"
    "Janet,,JANE@example.com,,,Mitte,\n"
    "Too,Few,cells\n"
    "Ann,Lee,ann@example.com,,user_3,,\n"
)


def start(directory, text, **kwargs):
    return actions.start_import(directory, upload(text), **kwargs)


def test_import_report_with_row_numbers(directory, django_capture_on_commit_callbacks):
    vip = actions.create_mailing_list(directory, "VIP")
    contact_import = start(directory, CSV, mailing_list=vip)
    assert contact_import.status == ImportStatus.QUEUED and contact_import.job_id
    imports.run_import(contact_import, chunk_rows=2)
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.FINISHED
    assert contact_import.total_rows == 6
    assert contact_import.processed_rows == 6
    assert (
        contact_import.created_count,
        contact_import.updated_count,
        contact_import.skipped_count,
        contact_import.rejected_count,
    ) == (2, 1, 1, 2)
    assert [r["row"] for r in contact_import.rejections] == [3, 6]
    assert "not a valid email" in contact_import.rejections[0]["reason"]
    assert "3 cells; the header has 7" in contact_import.rejections[1]["reason"]
    assert contact_import.percent == 100
    jane = Contact.objects.get(email_normalized="jane@example.com")
    assert jane.first_name == "Janet" and jane.last_name == "Doe"
    assert jane.embedded_data == {"Store": "Mitte"}
    assert jane.phone_e164 == "+14155550123"
    vip.refresh_from_db()
    assert vip.contact_count == 2


def test_a_retried_import_resumes_after_the_last_committed_chunk(directory):
    contact_import = start(directory, CSV)
    contact_import.processed_rows = 2  # as if a worker died after the first chunk
    contact_import.save()
    imports.run_import(contact_import, chunk_rows=2)
    contact_import.refresh_from_db()
    assert contact_import.processed_rows == 6
    assert not Contact.objects.filter(ext_ref="user_1").exists()
    assert Contact.objects.filter(ext_ref="user_3").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("\n", "no header"),
        ("Email,email\nA@example.com,b@example.com\n", "both 'email'"),
        ("contactId\nCID_1\n", "No column"),
    ],
)
def test_files_that_cannot_be_imported_are_refused_at_once(directory, text, message):
    with pytest.raises(InvalidValue, match=message):
        start(directory, text)
    assert not ContactImport.objects.exists()


def test_a_file_that_is_not_utf8_fails_with_the_reason(directory):
    contact_import = start(directory, "email\n")
    contact_import.file.save("x.csv", io.BytesIO("email\nr\xe9my@example.com\n".encode("latin-1")))
    imports.run_import(contact_import)
    assert contact_import.status == ImportStatus.FAILED
    assert "not UTF-8" in contact_import.error


def test_the_job_handler_runs_the_import(directory):
    from closeloop.directory.jobs import import_contacts
    from closeloop.jobs.registry import PermanentError

    contact_import = start(directory, "email\na@example.com\n")
    import_contacts({"import_id": contact_import.pk}, None)
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.FINISHED
    assert contact_import.created_count == 1
    import_contacts({"import_id": contact_import.pk}, None)  # done: nothing twice
    assert Contact.objects.count() == 1
    with pytest.raises(PermanentError):
        import_contacts({"import_id": 0}, None)


def test_a_byte_order_mark_and_quoted_cells(directory):
    text = '\ufeffemail,Note\n"a@example.com","Hello, ""world""\nline two"\n'
    contact_import = start(directory, text)
    imports.run_import(contact_import)
    contact = Contact.objects.get()
    assert contact.embedded_data == {"Note": 'Hello, "world"\nline two'}


# Export --------------------------------------------------------------------------------------


def test_export_round_trips_and_neutralises_formulas(directory, org_a):
    actions.upsert_contact(
        directory,
        {"firstName": '=HYPERLINK("x")', "email": "a@example.com", "phone": "+14155550123"},
        {"Store": "Berlin"},
    )
    actions.upsert_contact(directory, {"email": "b@example.com"}, {"Tier": "Gold"})
    other = make_directory(org_a[0], name="Other")
    actions.upsert_contact(other, {"email": "c@example.com"})
    text = "".join(imports.export_rows(Contact.objects.filter(directory=directory)))
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == [
        "contactId",
        "firstName",
        "lastName",
        "email",
        "phone",
        "extRef",
        "language",
        "unsubscribed",
        "Store",
        "Tier",
    ]
    assert rows[1][1] == '\'=HYPERLINK("x")'
    assert rows[1][4] == "+14155550123"
    assert rows[1][8:] == ["Berlin", ""] and rows[2][8:] == ["", "Gold"]
    assert len(rows) == 3
    # Importing the export into a fresh directory gives the same people.
    fresh = make_directory(org_a[0], name="Fresh")
    imports.run_import(actions.start_import(fresh, upload(text)))
    assert Contact.objects.filter(directory=fresh).count() == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+1 (415) 555-0123", "+1 (415) 555-0123"),
        ("-12", "-12"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("@cmd", "'@cmd"),
        ("-2+3", "'-2+3"),
        ("plain", "plain"),
        (True, "true"),
    ],
)
def test_safe_cell(value, expected):
    assert imports.safe_cell(value) == expected


# Checking rows in a second process ------------------------------------------------------------

BIG_CSV = "First Name,Email,External Data Reference,Tier\n" + "".join(
    f"P{n},p{n % 40}@example.com,{'' if n % 3 else f'ref{n % 25}'},{'Gold' if n % 2 else ''}\n"
    + ("\n" if n % 17 == 0 else "")
    + ("Bad,not-an-address,,\n" if n % 29 == 0 else "")
    + ("Too,few\n" if n % 31 == 0 else "")
    for n in range(150)
)


def _report(contact_import):
    contact_import.refresh_from_db()
    return (
        contact_import.status,
        contact_import.error,
        contact_import.processed_rows,
        contact_import.created_count,
        contact_import.updated_count,
        contact_import.skipped_count,
        contact_import.rejected_count,
        contact_import.rejections,
    )


def _import_both_ways(org_a, monkeypatch, data: bytes, chunk_rows: int):
    results = []
    for parallel in (False, True):
        monkeypatch.setattr(imports, "PARALLEL_MIN_ROWS", 0 if parallel else 10**9)
        directory = make_directory(org_a[0], name=f"parallel {parallel}")
        contact_import = actions.start_import(
            directory, SimpleUploadedFile("c.csv", data, content_type="text/csv")
        )
        imports.run_import(contact_import, chunk_rows=chunk_rows)
        results.append((_report(contact_import), snapshot(directory)))
    return results


def test_rows_checked_in_a_second_process_import_the_same(org_a, monkeypatch):
    sequential, parallel = _import_both_ways(org_a, monkeypatch, BIG_CSV.encode(), chunk_rows=7)
    assert parallel == sequential
    report, contacts = parallel
    assert report[0] == ImportStatus.FINISHED and report[3] > 0 and report[4] > 0
    assert report[6] > 0 and contacts


# Import chunks (column by column) equal one-by-one upserts ------------------------------------

CHUNK_HEADER = ["First Name", "Email", "External Data Reference", "Phone", "Tier", "Unsubscribed"]
cells = st.tuples(
    st.sampled_from(["", "Ann", " ann", "Émile", "x" * 201]),
    st.sampled_from(["", "a@example.com", "A@Example.com ", "émile@example.com", "bad@", "b@x.io"]),
    st.sampled_from(["", "X1", "x1 ", "X2"]),
    st.sampled_from(["", "+14155550123", "(415) 555-0123", "123"]),
    st.sampled_from(["", "Gold", " Blue", "t\tab\\"]),
    st.sampled_from(["", "false", "true", "maybe"]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stored=st.lists(cells, max_size=4),
    incoming=st.lists(cells, max_size=10),
    rules=st.sampled_from(
        [[["extRef"], ["email"]], [["email"], ["firstName"]], [["firstName", "Tier"]], [["phone"]]]
    ),
)
def test_an_import_chunk_equals_one_by_one_upserts(org_a, stored, incoming, rules):
    """The import's chunk path (rows checked column by column, new rows written from the
    checking process's COPY text on PostgreSQL) leaves the directory as one-by-one upserts."""
    from closeloop.directory import chunks

    one_by_one = make_directory(org_a[0], name="a", is_default=False, dedup_rules=rules)
    bulk = make_directory(org_a[0], name="b", is_default=False, dedup_rules=rules)

    def fields(first, email, ref, phone, tier, unsubscribed):
        values = {"firstName": first, "email": email, "extRef": ref, "phone": phone}
        return {**values, "unsubscribed": unsubscribed}, {"Tier": tier} if tier.strip() else {}

    for row in stored:
        for directory in (one_by_one, bulk):
            with contextlib.suppress(InvalidValue):
                actions.upsert_contact(directory, *fields(*row))
    expected_counts = {"created": 0, "updated": 0, "skipped": 0}
    expected_rejected = []
    for number, row in enumerate(incoming, start=2):
        before = snapshot(one_by_one)
        try:
            _contact, created = actions.upsert_contact(one_by_one, *fields(*row))
        except InvalidValue as error:
            expected_rejected.append({"row": number, "reason": str(error)})
            continue
        changed = snapshot(one_by_one) != before
        expected_counts["created" if created else "updated" if changed else "skipped"] += 1
    plan = imports.column_plan(CHUNK_HEADER)
    lines = [(number, list(row)) for number, row in enumerate(incoming, start=2)]
    chunk = chunks.check_chunk_columns(lines, plan, rules, bulk.default_phone_region)
    counts = actions.upsert_import_chunk(bulk, chunk)
    assert chunk.rejected == expected_rejected
    assert counts == expected_counts
    assert snapshot(bulk) == snapshot(one_by_one)
    match_columns = (
        "email_normalized",
        "phone_e164",
        "ext_ref_normalized",
        "first_name_normalized",
    )
    assert sorted(Contact.objects.filter(directory=bulk).values_list(*match_columns)) == sorted(
        Contact.objects.filter(directory=one_by_one).values_list(*match_columns)
    )


def test_an_import_chunk_adds_every_row_contact_to_the_list(org_a):
    from closeloop.directory import chunks

    directory = make_directory(org_a[0], name="listed", is_default=False)
    actions.upsert_contact(directory, {"email": "old@example.com"})
    mailing_list = actions.create_mailing_list(directory, "Imported")
    plan = imports.column_plan(["Email", "First Name"])
    lines = [
        (2, ["old@example.com", "Old"]),
        (3, ["new@example.com", "New"]),
        (4, ["new@example.com", ""]),
    ]
    chunk = chunks.check_chunk_columns(lines, plan, directory.dedup_rules, "US")
    counts = actions.upsert_import_chunk(directory, chunk, mailing_list=mailing_list)
    assert counts == {"created": 1, "updated": 1, "skipped": 1}
    members = set(mailing_list.memberships.values_list("contact__email", flat=True))
    assert members == {"old@example.com", "new@example.com"}
    mailing_list.refresh_from_db()
    assert mailing_list.contact_count == 2


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"a,b",
        b"a,b\n",
        b"a,b\n1,2",
        b"a,b\n1,2\n\n3,4\n",
        b"\xef\xbb\xbfa,b\n1,2\n",
        b'a,b\n"1\n2",3\n',
        b"a,b\r\n1,2\r\n",
        b"a,b\r\n1,2\r\n3,4",
        b"a,b\r1,2\r",
        b"a,b\n1\r2,3\n",
        "a,b\nÉmile,Zola\n".encode(),
        b"a,b\n\xff,1\n",
        b"a\n" + b"x" * (2 << 20) + b"\n",
    ],
)
def test_counting_rows_agrees_with_reading_them(data):
    def counted_by_reading():
        try:
            return max(0, sum(1 for _ in imports.read_rows(io.BytesIO(data))) - 1)
        except imports.ImportProblem:
            return "problem"

    try:
        counted = imports.count_rows(io.BytesIO(data))
    except imports.ImportProblem:
        counted = "problem"
    assert counted == counted_by_reading()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab,é\n\r\"' ", max_size=12), max_size=6))
def test_counting_rows_of_any_text_agrees_with_reading_them(pieces):
    data = "\n".join(pieces).encode()
    try:
        expected = max(0, sum(1 for _ in imports.read_rows(io.BytesIO(data))) - 1)
    except imports.ImportProblem:
        return
    assert imports.count_rows(io.BytesIO(data)) == expected


def test_matching_ids_finds_any_text_of_a_chunk(org_a):
    """The chunk's probe values travel as one text split by the database (or an array when a
    value holds the separator): quotes, commas, braces and control characters survive."""
    directory = make_directory(org_a[0], name="odd", is_default=False)
    odd = ["a,b", 'q"uote', "{brace}", "back\\slash", "NULL", "", "unit\x1fsep", "ü"]
    stored = {}
    for value in odd:
        if value:
            contact, _ = actions.upsert_contact(directory, {"extRef": value})
            stored[value.casefold()] = contact.pk
    for values in ([v.casefold() for v in odd if "\x1f" not in v], [v.casefold() for v in odd]):
        found = matching.matching_ids(directory, ("extRef",), [sorted(values)])
        assert sorted(found) == sorted(stored[v] for v in values if v in stored)


def test_a_rule_of_standard_fields_is_probed_by_all_of_them(org_a):
    """A chunk finds the stored contacts that hold a row's whole key (the database picks the
    most selective index of the AND), not everyone who shares the rule's first field."""
    rules = [["firstName", "lastName", "email"]]
    directory = make_directory(org_a[0], name="names", is_default=False, dedup_rules=rules)
    for number in range(30):
        actions.upsert_contact(
            directory,
            {"firstName": "Jane", "lastName": "Doe", "email": f"jane{number}@example.com"},
        )
    wanted = [["jane", "jane"], ["doe", "doe"], ["jane7@example.com", "nobody@x.org"]]
    found = matching.matching_ids(directory, ("firstName", "lastName", "email"), wanted)
    assert [Contact.objects.get(pk=pk).email for pk in found] == ["jane7@example.com"]
    chunk = chunks.check_chunk_columns(
        [(2, ["JANE ", "doe", "Jane7@Example.com"]), (3, ["Jane", "Roe", "jane7@example.com"])],
        plan=imports.column_plan(["First Name", "Last Name", "Email"]),
        rules=rules,
        region="US",
    )
    assert chunk.probes == {
        ("firstName", "lastName", "email"): {
            ("jane", "doe", "jane7@example.com"),
            ("jane", "roe", "jane7@example.com"),
        }
    }
    counts = actions.upsert_import_chunk(directory, chunk)
    assert counts == {"created": 1, "updated": 1, "skipped": 0}  # "JANE " replaces "Jane"


def test_counting_rows_when_a_line_break_spans_two_blocks():
    head = b"a,b\r\n"
    filler = b"x," + b"y" * ((1 << 20) - len(head) - 3)  # its \r is the block's last byte
    data = head + filler + b"\r\n1,2\r\n"
    assert data[(1 << 20) - 1 : (1 << 20) + 1] == b"\r\n"
    assert imports.count_rows(io.BytesIO(data)) == 2
    assert import_files.count_plain_lines(io.BytesIO(data)) == 3


def test_a_chunk_crosses_processes_with_its_value_columns_unpickled_only_when_read():
    import pickle

    chunk = chunks.check_chunk_columns(
        [(2, ["Jane", "jane@example.com", "Gold"]), (3, ["Joe", "not an address", ""])],
        plan=imports.column_plan(["First Name", "Email", "Tier"]),
        rules=[["email"]],
        region="US",
    )
    received = pickle.loads(pickle.dumps(chunk))
    assert {"values", "normalized", "embedded"}.isdisjoint(vars(received))
    assert received.lines == chunk.lines and received.keys == chunk.keys
    again = pickle.loads(pickle.dumps(received))  # sent on before it was read
    for copy in (received, again):
        assert copy.row_values(0) == {"firstName": "Jane", "email": "jane@example.com"}
        assert copy.row_embedded(0) == {"Tier": "Gold"}
        assert copy == chunk
