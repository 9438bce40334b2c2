"""Deliveries retention per organization: the hourly clean-up deletes the delivery history of
each organization's finished distributions older than its period (at most the server's
ceiling), and leaves other organizations, open distributions and open SMS surveys alone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from closeloop.accounts import actions as accounts_actions
from closeloop.distributions import retention
from closeloop.distributions.jobs import delete_old_deliveries
from closeloop.distributions.models import (
    Delivery,
    DeliveryStatus,
    Distribution,
    DistributionStatus,
    Kind,
    RecipientKind,
    SmsSession,
    SmsSessionStatus,
)
from closeloop.distributions.tests.conftest import make_list, make_survey

pytestmark = pytest.mark.django_db


def sent(organization, user, *, days_ago: int, recipients: int = 3, status=DistributionStatus.DONE):
    """A distribution sent `days_ago` days ago with one delivery per contact."""
    when = timezone.now() - timedelta(days=days_ago)
    survey = make_survey(organization, user, name=f"Survey {days_ago} {status}")
    mailing_list, contacts = make_list(
        organization, recipients, name=f"List {days_ago} {status}", domain=f"d{days_ago}.test"
    )
    distribution = Distribution.objects.create(
        organization=organization,
        survey=survey,
        owner=user,
        recipient_kind=RecipientKind.MAILING_LIST,
        mailing_list=mailing_list,
        subject="Hi",
        status=status,
        created_at=when,
        send_at=when,
    )
    Delivery.objects.bulk_create(
        Delivery(
            organization=organization,
            distribution=distribution,
            contact=contact,
            email=contact.email,
            status=DeliveryStatus.SUCCESS,
            created_at=when,
            sent_at=when,
        )
        for contact in contacts
    )
    return distribution


def count(distribution) -> int:
    return Delivery.objects.filter(distribution=distribution).count()


def test_retention_per_organization_deletes_only_that_organization_old_deliveries(
    org_a, org_b, settings
):
    settings.CLOSELOOP_DELIVERY_RETENTION_DAYS = 0  # no server limit
    accounts_actions.set_retention(*org_a, runs=None, payloads=None, deliveries=30)
    a_old, a_new = sent(*org_a, days_ago=40), sent(*org_a, days_ago=10)
    b_old = sent(*org_b, days_ago=400)

    delete_old_deliveries({}, None)

    assert (count(a_old), count(a_new), count(b_old)) == (0, 3, 3)
    assert Distribution.objects.filter(pk=a_old.pk).exists()  # the distribution stays


def test_the_server_ceiling_applies_to_every_organization(org_a, org_b, settings):
    settings.CLOSELOOP_DELIVERY_RETENTION_DAYS = 100
    accounts_actions.set_retention(*org_a, runs=None, payloads=None, deliveries=50)
    a_mid, b_mid, b_old = (
        sent(*org_a, days_ago=60),
        sent(*org_b, days_ago=60),
        sent(*org_b, days_ago=120),
    )
    assert retention.apply().deliveries_deleted == 6
    assert (count(a_mid), count(b_mid), count(b_old)) == (0, 3, 0)


def test_open_distributions_and_open_sms_surveys_keep_their_deliveries(org_a):
    accounts_actions.set_retention(*org_a, runs=None, payloads=None, deliveries=7)
    sending = sent(*org_a, days_ago=20, status=DistributionStatus.SENDING)
    with_reminder = sent(*org_a, days_ago=20)
    Distribution.objects.create(
        organization=org_a[0],
        survey=with_reminder.survey,
        parent=with_reminder,
        kind=Kind.REMINDER,
        recipient_kind=RecipientKind.PARENT,
        status=DistributionStatus.SCHEDULED,
    )
    sms = sent(*org_a, days_ago=20, recipients=2)
    open_one, closed_one = Delivery.objects.filter(distribution=sms).order_by("pk")
    for delivery, state in ((open_one, SmsSessionStatus.OPEN), (closed_one, "finished")):
        SmsSession.objects.create(
            organization=org_a[0],
            delivery=delivery,
            phone="+15550001",
            status=state,
            expires_at=timezone.now(),
        )

    retention.apply()

    assert (count(sending), count(with_reminder)) == (3, 3)
    assert list(Delivery.objects.filter(distribution=sms)) == [open_one]
    assert SmsSession.objects.count() == 1


def test_without_a_setting_or_ceiling_deliveries_are_kept(org_a, settings):
    settings.CLOSELOOP_DELIVERY_RETENTION_DAYS = 0
    old = sent(*org_a, days_ago=3000)
    assert retention.apply().deliveries_deleted == 0
    assert count(old) == 3
