"""Organization-scoped reads for the XM Directory. Every read takes the organization first.

Lookups by public id answer None for ids of another organization, exactly as for unknown
ids, so that callers cannot tell the two apart.
"""

from __future__ import annotations

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
    if "=" in term and not term.startswith("="):
        name, _, value = term.partition("=")
        return [Q(Exact(KeyTextTransform(name.strip(), "embedded_data"), value.strip()))]
    folded = dedup.normalize_text(term)
    condition = (
        Q(email_normalized=dedup.normalize_field("email", term))
        | Q(ext_ref_normalized__startswith=folded)
        | Q(first_name_normalized__startswith=folded)
        | Q(last_name_normalized__startswith=folded)
    )
    if "@" in folded:
        condition |= Q(email_normalized__startswith=folded)
    phone = dedup.normalize_phone(term, region)
    if phone:
        condition |= Q(phone_e164=phone)
    parts = folded.split()
    if len(parts) == 2:
        condition |= Q(first_name_normalized=parts[0], last_name_normalized__startswith=parts[1])
    return [condition, Q(embedded_data__has_value=term)]


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
    found = {row.pk: row for page in pages for row in page}
    rows = [found[pk] for pk in sorted(found)][: limit + 1]
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].pk
    return rows, None


def filtered_contacts(organization, directory: Directory, condition: Q, *, after_id=0, limit=100):
    contacts = Contact.objects.filter(organization=organization, directory=directory)
    rows = list(contacts.filter(condition, id__gt=after_id).order_by("id")[: limit + 1])
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].pk
    return rows, None


def memberships_of(contact: Contact):
    return (
        MailingListMembership.objects.select_related("mailing_list")
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
        MailingList.objects.filter(
            organization=organization, directory=directory, id__gt=after_id
        ).order_by("id")[: limit + 1]
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
