"""Mailing lists and their memberships; each list's contact count follows its memberships."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from closeloop.directory.actions.fields import check_list
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.models import (
    Contact,
    Directory,
    MailingList,
    MailingListMembership,
    new_contact_ids,
)


def create_mailing_list(directory: Directory, name: str, *, owner=None) -> MailingList:
    name = (name or "").strip()
    if not name:
        raise InvalidValue("A mailing list needs a name.")
    if len(name) > 200:
        raise InvalidValue("A mailing list name is at most 200 characters.")
    return MailingList.objects.create(
        organization_id=directory.organization_id, directory=directory, name=name, owner=owner
    )


def update_mailing_list(mailing_list: MailingList, *, name: str) -> MailingList:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidValue("A mailing list name is 1 to 200 characters.")
    mailing_list.name = name
    mailing_list.modified_at = timezone.now()
    mailing_list.save(update_fields=["name", "modified_at"])
    return mailing_list


def delete_mailing_list(mailing_list: MailingList) -> None:
    """Delete the list; its contacts stay in the directory."""
    mailing_list.delete()


def add_to_mailing_list(
    mailing_list: MailingList, contact: Contact
) -> tuple[MailingListMembership, bool]:
    check_list(contact.directory, mailing_list)
    with transaction.atomic():
        membership, created = MailingListMembership.objects.get_or_create(
            mailing_list=mailing_list, contact=contact
        )
        if created:
            MailingList.objects.filter(pk=mailing_list.pk).update(
                contact_count=F("contact_count") + 1, modified_at=timezone.now()
            )
    return membership, created


def remove_from_mailing_list(mailing_list: MailingList, contact: Contact) -> bool:
    with transaction.atomic():
        deleted, _ = MailingListMembership.objects.filter(
            mailing_list=mailing_list, contact=contact
        ).delete()
        if deleted:
            MailingList.objects.filter(pk=mailing_list.pk, contact_count__gt=0).update(
                contact_count=F("contact_count") - 1, modified_at=timezone.now()
            )
    return bool(deleted)


def recount_mailing_list(mailing_list: MailingList) -> int:
    """Set contact_count from the memberships (after a bulk import)."""
    count = mailing_list.memberships.count()
    MailingList.objects.filter(pk=mailing_list.pk).update(contact_count=count)
    mailing_list.contact_count = count
    return count


def add_ids_to_list(mailing_list: MailingList, contact_ids: list[int]) -> int:
    """Memberships for contacts not yet in the list; the list's count follows."""
    ids = set(contact_ids)
    present = set(
        MailingListMembership.objects.filter(
            mailing_list=mailing_list, contact_id__in=ids
        ).values_list("contact_id", flat=True)
    )
    missing = sorted(ids - present)
    lookup_ids = new_contact_ids(len(missing), prefix="CGC_")  # one call, not one a row
    MailingListMembership.objects.bulk_create(
        [
            MailingListMembership(mailing_list=mailing_list, contact_id=pk, public_id=lookup_id)
            for pk, lookup_id in zip(missing, lookup_ids, strict=True)
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    if missing:
        MailingList.objects.filter(pk=mailing_list.pk).update(
            contact_count=F("contact_count") + len(missing), modified_at=timezone.now()
        )
    return len(missing)
