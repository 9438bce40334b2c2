"""Every write the distributions app makes.

Bad input raises DistributionError (a ValueError) naming the rule, before anything is written.
The views, the API and the workflow task translate it into their own error format.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from closeloop import piping
from closeloop.accounts import audit
from closeloop.directory.actions import unsubscribe_contact
from closeloop.distributions import secrets
from closeloop.distributions.channels import email, sms, sms2way
from closeloop.distributions.channels.email import check_from_address
from closeloop.distributions.channels.email_message import default_sender as default_sender
from closeloop.distributions.checks import DistributionError, clean_address
from closeloop.distributions.core import suppress_address
from closeloop.distributions.models import (
    STATUS_RANK,
    Channel,
    Delivery,
    DeliveryStatus,
    Distribution,
    DistributionStatus,
    IdempotencyKey,
    Kind,
    LinkType,
    Message,
    MessageChannel,
    RecipientKind,
    VerifiedDomain,
)
from closeloop.jobs.actions import enqueue
from closeloop.surveys import actions as surveys
from closeloop.surveys.models import Response

log = logging.getLogger("closeloop.distributions")

PREPARE_JOB = "distributions.prepare"
SEND_JOB = "distributions.send_chunk"
IDEMPOTENCY_PERIOD = timedelta(hours=24)  # how long an Idempotency-Key is remembered


# Distributions -------------------------------------------------------------------------------


def create_distribution(
    organization,
    survey,
    *,
    owner=None,
    channel: str = Channel.EMAIL,
    mailing_list=None,
    contact=None,
    transaction_batch=None,
    workflow_run_id: str = "",
    embedded_data: Mapping | None = None,
    link_type: str = LinkType.INDIVIDUAL,
    link_expires_at: datetime | None = None,
    message: Message | None = None,
    subject: str = "",
    html_body: str = "",
    text_body: str = "",
    from_name: str = "",
    from_email: str = "",
    reply_to: str = "",
    send_at: datetime | None = None,
) -> Distribution:
    """Check everything (check_distribution), then record the distribution and schedule its
    preparation job.

    Exactly one recipient source: a mailing list, a contact (optionally for a workflow run) or
    a transaction batch. Nothing is written when a check fails.
    """
    values = check_distribution(
        organization,
        survey,
        channel=channel,
        mailing_list=mailing_list,
        contact=contact,
        transaction_batch=transaction_batch,
        workflow_run_id=workflow_run_id,
        link_type=link_type,
        link_expires_at=link_expires_at,
        message=message,
        subject=subject,
        html_body=html_body,
        text_body=text_body,
        from_name=from_name,
        from_email=from_email,
        reply_to=reply_to,
        send_at=send_at,
    )
    with transaction.atomic():
        distribution = Distribution.objects.create(
            organization=organization,
            survey=survey,
            owner=owner,
            mailing_list=mailing_list,
            contact=contact,
            transaction_batch=transaction_batch,
            workflow_run_id=(workflow_run_id or "")[:64],
            embedded_data=_clean_embedded(embedded_data),
            link_type=link_type,
            link_expires_at=link_expires_at,
            library_message=message,
            **values,
        )
        _schedule(distribution)
        if not workflow_run_id:  # a workflow run's distribution is in the run ledger
            audit.record(
                organization,
                owner,
                "distribution.created",
                target=distribution,
                summary=f"{channel} distribution of {survey.name}",
                survey=survey.public_id,
            )
    log.info("distribution %s created for %s", distribution.public_id, survey.public_id)
    return distribution


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used in the last 24 hours with another request."""


def distribution_for_key(organization, key: str, request_hash: str) -> Distribution | None:
    """The distribution created with this Idempotency-Key in the last 24 hours (None: the key
    is new or older); IdempotencyConflict when it came with another request."""
    since = timezone.now() - IDEMPOTENCY_PERIOD
    found = (
        IdempotencyKey.objects.select_related("distribution")
        .filter(organization=organization, key=key, created_at__gt=since)
        .first()
    )
    if found is None:
        return None
    if found.request_hash != request_hash:
        raise IdempotencyConflict(
            f"The Idempotency-Key {key!r} was used with a different request in the last 24 "
            f"hours (distribution {found.distribution.public_id}): send the same request to "
            "get that distribution back, or a new key for a new distribution."
        )
    return found.distribution


