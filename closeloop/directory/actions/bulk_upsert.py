"""upsert_contact for many rows at once (integrations, and the rows of a CSV import already
checked), with the same dedup rules and the same result."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from closeloop.directory import chunks, dedup, locks
from closeloop.directory.actions.drafts import Draft, insert_contacts, update_contacts
from closeloop.directory.actions.fields import (
    FIELD_ATTRIBUTES,
    MATCH_COLUMNS,
    check_list,
    contact_values,
    merge_into,
)
from closeloop.directory.actions.lists import add_ids_to_list
from closeloop.directory.actions.matching import probed_ids
from closeloop.directory.models import Contact, Directory, MailingList


def _candidates(directory: Directory, found: list[list[dedup.Lookup]]) -> list[Contact]:
    """Existing contacts that may match any lookup of the chunk: one indexed query per rule
    (dedup.probe_fields), then the few found loaded and locked for update."""
    probes: dict[tuple[str, ...], set] = {}
    for lookups in found:
        for lookup in lookups:
            fields = dedup.probe_fields(field for field, _value in lookup.conditions)
            values = tuple(value for _field, value in lookup.conditions[: len(fields)])
            probes.setdefault(fields, set()).add(values[0] if len(fields) == 1 else values)
    ids = probed_ids(directory, probes)
    if not ids:
        return []
    return list(locks.contacts_for_update(directory).filter(pk__in=sorted(ids)).order_by("pk"))


def upsert_contacts_bulk(
    directory: Directory,
    rows: list[tuple[Mapping, Mapping | None]],
    *,
    mailing_list: MailingList | None = None,
    with_contacts: bool = True,
) -> list[tuple[str, Contact | None, str]]:
    """upsert_contact for many rows at once, with the same rules and the same result.

    Returns one (outcome, contact, reason) per row, in order: outcome is "created",
    "updated", "skipped" (matched, nothing new) or "rejected" (reason says why; nothing of
    that row is written). Rows that match each other are merged as they would be one by one.
    With `with_contacts=False` (the CSV import) the contacts are left out (None), which
    spares building a model instance per row. Call it inside a transaction (the import
    commits chunk by chunk).
    """
    checked = chunks.check_rows(rows, directory.dedup_rules, directory.default_phone_region)
    return upsert_checked_rows(
        directory,
        [row for row, _reason in checked],
        [reason for _row, reason in checked],
        mailing_list=mailing_list,
        with_contacts=with_contacts,
    )


def upsert_checked_rows(
    directory: Directory,
    rows: list[chunks.CheckedRow | None],
    reasons: list[str] | None = None,
    *,
    mailing_list: MailingList | None = None,
    with_contacts: bool = True,
) -> list[tuple[str, Contact | None, str]]:
    """upsert_contacts_bulk for rows already checked (chunks.check_rows, possibly in another
    process); None for a rejected row, its reason in `reasons`."""
    check_list(directory, mailing_list)
    region, rules = directory.default_phone_region, directory.dedup_rules
    reasons = reasons or [""] * len(rows)
    outcomes = [
        ("", None, "") if row is not None else ("rejected", None, reason)
        for row, reason in zip(rows, reasons, strict=True)
    ]
    found = [row.lookups if row is not None else [] for row in rows]
    now = timezone.now()
    with transaction.atomic():
        locks.lock_directory_dedup(directory)
        # key -> contacts having it; a contact's current keys and age rank, by identity. The
        # oldest contact wins, as in find_duplicate (stored ones by id, then new ones in order).
        index: dict[str, list] = {}
        current_keys: dict[int, set[str]] = {}
        rank: dict[int, tuple[int, int]] = {}

        def remember(contact, keys: set[str] | None = None) -> None:
            if keys is None:
                view_fields = contact_values(contact)
                keys = {
                    lookup.key
                    for lookup in dedup.lookups(rules, view_fields, contact.embedded_data, region)
                }
            current_keys[id(contact)] = keys
            if id(contact) not in rank:
                rank[id(contact)] = (0, contact.pk) if contact.pk else (1, len(rank))
            for key in keys:
                holders = index.setdefault(key, [])
                if contact not in holders:
                    holders.append(contact)

        def match(lookups: list[dedup.Lookup]):
            for lookup in lookups:
                holders = [
                    holder
                    for holder in index.get(lookup.key, ())
                    if lookup.key in current_keys[id(holder)]
                ]
                if holders:
                    return min(holders, key=lambda holder: rank[id(holder)])
            return None

        for existing in _candidates(directory, found):
            remember(existing)
        new: list[Draft] = []
        dirty: dict[int, Contact] = {}
        for position, row in enumerate(rows):
            if row is None:
                continue
            values, unsubscribe, embedded = row.values, row.unsubscribe, row.embedded
            contact = match(found[position])
            if contact is None:
                contact = Draft(directory, now)
                for name, value in values.items():
                    setattr(contact, FIELD_ATTRIBUTES[name], value)
                    if name in MATCH_COLUMNS:  # normalised when the row was checked
                        setattr(contact, MATCH_COLUMNS[name], row.normalized[name])
                contact.embedded_data = {k: v for k, v in embedded.items() if v.strip()}
                if unsubscribe:
                    contact.unsubscribed, contact.unsubscribed_at = True, now
                new.append(contact)
                # A new contact has exactly the row's values: its keys are the row's lookups.
                remember(contact, {lookup.key for lookup in found[position]})
                outcomes[position] = ("created", contact, "")
                continue
            changed = merge_into(contact, values, embedded, region)
            if unsubscribe and not contact.unsubscribed:
                contact.unsubscribed, contact.unsubscribed_at = True, now
                changed = True
            if changed:
                contact.modified_at = now
                if contact.pk is not None:
                    dirty[contact.pk] = contact
                remember(contact)
            outcomes[position] = ("updated" if changed else "skipped", contact, "")
        insert_contacts(new)
        update_contacts(list(dirty.values()))
        if mailing_list is not None:
            _add_many_to_list(mailing_list, [c for _o, c, _r in outcomes if c is not None])
    return _with_contacts(outcomes) if with_contacts else _without_contacts(outcomes)


def _with_contacts(outcomes):
    """Drafts become Contact instances (one per contact: rows merged together share it)."""
    made: dict[int, Contact] = {}
    result = []
    for outcome, contact, reason in outcomes:
        if isinstance(contact, Draft):
            if id(contact) not in made:
                made[id(contact)] = contact.to_contact()
            contact = made[id(contact)]
        result.append((outcome, contact, reason))
    return result


def _without_contacts(outcomes):
    return [(outcome, None, reason) for outcome, _contact, reason in outcomes]


def _add_many_to_list(mailing_list: MailingList, contacts: list[Contact]) -> int:
    return add_ids_to_list(mailing_list, [contact.pk for contact in contacts])
