"""Distributions' jobs in the ledger.

- distributions.prepare {distribution}: at the send time, creates one Delivery per recipient
  (idempotent) and one send job per chunk of 500, committing slice by slice (atomic=False) so
  that the first messages leave while the rest is being prepared; a retry continues.
- distributions.send_chunk {distribution, first, last}: sends the Pending deliveries of the
  chunk (atomic=False: SMTP I/O outside any transaction; exactly-once through the deliveries'
  own states, see closeloop.distributions.sending). Retried when the server is unreachable.
- distributions.sync_survey_progress (recurring, every minute): survey statuses from responses
  for distributions still open to answers, in case the surveys app did not report them.
- distributions.forget_idempotency_keys (recurring, hourly): deletes the Idempotency-Keys of
  POST /API/v3/distributions older than 24 hours.
- distributions.delete_old_deliveries (recurring, hourly): each organization's delivery
  retention (closeloop.distributions.retention).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from closeloop.distributions import actions, retention, sending
from closeloop.distributions.channels import sms2way
from closeloop.distributions.core import SendingInterrupted
from closeloop.distributions.models import Distribution
from closeloop.jobs.registry import RetryLater, job_handler
from closeloop.jobs.schedule import recurring

log = logging.getLogger("closeloop.distributions")

RETRY_SECONDS = 30


@job_handler(actions.PREPARE_JOB, atomic=False, lease_seconds=600)
def prepare(payload: dict, job) -> None:
    distribution = (
        Distribution.objects.select_related("survey", "contact")
        .filter(pk=payload.get("distribution"))
        .first()
    )
    if distribution is None:
        return
    count = sending.prepare(distribution)
    log.info("distribution %s prepared: %s deliveries", distribution.public_id, count)


@job_handler(actions.SEND_JOB, atomic=False, lease_seconds=300)
def send_chunk(payload: dict, job) -> None:
    try:
        counts = sending.send_chunk(
            payload["distribution"], payload["first"], payload["last"], f"{job.id}:{job.attempts}"
        )
    except SendingInterrupted as error:
        raise RetryLater(RETRY_SECONDS, str(error)) from None
    log.info("distribution chunk %s..%s: %s", payload["first"], payload["last"], counts)


@recurring("distributions.sync_survey_progress", every=timedelta(minutes=1))
def sync_survey_progress(payload: dict, job) -> None:
    since = timezone.now() - timedelta(days=60)
    open_to_answers = Distribution.objects.filter(
        created_at__gte=since,
        deliveries__sent_at__isnull=False,
        deliveries__finished_at__isnull=True,
    ).distinct()
    for distribution in open_to_answers:
        actions.sync_survey_progress(distribution)


@recurring("distributions.expire_sms_sessions", every=timedelta(minutes=5))
def expire_sms_sessions(payload: dict, job) -> None:
    expired = sms2way.expire_due()
    if expired:
        log.info("two-way SMS sessions expired: %s", expired)


@recurring("distributions.forget_idempotency_keys", every=timedelta(hours=1))
def forget_idempotency_keys(payload: dict, job) -> None:
    forgotten = actions.forget_idempotency_keys()
    if forgotten:
        log.info("idempotency keys forgotten: %s", forgotten)


@recurring("distributions.delete_old_deliveries", every=timedelta(hours=1))
def delete_old_deliveries(payload: dict, job) -> None:
    """Each organization's delivery retention (closeloop.distributions.retention)."""
    cleaned = retention.apply()
    if cleaned.deliveries_deleted:
        log.info("retention: %s deliveries deleted", cleaned.deliveries_deleted)
