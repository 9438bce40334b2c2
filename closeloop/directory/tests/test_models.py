import re

import pytest
from django.db import IntegrityError, transaction

from closeloop.directory.models import (
    Contact,
    Directory,
    FrequencyRule,
    MailingList,
    MailingListMembership,
    Transaction,
    TransactionBatch,
    new_contact_ids,
)
from closeloop.directory.tests.factories import make_directory

pytestmark = pytest.mark.django_db


def test_ids_use_the_qualtrics_prefixes(org_a):
    organization, user = org_a
    directory = make_directory(organization)
    contact = Contact.objects.create(organization=organization, directory=directory)
    mailing_list = MailingList.objects.create(
        organization=organization, directory=directory, name="VIP", owner=user
    )
    batch = TransactionBatch.objects.create(organization=organization, directory=directory)
    transaction_row = Transaction.objects.create(
        organization=organization,
        directory=directory,
        contact=contact,
        transaction_date="2026-11-21T10:02:44Z",
        batch=batch,
    )
    assert re.fullmatch(r"POOL_[A-Za-z0-9]{15}", directory.public_id)
    assert re.fullmatch(r"CID_[A-Za-z0-9]{15}", contact.public_id)
    assert re.fullmatch(r"CG_[A-Za-z0-9]{15}", mailing_list.public_id)
    assert re.fullmatch(r"BT_[A-Za-z0-9]{15}", batch.public_id)
    assert re.fullmatch(r"CTR_[A-Za-z0-9]{15}", transaction_row.public_id)


def test_new_directory_dedups_by_ext_ref_then_email(org_a):
    directory = make_directory(org_a[0])
    assert directory.dedup_rules == [["extRef"], ["email"]]
    assert directory.default_phone_region == "US"


def test_one_default_directory_per_organization(org_a, org_b):
    make_directory(org_a[0], is_default=True)
    make_directory(org_b[0], is_default=True)  # another organization may have its own
    make_directory(org_a[0], name="Second", is_default=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_directory(org_a[0], name="Third", is_default=True)
    assert Directory.objects.filter(organization=org_a[0]).count() == 2


def test_a_contact_is_in_a_list_once(org_a):
    organization, _user = org_a
    directory = make_directory(organization)
    contact = Contact.objects.create(organization=organization, directory=directory)
    mailing_list = MailingList.objects.create(
        organization=organization, directory=directory, name="VIP"
    )
    MailingListMembership.objects.create(mailing_list=mailing_list, contact=contact)
    with pytest.raises(IntegrityError), transaction.atomic():
        MailingListMembership.objects.create(mailing_list=mailing_list, contact=contact)


def test_channels_need_a_normalised_address_and_no_opt_out(org_a):
    organization, _user = org_a
    directory = make_directory(organization)
    contact = Contact(organization=organization, directory=directory, phone="12")
    assert not contact.can_receive_sms and not contact.can_receive_email
    contact.phone_e164 = "+14155550123"
    contact.email_normalized = "jane@example.com"
    assert contact.can_receive_sms and contact.can_receive_email
    contact.unsubscribed = True
    assert not contact.can_receive_sms and not contact.can_receive_email


def test_frequency_rule_reads_as_a_sentence(org_a):
    organization, _user = org_a
    directory = make_directory(organization)
    rule = FrequencyRule.objects.create(
        organization=organization,
        directory=directory,
        max_messages=2,
        period_days=30,
        min_days_between=7,
        channel="email",
    )
    assert str(rule) == "at most 2 in 30 days, at least 7 days apart — directory (Email)"


def test_contact_ids_in_bulk_look_like_single_ones():
    ids = new_contact_ids(5000)
    assert len(ids) == len(set(ids)) == 5000
    assert all(re.fullmatch(r"CID_[0-9A-Za-z]{15}", public_id) for public_id in ids)
    assert len(set("".join(public_id[4:] for public_id in ids))) == 62  # the whole alphabet
