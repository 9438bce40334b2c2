"""Organization-scoped reads for the XM Directory. Every read takes the organization first.

Lookups by public id answer None for ids of another organization, exactly as for unknown
ids, so that callers cannot tell the two apart.
"""

from __future__ import annotations

import functools

from django.db import connection
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact

from closeloop.directory import dedup
from closeloop.directory.models import (
    Contact,
    ContactImport,
    Directory,
    FrequencyRule,
    MailingList,
    MailingListMembership,
    Transaction,
    TransactionBatch,
    embedded_value_path,
)

MAX_PAGE = 100


def clamp_page_size(value, default: int = 100) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return max(1, min(MAX_PAGE, number))


# Directories ---------------------------------------------------------------------------------


def directories_of(organization):
    return Directory.objects.filter(organization=organization).order_by("-is_default", "id")


def directory(organization, public_id: str) -> Directory | None:
    return Directory.objects.filter(organization=organization, public_id=public_id).first()


def default_directory(organization) -> Directory | None:
    return directories_of(organization).first()


# Contacts ------------------------------------------------------------------------------------


def contact(organization, public_id: str, directory: Directory | None = None) -> Contact | None:
    contacts = Contact.objects.select_related("directory").filter(
        organization=organization, public_id=public_id
    )
    if directory is not None:
        contacts = contacts.filter(directory=directory)
    return contacts.first()


def contacts_by_public_ids(organization, directory: Directory, public_ids) -> dict[str, Contact]:
    rows = Contact.objects.filter(
        organization=organization, directory=directory, public_id__in=list(public_ids)
    )
    return {row.public_id: row for row in rows}


def search_condition(term: str, region: str = "US") -> Q:
    """What the search box matches, each through an index: the exact email or phone, the
    start of the extRef, first or last name, the exact value of any embedded data field;
    "Name=value" matches one embedded data field exactly."""
    combined = Q()
    for condition in search_conditions(term, region):
        combined |= condition
    return combined


def search_conditions(term: str, region: str = "US") -> list[Q]:
    """search_condition in parts that are each answered well by one plan: the standard fields
    (B-tree indexes, OR-ed), and the embedded data value (the GIN index). Together in one OR
    PostgreSQL would test the JSON path on every contact it walks in id order."""
    term = (term or "").strip()
    if not term:
        return []
    if _is_field_value(term):
        name, _, value = term.partition("=")
        return [Q(Exact(KeyTextTransform(name.strip(), "embedded_data"), value.strip()))]
    condition = Q()
    for alternative in _standard_alternatives(term, region):
        both = Q()
        for column, lookup, value in alternative:
            both &= Q(**{f"{column}__{lookup}": value})
        condition |= both
    return [condition, Q(embedded_data__has_value=term)]


def _is_field_value(term: str) -> bool:
    return "=" in term and not term.startswith("=")


def _standard_alternatives(term: str, region: str) -> list[tuple[tuple[str, str, str], ...]]:
    """The search box's standard-field matches: alternatives (OR) of (column, lookup, value)
    conditions (AND), lookup "exact" or "startswith"; one description for the ORM and the
    SQL text."""
    folded = dedup.normalize_text(term)
    alternatives = [
        (("email_normalized", "exact", dedup.normalize_field("email", term)),),
        (("ext_ref_normalized", "startswith", folded),),
        (("first_name_normalized", "startswith", folded),),
        (("last_name_normalized", "startswith", folded),),
    ]
    if "@" in folded:
        alternatives.append((("email_normalized", "startswith", folded),))
    phone = dedup.normalize_phone(term, region)
    if phone:
        alternatives.append((("phone_e164", "exact", phone),))
    parts = folded.split()
    if len(parts) == 2:
        alternatives.append(
            (
                ("first_name_normalized", "exact", parts[0]),
                ("last_name_normalized", "startswith", parts[1]),
            )
        )
    return alternatives


def contacts_page(
    organization,
    directory: Directory,
    *,
    after_id: int = 0,
    limit: int = 50,
    search: str = "",
    mailing_list: MailingList | None = None,
) -> tuple[list[Contact], int | None]:
    """One page of contacts in id order (keyset pagination, no COUNT), and the cursor of the
    next page (None on the last one). A search runs one query per part of its condition and
    merges them by id."""
    search = (search or "").strip()
    if search and mailing_list is None and _searches_with_sql_text(search):
        pages = [search_page(organization, directory, search, after_id, limit)]
    else:
        pages = orm_pages(organization, directory, after_id, limit, search, mailing_list)
    found = {row.pk: row for page in pages for row in page}
    rows = [found[pk] for pk in sorted(found)][: limit + 1]
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].pk
    return rows, None


def orm_pages(organization, directory, after_id, limit, search, mailing_list) -> list:
    contacts = Contact.objects.filter(organization=organization, directory=directory)
    if mailing_list is not None:
        contacts = contacts.filter(memberships__mailing_list=mailing_list)
    parts = [contacts]
    if search:
        conditions = search_conditions(search, directory.default_phone_region)
        parts = [contacts.filter(condition) for condition in conditions]
    pages = [part.filter(id__gt=after_id).order_by("id")[: limit + 1] for part in parts]
    if len(pages) > 1 and connection.features.supports_slicing_ordering_in_compound:
        pages = [pages[0].union(*pages[1:], all=True)]  # one round trip (PostgreSQL)
    return pages


def _searches_with_sql_text(term: str) -> bool:
    return connection.vendor == "postgresql" and not _is_field_value(term)


