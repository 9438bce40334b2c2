"""What every channel's send path shares (closeloop.distributions.sending describes the states
a delivery goes through): the sizes and pace of a send job, the outcome of a window, the
checks and links every recipient needs, the signed tracking ids, and the end of a
distribution. It imports no channel: each channel module (channels/email.py, channels/sms.py,
channels/sms2way.py) builds its send path on it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from closeloop.directory.actions import opt_out_token
from closeloop.directory.models import MailingListMembership
from closeloop.distributions import secrets
from closeloop.distributions.models import (
    Delivery,
    DeliveryStatus,
    Distribution,
    DistributionStatus,
    LinkType,
    SuppressedAddress,
)
from closeloop.surveys import actions as surveys

PREPARE_BATCH = 250  # deliveries checked and given their links in one transaction
TRACKING_SALT = "closeloop.distributions.tracking"
AMBIGUOUS = (
    "The connection was lost while the message was being handed over (or the worker stopped): "
    "it may have arrived, so it is not sent again automatically."
)


def send_batch_size() -> int:
    """Messages in flight under one claim: at most this many are ambiguous if a worker dies."""
    return int(getattr(settings, "CLOSELOOP_DISTRIBUTION_SEND_BATCH", 10))


def prepare_batch_size() -> int:
    return max(send_batch_size(), PREPARE_BATCH)


def rate_limit() -> float:
    """Messages per second per sending job; 0 means as fast as the server takes them."""
    return float(getattr(settings, "CLOSELOOP_DISTRIBUTION_RATE_LIMIT", 0))


class SendingInterrupted(Exception):
    """The server is unreachable or asked us to come back later; retry the job."""


@dataclass
class Outcome:
    """What became of a window of claimed deliveries (a channel's own item type)."""

    sent: list[tuple] = field(default_factory=list)  # (item, message id)
    final: list[tuple] = field(default_factory=list)  # (item, status, why)
    released: list[tuple] = field(default_factory=list)  # (item, why): back to Pending
    interrupted: str = ""


def describe_error(error: Exception) -> str:
    return f"{error.__class__.__name__}: {error}"[:1000]


def resolve_ambiguous(chunk, claim: str) -> None:
    """Deliveries left in Sending by an earlier attempt of this chunk: Failure, never resent."""
    stale = chunk.filter(status=DeliveryStatus.SENDING).exclude(claim=claim)
    stale.update(
        status=DeliveryStatus.FAILURE,
        reason="Interrupted while sending; not resent (it may have arrived).",
        error=AMBIGUOUS,
        updated_at=timezone.now(),
    )


def record_verdicts(verdicts: dict[int, tuple]) -> None:
    """Skipped / Blocked / Failure with their reasons: one UPDATE per (status, reason)."""
    by_verdict = defaultdict(list)
    for delivery_id, verdict in verdicts.items():
        by_verdict[verdict].append(delivery_id)
    now = timezone.now()
    for (status, reason), ids in by_verdict.items():
        Delivery.objects.filter(pk__in=ids).update(status=status, reason=reason, updated_at=now)


def finish_if_complete(distribution: Distribution) -> bool:
    open_states = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    if Delivery.objects.filter(distribution=distribution, status__in=open_states).exists():
        return False
    changed = Distribution.objects.filter(
        pk=distribution.pk, status=DistributionStatus.SENDING, prepared_at__isnull=False
    ).update(status=DistributionStatus.DONE, finished_at=timezone.now())
    return bool(changed)


# Who may be written to -----------------------------------------------------------------------


def list_opt_outs(distribution: Distribution, contact_ids: list[int]) -> set[int]:
    """Those of these contacts who unsubscribed from the distribution's mailing list."""
    if not distribution.mailing_list_id:
        return set()
    return set(
        MailingListMembership.objects.filter(
            mailing_list_id=distribution.mailing_list_id,
            contact_id__in=contact_ids,
            unsubscribed=True,
        ).values_list("contact_id", flat=True)
    )


def opt_out_reason(distribution: Distribution, contact, opted_out_of_list: set[int]) -> str:
    """Why an opted-out contact is skipped, on any channel; "" when they have not opted out."""
    if contact.unsubscribed:
        return "Opted out: the contact is unsubscribed from the directory."
    if contact.pk in opted_out_of_list:
        return f"Opted out: unsubscribed from the mailing list {distribution.mailing_list.name}."
    return ""


def suppress_address(organization_id: int, email: str, reason: str) -> None:
    """No more email to this address from the organization (a hard bounce, a complaint)."""
    email = (email or "").strip().lower()
    if not email:
        return
    SuppressedAddress.objects.get_or_create(
        organization_id=organization_id, email=email, defaults={"reason": reason[:300]}
    )


# Links -----------------------------------------------------------------------------------------


def absolute(path: str) -> str:
    return settings.CLOSELOOP_BASE_URL.rstrip("/") + path


def absolute_url_pattern(name: str) -> tuple[str, str]:
    """The absolute URL of a view taking one signed token, as (before, after) the token:
    reverse() once per distribution instead of once per message (tokens are URL-safe)."""
    before, after = absolute(reverse(name, args=["TOKEN"])).split("TOKEN")
    return before, after


def survey_urls(distribution: Distribution, deliveries: list, link_targets):
    """The survey link of each delivery (anything with `id` and `link_secret`), and the links
    made now, {delivery id: (SurveyLink, encrypted token)}. An individual link is made (one
    INSERT for the batch, link_targets(new deliveries) giving create_links its (contact,
    delivery id, transaction) targets) for those that have none yet; the caller keeps it
    on the delivery, encrypted, so that reminders and the links API show the same one.
    Anonymous distributions get the survey's anonymous link."""
    if distribution.link_type != LinkType.INDIVIDUAL:
        url = surveys.anonymous_url(distribution.survey)
        return [url for _delivery in deliveries], {}
    prefix, suffix = absolute_url_pattern("respondent:link")
    urls = {
        d.id: f"{prefix}{secrets.decrypt(d.link_secret)}{suffix}"
        for d in deliveries
        if d.link_secret
    }
    new = [delivery for delivery in deliveries if not delivery.link_secret]
    made = {}
    if new:
        links = surveys.create_links(
            distribution.survey,
            link_targets(new),
            embedded_data=distribution.embedded_data,
            expires_at=distribution.link_expires_at,
        )
        for delivery, (link, url) in zip(new, links, strict=True):
            made[delivery.id] = (link, secrets.encrypt(url.rstrip("/").rsplit("/", 1)[-1]))
            urls[delivery.id] = url
    return [urls[delivery.id] for delivery in deliveries], made


class OptOutLinks:
    """The signed opt-out link of a contact for this distribution's list."""

    def __init__(self, distribution: Distribution):
        self.mailing_list = distribution.mailing_list
        self.prefix, self.suffix = absolute_url_pattern("directory:opt-out")

    def url(self, contact) -> str:
        return f"{self.prefix}{opt_out_token(contact, self.mailing_list)}{self.suffix}"


def tracking_token(delivery_public_id: str) -> str:
    return signing.Signer(salt=TRACKING_SALT).sign(delivery_public_id)


def read_tracking_token(token: str) -> str | None:
    try:
        return signing.Signer(salt=TRACKING_SALT).unsign(token)
    except signing.BadSignature:
        return None
