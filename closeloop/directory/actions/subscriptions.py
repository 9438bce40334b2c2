"""Opting a contact out of (or back into) the directory or one list, and the signed opt-out
links that let a recipient do it."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from closeloop.directory import locks
from closeloop.directory.actions.fields import check_list
from closeloop.directory.models import Contact, MailingList, MailingListMembership

OPT_OUT_SALT = "closeloop.directory.opt-out"


def unsubscribe_contact(contact: Contact, *, mailing_list: MailingList | None = None) -> Contact:
    """Opt the contact out of the whole directory, or of one list only."""
    now = timezone.now()
    with transaction.atomic():
        if mailing_list is None:
            contact = locks.contact_for_update(contact)
            if not contact.unsubscribed:
                contact.unsubscribed, contact.unsubscribed_at = True, now
                contact.modified_at = now
                contact.save(update_fields=["unsubscribed", "unsubscribed_at", "modified_at"])
        else:
            check_list(contact.directory, mailing_list)
            MailingListMembership.objects.filter(
                mailing_list=mailing_list, contact=contact, unsubscribed=False
            ).update(unsubscribed=True, unsubscribed_at=now)
    return contact


def resubscribe_contact(contact: Contact) -> Contact:
    """Lift the contact's directory-wide opt-out (list-level opt-outs stay as they are)."""
    with transaction.atomic():
        contact = locks.contact_for_update(contact)
        if contact.unsubscribed:
            contact.unsubscribed, contact.unsubscribed_at = False, None
            contact.modified_at = timezone.now()
            contact.save(update_fields=["unsubscribed", "unsubscribed_at", "modified_at"])
    return contact


# Opt-out links -------------------------------------------------------------------------------


def opt_out_token(contact: Contact, mailing_list: MailingList | None = None) -> str:
    payload = {"c": contact.public_id}
    if mailing_list is not None:
        payload["l"] = mailing_list.public_id
    return signing.dumps(payload, salt=OPT_OUT_SALT, compress=True)


def opt_out_url(contact: Contact, mailing_list: MailingList | None = None) -> str:
    path = reverse("directory:opt-out", args=[opt_out_token(contact, mailing_list)])
    return settings.CLOSELOOP_BASE_URL.rstrip("/") + path


def read_opt_out_token(token: str) -> tuple[Contact, MailingList | None] | None:
    """The contact (and list) a signed opt-out token names; None if forged or gone."""
    try:
        payload = signing.loads(token, salt=OPT_OUT_SALT)
    except signing.BadSignature:
        return None
    contact = Contact.objects.select_related("directory").filter(public_id=payload.get("c")).first()
    if contact is None:
        return None
    mailing_list = None
    if payload.get("l"):
        mailing_list = MailingList.objects.filter(
            public_id=payload["l"], directory_id=contact.directory_id
        ).first()
        if mailing_list is None:
            return None
    return contact, mailing_list