def search_page(organization, directory: Directory, term: str, after_id: int, limit: int):
    """The search box's matches in one SQL text built once per shape of the term: the ORM
    took ~3/4 of a search's time compiling the same UNION for every request."""
    alternatives = _standard_alternatives(term, directory.default_phone_region)
    groups = _search_groups(alternatives)
    shape = tuple(
        tuple(tuple((column, lookup) for column, lookup, _ in both) for both in group)
        for group in groups
    )
    like = connection.ops.prep_for_like_query
    scope, page = [directory.pk, organization.pk], [after_id, limit + 1]
    params = []
    for group in groups:
        values = [
            like(value) + "%" if lookup == "startswith" else value
            for both in group
            for _column, lookup, value in both
        ]
        params += [*scope, *values, *page]
    params += [*scope, embedded_value_path(term), *page]
    return Contact.objects.raw(_search_sql(shape), params)


def _search_groups(alternatives):
    """The alternatives as the parts of the search's UNION, each of which one plan answers
    well: the single-column matches OR-ed (B-tree probes, or a short walk in id order), and
    each match of several columns alone (a first name and the start of a last name walks
    that first name's contacts in id order, contact_dir_first_id, not the directory)."""
    single = [both for both in alternatives if len(both) == 1]
    return [single, *([both] for both in alternatives if len(both) > 1)]


@functools.cache
def _search_sql(shape: tuple[tuple[tuple[tuple[str, str], ...], ...], ...]) -> str:
    quote = connection.ops.quote_name
    compare = {"exact": "{} = %s", "startswith": "{}::text LIKE %s"}
    scope = f"{quote('directory_id')} = %s AND {quote('organization_id')} = %s"
    page = f"AND {quote('id')} > %s ORDER BY {quote('id')} LIMIT %s"
    table = quote(Contact._meta.db_table)
    parts = []
    for group in shape:
        matches = " OR ".join(
            "("
            + " AND ".join(compare[lookup].format(quote(column)) for column, lookup in both)
            + ")"
            for both in group
        )
        parts.append(f"(SELECT * FROM {table} WHERE {scope} AND ({matches}) {page})")
    parts.append(
        f"(SELECT * FROM {table} WHERE {scope} AND {quote('embedded_data')} @? %s::jsonpath {page})"
    )
    return " UNION ALL ".join(parts)


def filtered_contacts(organization, directory: Directory, condition: Q, *, after_id=0, limit=100):
    contacts = Contact.objects.filter(organization=organization, directory=directory)
    rows = list(contacts.filter(condition, id__gt=after_id).order_by("id")[: limit + 1])
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].pk
    return rows, None


def memberships_of(contact: Contact):
    return (
        MailingListMembership.objects.select_related("mailing_list__owner")
        .filter(contact=contact)
        .order_by("mailing_list__name")
    )


def transactions_of(contact: Contact, limit: int = 100, organization=None):
    """The contact's transactions, newest first (of `organization` only, when given)."""
    rows = Transaction.objects.select_related("mailing_list").filter(contact=contact)
    if organization is not None:
        rows = rows.filter(organization=organization)
    return rows.order_by("-transaction_date", "-id")[:limit]


# Mailing lists -------------------------------------------------------------------------------


def mailing_lists_of(organization, directory: Directory):
    return MailingList.objects.filter(organization=organization, directory=directory).order_by(
        "name", "id"
    )


def mailing_list(
    organization, public_id: str, directory: Directory | None = None
) -> MailingList | None:
    lists = MailingList.objects.select_related("directory").filter(
        organization=organization, public_id=public_id
    )
    if directory is not None:
        lists = lists.filter(directory=directory)
    return lists.first()


def mailing_lists_page(organization, directory: Directory, *, after_id=0, limit=100):
    rows = list(
        MailingList.objects.select_related("owner")
        .filter(organization=organization, directory=directory, id__gt=after_id)
        .order_by("id")[: limit + 1]
    )
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].pk
    return rows, None


def membership(mailing_list: MailingList, contact: Contact) -> MailingListMembership | None:
    return MailingListMembership.objects.filter(mailing_list=mailing_list, contact=contact).first()


# Transactions --------------------------------------------------------------------------------


def transaction(organization, public_id: str, directory: Directory | None = None):
    rows = Transaction.objects.select_related("contact", "mailing_list", "batch").filter(
        organization=organization, public_id=public_id
    )
    if directory is not None:
        rows = rows.filter(directory=directory)
    return rows.first()


def transactions_by_public_ids(organization, directory: Directory, public_ids):
    rows = Transaction.objects.filter(
        organization=organization, directory=directory, public_id__in=list(public_ids)
    )
    return {row.public_id: row for row in rows}


def transaction_batch(organization, public_id: str, directory: Directory | None = None):
    rows = TransactionBatch.objects.filter(organization=organization, public_id=public_id)
    if directory is not None:
        rows = rows.filter(directory=directory)
    return rows.first()


# Frequency rules -----------------------------------------------------------------------------


def frequency_rules_of(organization, directory: Directory):
    return FrequencyRule.objects.select_related("mailing_list").filter(
        organization=organization, directory=directory
    )


def frequency_rule(organization, directory: Directory, rule_id: int) -> FrequencyRule | None:
    return frequency_rules_of(organization, directory).filter(pk=rule_id).first()


# Imports -------------------------------------------------------------------------------------


def imports_of(organization, directory: Directory, limit: int = 20):
    return ContactImport.objects.select_related("mailing_list", "created_by").filter(
        organization=organization, directory=directory
    )[:limit]


def contact_import(organization, import_id: int) -> ContactImport | None:
    return (
        ContactImport.objects.select_related("directory", "mailing_list")
        .filter(organization=organization, pk=import_id)
        .first()
    )


def contacts_for_export(organization, directory: Directory, mailing_list=None):
    contacts = Contact.objects.filter(organization=organization, directory=directory)
    if mailing_list is not None:
        contacts = contacts.filter(memberships__mailing_list=mailing_list)
    return contacts