def create_distribution_once(
    organization, survey, *, idempotency_key: str, request_hash: str, **arguments
) -> tuple[Distribution, bool]:
    """create_distribution once per (organization, Idempotency-Key) in 24 hours: (distribution,
    created). The key again with the same request gives the first distribution back; with
    another request, IdempotencyConflict. The key's row (unique per organization) is inserted
    in the transaction that creates the distribution, so of two requests at once with one key
    the second waits for the first to commit, fails the constraint, rolls back everything it
    did and answers with the first one's distribution."""
    found = distribution_for_key(organization, idempotency_key, request_hash)
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            IdempotencyKey.objects.filter(
                organization=organization,
                key=idempotency_key,
                created_at__lte=timezone.now() - IDEMPOTENCY_PERIOD,
            ).delete()
            distribution = create_distribution(organization, survey, **arguments)
            IdempotencyKey.objects.create(
                organization=organization,
                key=idempotency_key,
                request_hash=request_hash,
                distribution=distribution,
            )
    except IntegrityError:
        found = distribution_for_key(organization, idempotency_key, request_hash)
        if found is None:
            raise
        return found, False
    return distribution, True


def forget_idempotency_keys(now: datetime | None = None) -> int:
    """Delete the Idempotency-Keys older than 24 hours; the number deleted."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_PERIOD
    deleted, _ = IdempotencyKey.objects.filter(created_at__lte=cutoff).delete()
    return deleted


def check_distribution(
    organization,
    survey,
    *,
    channel: str = Channel.EMAIL,
    mailing_list=None,
    contact=None,
    transaction_batch=None,
    workflow_run_id: str = "",
    link_type: str = LinkType.INDIVIDUAL,
    link_expires_at: datetime | None = None,
    message: Message | None = None,
    subject: str = "",
    html_body: str = "",
    text_body: str = "",
    from_name: str = "",
    from_email: str = "",
    reply_to: str = "",
    send_at: datetime | None = None,
) -> dict:
    """Every check create_distribution makes, writing nothing: DistributionError naming the
    first rule broken, else the checked values (channel, recipient kind, content, sender, send
    time). A dry run passes a contact that does not exist yet (unsaved) as the recipient."""
    if survey.organization_id != organization.pk:
        raise DistributionError("The survey belongs to another organization.")
    try:
        surveys.require_active(survey)
    except surveys.SurveyNotActive as error:
        raise DistributionError(str(error)) from None
    if channel not in Channel.values:
        raise DistributionError(f"The channel must be one of {', '.join(Channel.values)}.")
    subject, html_body, text_body = _with_message(
        organization.pk, message, channel, subject, html_body, text_body
    )
    if channel == Channel.SMS_TWO_WAY:
        sms2way.check_survey(survey)
        text_body = text_body or sms2way.INTRO
    if link_type not in LinkType.values:
        raise DistributionError(f"The link type must be one of {', '.join(LinkType.values)}.")
    sources = [item for item in (mailing_list, contact, transaction_batch) if item is not None]
    if len(sources) != 1:
        raise DistributionError(
            "Choose exactly one recipient: a mailing list, a contact or a transaction batch."
        )
    for item in sources:
        if item.organization_id != organization.pk:
            raise DistributionError("The recipients belong to another organization.")
    if mailing_list is not None:
        recipient_kind = RecipientKind.MAILING_LIST
        if not mailing_list.memberships.exists():
            raise DistributionError(
                f"The mailing list {mailing_list.name!r} has no contacts: nobody to send to."
            )
    elif contact is not None:
        recipient_kind = RecipientKind.WORKFLOW if workflow_run_id else RecipientKind.CONTACT
        if channel == Channel.EMAIL and not contact.email_normalized:
            raise DistributionError(f"The contact {contact.public_id} has no email address.")
        if channel != Channel.EMAIL and not contact.phone_e164:
            raise DistributionError(
                f"The contact {contact.public_id} has no valid mobile number (E.164)."
            )
    else:
        recipient_kind = RecipientKind.TRANSACTION_BATCH
        if not transaction_batch.transactions.exists():
            raise DistributionError(
                f"The transaction batch {transaction_batch.public_id} has no transactions."
            )
    if channel == Channel.EMAIL:
        subject, html_body, text_body = email.check_content(subject, html_body, text_body)
        from_email = check_from_address(organization, from_email)
    else:
        text_body = sms.check_sms_text(text_body)
        subject, html_body, from_email = "", "", ""
    reply_to = clean_address(reply_to, "The reply-to address") if reply_to.strip() else ""
    from_name = " ".join((from_name or "").split())[:200]
    now = timezone.now()
    if link_expires_at is not None and link_expires_at <= now:
        raise DistributionError("The link expiration date is in the past.")
    if send_at is not None and link_expires_at is not None and link_expires_at <= send_at:
        raise DistributionError("The links would expire before the distribution is sent.")
    return {
        "channel": channel,
        "recipient_kind": recipient_kind,
        "subject": subject,
        "html_body": html_body,
        "text_body": text_body,
        "from_name": from_name,
        "from_email": from_email,
        "reply_to": reply_to,
        "send_at": max(send_at or now, now),
    }


def _with_message(
    organization_id: int, message: Message | None, channel: str, subject, html_body, text_body
) -> tuple[str, str, str]:
    """The content to copy: what was written inline, else the library message's."""
    if message is None:
        return subject, html_body, text_body
    if message.organization_id != organization_id:
        raise DistributionError("The library message belongs to another organization.")
    content = message_content(message, channel)
    return (
        subject or content["subject"],
        html_body or content["html_body"],
        text_body or content["text_body"],
    )


