"""Contacts one at a time: upsert under the directory's dedup rules, update, delete."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from closeloop.directory import dedup, locks
from closeloop.directory.actions.fields import check_list, merge_into, set_field
from closeloop.directory.actions.lists import add_to_mailing_list
from closeloop.directory.actions.matching import find_duplicate
from closeloop.directory.models import Contact, Directory, MailingList
from closeloop.directory.values import clean_bool, clean_embedded_data, clean_text_fields

log = logging.getLogger("closeloop.directory")


def upsert_contact(
    directory: Directory,
    fields: Mapping,
    embedded_data: Mapping | None = None,
    *,
    mailing_list: MailingList | None = None,
    actor=None,
) -> tuple[Contact, bool]:
    """Create a contact or update the one the directory's dedup rules match.

    Non-empty incoming values win; embedded data is merged key by key. `unsubscribed: true`
    opts the contact out; `false` never undoes an opt-out here (integrations send false by
    default) — use update_contact for that. Returns (contact, created).
    """
    values = clean_text_fields(fields)
    unsubscribe = clean_bool(fields.get("unsubscribed"), "unsubscribed")
    embedded = clean_embedded_data(embedded_data)
    check_list(directory, mailing_list)
    region = directory.default_phone_region
    found = dedup.lookups(directory.dedup_rules, values, embedded, region)
    now = timezone.now()
    with transaction.atomic():
        locks.lock_dedup_keys(directory, [lookup.key for lookup in found])
        contact = None
        for lookup in found:
            contact = find_duplicate(directory, lookup, for_update=True)
            if contact is not None:
                break
        contact, created, changed = _fill(directory, contact, values, embedded, unsubscribe, now)
        if changed:
            contact.save()
        if mailing_list is not None:
            add_to_mailing_list(mailing_list, contact)
    log.info(
        "contact %s %s in %s by %s",
        contact.public_id,
        "created" if created else "matched",
        directory.public_id,
        getattr(actor, "public_id", actor),
    )
    return contact, created


def _fill(directory, contact, values, embedded, unsubscribe, now) -> tuple[Contact, bool, bool]:
    """The matched contact (None: a new one) with the incoming values: (contact, created,
    changed). Writes nothing."""
    region = directory.default_phone_region
    created = contact is None
    if created:
        contact = Contact(organization_id=directory.organization_id, directory=directory)
        contact.created_at = now
        for name, value in values.items():
            set_field(contact, name, value, region)
        contact.embedded_data = {k: v for k, v in embedded.items() if v.strip()}
        changed = True
    else:
        changed = merge_into(contact, values, embedded, region)
    if unsubscribe and not contact.unsubscribed:
        contact.unsubscribed, contact.unsubscribed_at = True, now
        changed = True
    if changed:
        contact.modified_at = now
    return contact, created, changed


def preview_upsert(
    directory: Directory,
    fields: Mapping,
    embedded_data: Mapping | None = None,
    *,
    mailing_list: MailingList | None = None,
) -> tuple[Contact, bool]:
    """What upsert_contact would return, without writing anything (for dry runs): the matched
    contact with the incoming values merged in, or a new unsaved contact (its public_id only
    a stand-in). Raises InvalidValue exactly when upsert_contact would. The contact must not
    be saved. `directory` may be unsaved (would_be_default_directory): nothing matches then."""
    values = clean_text_fields(fields)
    unsubscribe = clean_bool(fields.get("unsubscribed"), "unsubscribed")
    embedded = clean_embedded_data(embedded_data)
    check_list(directory, mailing_list)
    contact = None
    if directory.pk is not None:
        region = directory.default_phone_region
        for lookup in dedup.lookups(directory.dedup_rules, values, embedded, region):
            contact = find_duplicate(directory, lookup)
            if contact is not None:
                break
    contact, created, _changed = _fill(
        directory, contact, values, embedded, unsubscribe, timezone.now()
    )
    return contact, created


def create_contact(directory: Directory, fields: Mapping, embedded_data=None, **kwargs):
    """Qualtrics' "create contact" is an upsert under the directory's dedup rules."""
    return upsert_contact(directory, fields, embedded_data, **kwargs)


def update_contact(
    contact: Contact, fields: Mapping, embedded_data: Mapping | None = None, *, actor=None
) -> Contact:
    """Set the fields given (an empty value clears it), merge embedded data key by key.

    `unsubscribed` given as true or false is applied: this is the explicit way to resubscribe.
    Fields not given are left alone.
    """
    values = clean_text_fields(fields)
    unsubscribe = clean_bool(fields.get("unsubscribed"), "unsubscribed")
    embedded = clean_embedded_data(embedded_data)
    region = contact.directory.default_phone_region
    with transaction.atomic():
        contact = locks.contact_for_update(contact)
        for name, value in values.items():
            set_field(contact, name, value, region)
        contact.embedded_data = {**contact.embedded_data, **embedded}
        if unsubscribe is not None and unsubscribe != contact.unsubscribed:
            contact.unsubscribed = unsubscribe
            contact.unsubscribed_at = timezone.now() if unsubscribe else None
        contact.modified_at = timezone.now()
        contact.save()
    return contact


def remove_embedded_data(contact: Contact, names: list[str]) -> Contact:
    with transaction.atomic():
        contact = locks.contact_for_update(contact)
        for name in names:
            contact.embedded_data.pop(name, None)
        contact.modified_at = timezone.now()
        contact.save(update_fields=["embedded_data", "modified_at"])
    return contact


def delete_contact(contact: Contact, *, actor=None) -> None:
    """Delete the contact, its list memberships and transactions."""
    with transaction.atomic():
        list_ids = list(contact.memberships.values_list("mailing_list_id", flat=True))
        MailingList.objects.filter(pk__in=list_ids, contact_count__gt=0).update(
            contact_count=F("contact_count") - 1
        )
        contact.delete()
    log.info("contact deleted by %s", getattr(actor, "public_id", actor))
