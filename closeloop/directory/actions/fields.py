"""The contact's standard fields: where each is stored, its match form, and the merge of an
incoming duplicate into a stored contact (the rules every write of a contact shares)."""

from __future__ import annotations

from collections.abc import Mapping

from closeloop.directory import dedup
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.models import Contact, Directory, MailingList

# Qualtrics field name -> Contact attribute holding the value as given.
FIELD_ATTRIBUTES = {
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "phone": "phone",
    "extRef": "ext_ref",
    "language": "language",
}
# Qualtrics field name -> Contact column holding the match form.
MATCH_COLUMNS = {
    "firstName": "first_name_normalized",
    "lastName": "last_name_normalized",
    "email": "email_normalized",
    "phone": "phone_e164",
    "extRef": "ext_ref_normalized",
}


def check_list(directory: Directory, mailing_list: MailingList | None) -> None:
    """Refuse a mailing list of another directory (no list, None, is fine)."""
    if mailing_list is not None and mailing_list.directory_id != directory.pk:
        raise InvalidValue("The mailing list belongs to another directory.")


def set_field(contact: Contact, name: str, value: str, region: str) -> None:
    setattr(contact, FIELD_ATTRIBUTES[name], value)
    if name in MATCH_COLUMNS:
        setattr(contact, MATCH_COLUMNS[name], dedup.normalize_field(name, value, region))


def contact_values(contact: Contact) -> dict[str, str]:
    """The contact's standard fields under their Qualtrics names."""
    return {name: getattr(contact, attribute) for name, attribute in FIELD_ATTRIBUTES.items()}


def merge_into(contact: Contact, values: Mapping, embedded: Mapping, region: str) -> bool:
    """Merge an incoming duplicate into the stored contact (non-empty incoming values win,
    embedded data key by key). True when anything changed."""
    changes = dedup.merge_fields(contact_values(contact), values)
    for name, value in changes.items():
        set_field(contact, name, value, region)
    merged = dedup.merge_embedded(contact.embedded_data, embedded)
    changed = bool(changes) or merged != contact.embedded_data
    contact.embedded_data = merged
    return changed