def _clean_embedded(values: Mapping | None) -> dict[str, str]:
    cleaned = {}
    for name, value in (values or {}).items():
        if isinstance(name, str) and name and len(name) <= 200:
            cleaned[name] = piping.to_text(value)[:1024]
    return cleaned


def _schedule(distribution: Distribution) -> None:
    enqueue(
        PREPARE_JOB,
        {"distribution": distribution.pk},
        idempotency_key=f"{PREPARE_JOB}:{distribution.public_id}",
        run_after=distribution.send_at,
        organization=distribution.organization_id,
    )


FOLLOWUP_FILTERS = {
    Kind.REMINDER: ("notStarted", "notFinished"),
    Kind.THANK_YOU: ("finished",),
}


def create_followup(
    parent: Distribution,
    kind: str,
    *,
    owner=None,
    recipient_filter: str = "",
    message: Message | None = None,
    subject: str = "",
    html_body: str = "",
    text_body: str = "",
    from_name: str = "",
    from_email: str = "",
    reply_to: str = "",
    send_at: datetime | None = None,
) -> Distribution:
    """A reminder (to those who have not started / not finished) or a thank-you (to those who
    finished) of an individual-link invitation, on the invitation's channel. Each recipient
    gets the same personal link as in the invitation. Frequency rules neither count nor block
    these. A two-way SMS survey's reminder goes to open sessions and repeats the pending
    question (closeloop.distributions.channels.sms2way)."""
    if kind not in FOLLOWUP_FILTERS:
        raise DistributionError("A follow-up is a reminder or a thank-you.")
    allowed = FOLLOWUP_FILTERS[kind]
    if parent.channel == Channel.SMS_TWO_WAY and kind == Kind.REMINDER:
        allowed = ("notFinished",)  # a two-way session starts when the invitation is sent
    recipient_filter = recipient_filter or allowed[0]
    if recipient_filter not in allowed:
        raise DistributionError(
            f"A {Kind(kind).label.lower()} goes to {' or '.join(allowed)} recipients."
        )
    if parent.kind != Kind.INVITE or parent.link_type != LinkType.INDIVIDUAL:
        raise DistributionError(
            "Reminders and thank-yous follow an invitation sent with individual links."
        )
    subject, html_body, text_body = _with_message(
        parent.organization_id, message, parent.channel, subject, html_body, text_body
    )
    if parent.channel == Channel.EMAIL:
        subject, html_body, text_body = email.check_content(subject, html_body, text_body)
        from_email = check_from_address(parent.organization, from_email or parent.from_email)
    else:
        text_body = sms.check_sms_text(text_body or html_body)
        subject, html_body, from_email = "", "", ""
    reply_to = reply_to or parent.reply_to
    reply_to = clean_address(reply_to, "The reply-to address") if reply_to.strip() else ""
    now = timezone.now()
    with transaction.atomic():
        followup = Distribution.objects.create(
            organization_id=parent.organization_id,
            survey_id=parent.survey_id,
            owner=owner,
            channel=parent.channel,
            kind=kind,
            parent=parent,
            recipient_kind=RecipientKind.PARENT,
            recipient_filter=recipient_filter,
            mailing_list_id=parent.mailing_list_id,
            link_type=parent.link_type,
            link_expires_at=parent.link_expires_at,
            library_message=message,
            subject=subject,
            html_body=html_body,
            text_body=text_body,
            from_name=" ".join((from_name or parent.from_name).split())[:200],
            from_email=from_email,
            reply_to=reply_to,
            send_at=max(send_at or now, now),
        )
        _schedule(followup)
    return followup


