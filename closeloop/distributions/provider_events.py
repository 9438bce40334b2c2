"""Provider delivery webhooks through django-anymail's `tracking` signal.

Any ESP anymail supports posts its webhooks to anymail's views (mounted at /t/anymail/, e.g.
/t/anymail/sendgrid/tracking/); anymail normalises them and sends the `tracking` signal,
which this module turns into delivery statuses. Messages sent through an anymail backend carry
the delivery id as metadata ("closeloop_delivery"); other events are matched by Message-ID.
"""

from __future__ import annotations

import logging

from anymail.signals import tracking

from closeloop.distributions import actions

log = logging.getLogger("closeloop.distributions")

# anymail event_type -> our event
EVENTS = {
    "delivered": "delivered",
    "opened": "opened",
    "bounced": "bounced",
    "rejected": "bounced",
    "deferred": "deferred",
    "complained": "complained",
}


def on_tracking(sender, event, esp_name: str = "", **kwargs) -> None:
    ours = EVENTS.get(getattr(event, "event_type", ""))
    if ours is None:
        return
    metadata = getattr(event, "metadata", None) or {}
    delivery_id = metadata.get("closeloop_delivery", "") if isinstance(metadata, dict) else ""
    description = " ".join(
        part for part in (event.description or "", event.mta_response or "") if part
    )
    found = actions.record_provider_event(
        event.message_id or "", ours, description=description, delivery_id=delivery_id
    )
    log.info(
        "%s %s event for %s: %s",
        esp_name,
        ours,
        delivery_id or event.message_id,
        "recorded" if found else "ignored",
    )


def connect() -> None:
    tracking.connect(on_tracking, dispatch_uid="closeloop.distributions.tracking")