def fail_distribution(distribution: Distribution, error: str) -> None:
    Distribution.objects.filter(pk=distribution.pk).update(
        status=DistributionStatus.FAILED, error=error[:2000], finished_at=timezone.now()
    )


# Delivery status events ---------------------------------------------------------------------


def _advance(deliveries, status: str, **timestamps) -> int:
    """Set timestamps (only where empty) and move the status forward, never back."""
    now = timezone.now()
    changed = 0
    lower = [value for value, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
    lower = [value for value in lower if value not in (DeliveryStatus.PENDING, "Sending")]
    for name, value in timestamps.items():
        deliveries.filter(**{f"{name}__isnull": True}).update(**{name: value, "updated_at": now})
    changed = deliveries.filter(status__in=lower).update(status=status, updated_at=now)
    return changed


SURVEY_EVENTS = {
    "started": (DeliveryStatus.SURVEY_STARTED, "started_at"),
    "partial": (DeliveryStatus.SURVEY_PARTIAL, "finished_at"),
    "finished": (DeliveryStatus.SURVEY_FINISHED, "finished_at"),
    "expired": (DeliveryStatus.SESSION_EXPIRED, None),
}


def record_survey_event(delivery_id: str, event: str, *, response_id: str = "") -> bool:
    """The surveys app announces (invitation_progress) when a response of an individual link starts ("started"),
    is finished ("finished"), is closed as partial ("partial") or its link had expired
    ("expired"). Unknown delivery ids are ignored (False)."""
    if event not in SURVEY_EVENTS or not delivery_id:
        return False
    status, stamp = SURVEY_EVENTS[event]
    deliveries = Delivery.objects.filter(public_id=delivery_id)
    now = timezone.now()
    stamps = {stamp: now} if stamp else {}
    if event in ("partial", "finished"):
        stamps.setdefault("started_at", now)
    if response_id:
        deliveries.filter(response_id="").update(response_id=response_id[:32])
    return bool(_advance(deliveries, status, **stamps))


def on_invitation_progress(sender, *, delivery_id: str, event: str, response_id: str = "", **kw):
    """Receiver of closeloop.surveys.signals.invitation_progress (connected in apps.py)."""
    record_survey_event(delivery_id, event, response_id=response_id)


def sync_survey_progress(distribution: Distribution) -> int:
    """Bring the survey statuses of a distribution's deliveries up to date from the responses
    of their links (for responses whose events were not reported to record_survey_event)."""
    followed = Delivery.objects.filter(
        distribution=distribution, sent_at__isnull=False, finished_at__isnull=True
    )
    ids = list(followed.values_list("public_id", flat=True)[:5000])
    if not ids:
        return 0
    changed = 0
    responses = Response.objects.filter(
        organization_id=distribution.organization_id, delivery_id__in=ids
    ).values_list("delivery_id", "public_id", "started_at", "finished_at", "finished")
    for delivery_id, response_id, started_at, finished_at, finished in responses:
        deliveries = Delivery.objects.filter(public_id=delivery_id)
        if deliveries.filter(response_id="").exists():
            deliveries.update(response_id=response_id)
        if finished_at is None:
            changed += _advance(deliveries, DeliveryStatus.SURVEY_STARTED, started_at=started_at)
        else:
            status = DeliveryStatus.SURVEY_FINISHED if finished else DeliveryStatus.SURVEY_PARTIAL
            changed += _advance(deliveries, status, started_at=started_at, finished_at=finished_at)
    return changed


def record_open(delivery_public_id: str) -> bool:
    deliveries = Delivery.objects.filter(public_id=delivery_public_id, sent_at__isnull=False)
    return bool(_advance(deliveries, DeliveryStatus.OPENED, opened_at=timezone.now()))


def record_provider_event(
    message_id: str, event: str, *, description: str = "", delivery_id: str = ""
) -> bool:
    """A provider tracking event (django-anymail) for the delivery with this Message-ID:
    delivered, opened, bounced (hard), deferred/soft bounce, complained."""
    message_id = (message_id or "").strip()
    if delivery_id:
        match = Q(public_id=delivery_id)
    elif message_id:
        match = Q(message_id=message_id) | Q(message_id=f"<{message_id.strip('<>')}>")
    else:
        return False
    delivery = (
        Delivery.objects.select_related("contact", "contact__directory", "distribution")
        .filter(match)
        .first()
    )
    if delivery is None:
        return False
    deliveries = Delivery.objects.filter(pk=delivery.pk)
    now = timezone.now()
    if event == "delivered":
        return bool(deliveries.filter(sent_at__isnull=True).update(sent_at=now))
    if event == "opened":
        return record_open(delivery.public_id)
    if event == "deferred":
        deliveries.update(error=description[:2000])
        return bool(_advance(deliveries, DeliveryStatus.SOFT_BOUNCE, bounced_at=now))
    if event == "bounced":
        with transaction.atomic():
            deliveries.update(error=description[:2000])
            suppress_address(
                delivery.organization_id,
                delivery.email,
                f"hard bounce of {delivery.distribution.public_id}: {description}"[:300],
            )
            return bool(_advance(deliveries, DeliveryStatus.HARD_BOUNCE, bounced_at=now))
    if event == "complained":
        with transaction.atomic():
            suppress_address(
                delivery.organization_id,
                delivery.email,
                f"spam complaint on {delivery.distribution.public_id}",
            )
            unsubscribe_contact(delivery.contact)
            return bool(_advance(deliveries, DeliveryStatus.COMPLAINT, complained_at=now))
    return False


def unsubscribe_delivery(delivery: Delivery) -> None:
    """One-click unsubscribe (List-Unsubscribe-Post): the contact opts out of the directory."""
    unsubscribe_contact(delivery.contact)


# Message library -----------------------------------------------------------------------------


def _clean_message(
    *, name: str, channel: str, category: str, subject: str, html_body: str, text_body: str
) -> dict:
    """The checked fields of a library message (DistributionError names the broken rule)."""
    name = " ".join((name or "").split())
    if not name or len(name) > 200:
        raise DistributionError("A library message needs a name of 1 to 200 characters.")
    if category not in Kind.values:
        raise DistributionError(f"The category must be one of {', '.join(Kind.values)}.")
    if channel not in MessageChannel.values:
        raise DistributionError(f"The channel must be one of {', '.join(MessageChannel.values)}.")
    if channel == MessageChannel.SMS:
        subject, html_body, text_body = "", "", sms.check_sms_text(text_body)
    else:
        subject, html_body, text_body = email.check_content(subject, html_body, text_body)
    return {
        "name": name,
        "channel": channel,
        "category": category,
        "subject": subject,
        "html_body": html_body,
        "text_body": text_body,
    }


def create_message(
    organization,
    *,
    name: str,
    subject: str = "",
    html_body: str = "",
    text_body: str = "",
    category: str = Kind.INVITE,
    channel: str = MessageChannel.EMAIL,
    owner=None,
) -> Message:
    """A library message; with an owner it is that user's, otherwise the organization's."""
    fields = _clean_message(
        name=name,
        channel=channel,
        category=category,
        subject=subject,
        html_body=html_body,
        text_body=text_body,
    )
    return Message.objects.create(organization=organization, owner=owner, **fields)


def update_message(
    message: Message,
    *,
    name: str,
    subject: str = "",
    html_body: str = "",
    text_body: str = "",
    category: str = Kind.INVITE,
    channel: str | None = None,
    owner=None,
) -> Message:
    """Change a library message. Distributions keep the copy they made when created."""
    fields = _clean_message(
        name=name,
        channel=channel or message.channel,
        category=category,
        subject=subject,
        html_body=html_body,
        text_body=text_body,
    )
    for attribute, value in fields.items():
        setattr(message, attribute, value)
    message.owner = owner
    message.updated_at = timezone.now()
    message.save()
    return message


def delete_message(message: Message) -> None:
    """Distributions made from it keep their copy (library_message becomes empty)."""
    message.delete()


def message_content(message: Message, channel: str) -> dict:
    """The subject and bodies a distribution on `channel` copies from a library message."""
    wanted = MessageChannel.EMAIL if channel == Channel.EMAIL else MessageChannel.SMS
    if message.channel != wanted:
        raise DistributionError(
            f"The library message {message.name!r} is an {message.get_channel_display()} "
            f"message: choose an {MessageChannel(wanted).label} message for this channel."
        )
    return {
        "subject": message.subject,
        "html_body": message.html_body,
        "text_body": message.text_body,
    }


# Sending domains -----------------------------------------------------------------------------


def _clean_domain(domain: str) -> str:
    domain = (domain or "").strip().lower().rstrip(".")
    if domain.startswith("@"):
        domain = domain[1:]
    labels = domain.split(".")
    valid = (
        len(labels) > 1
        and len(domain) <= 253
        and all(
            label
            and len(label) <= 63
            and label.replace("-", "").isalnum()
            and label.isascii()
            and not label.startswith("-")
            and not label.endswith("-")
            for label in labels
        )
    )
    if not valid:
        raise DistributionError(f"{domain!r} is not a domain name (for example example.com).")
    return domain


def add_domain(organization, domain: str) -> VerifiedDomain:
    domain = _clean_domain(domain)
    found, _created = VerifiedDomain.objects.get_or_create(organization=organization, domain=domain)
    return found


def delete_domain(domain: VerifiedDomain) -> None:
    domain.delete()


def _txt_records(name: str, resolver) -> list[str]:
    # dnspython loads here, when a domain is checked: importing it costs every process ~90 ms.
    import dns.exception
    import dns.resolver

    resolver = resolver or dns.resolver.Resolver()
    try:
        answer = resolver.resolve(name, "TXT", lifetime=5)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as error:
        raise DistributionError(f"The DNS lookup of {name} failed: {error}") from None
    records = []
    for record in answer:
        strings = getattr(record, "strings", None)
        if strings is not None:
            records.append(b"".join(strings).decode(errors="replace"))
        else:
            records.append(str(record).strip('"'))
    return records


def verify_domain(domain: VerifiedDomain, *, resolver=None) -> bool:
    """Look up the TXT record at _closeloop.<domain>; verified when it holds our token.

    `resolver` is anything with resolve(name, "TXT", lifetime=…) (dnspython's Resolver);
    tests pass a fake."""
    now = timezone.now()
    try:
        records = _txt_records(domain.record_name, resolver)
        error = ""
    except DistributionError as failure:
        records, error = [], str(failure)
    if domain.record_value in records:
        domain.verified_at = domain.verified_at or now
        domain.last_error = ""
    else:
        domain.verified_at = None
        domain.last_error = error or (
            f"No TXT record {domain.record_value!r} at {domain.record_name} yet"
            + (f" (found: {', '.join(records)[:300]})" if records else "")
            + "."
        )
    domain.last_checked_at = now
    domain.save(update_fields=["verified_at", "last_error", "last_checked_at"])
    return domain.verified_at is not None


# Individual links ----------------------------------------------------------------------------


def links_for(distribution: Distribution, deliveries) -> list[tuple[Delivery, str]]:
    """The individual link of each delivery, made now where it has none yet (kept encrypted
    on the delivery, so it stays the link the invitation will carry)."""
    if distribution.link_type != LinkType.INDIVIDUAL:
        url = surveys.anonymous_url(distribution.survey)
        return [(delivery, url) for delivery in deliveries]
    made = []
    with transaction.atomic():
        for delivery in deliveries:
            if delivery.link_secret:
                made.append((delivery, surveys.link_url(secrets.decrypt(delivery.link_secret))))
                continue
            try:
                link, url = surveys.create_link(
                    distribution.survey,
                    delivery.contact,
                    delivery_id=delivery.public_id,
                    transaction=delivery.transaction,
                    embedded_data=distribution.embedded_data,
                    expires_at=distribution.link_expires_at,
                )
            except surveys.SurveyNotActive as error:
                raise DistributionError(str(error)) from None
            token = url.rstrip("/").rsplit("/", 1)[-1]
            updated = Delivery.objects.filter(pk=delivery.pk, link_secret="").update(
                link=link, link_secret=secrets.encrypt(token)
            )
            if not updated:  # made meanwhile by the sender: use that one
                link.delete()
                delivery.refresh_from_db()
                url = surveys.link_url(secrets.decrypt(delivery.link_secret))
            else:
                delivery.link = link
            made.append((delivery, url))
    return made
