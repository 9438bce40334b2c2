"""Where integrations plug into distributions. They sit above it (docs/architecture.md), so
distributions never imports one: an integration registers here from its AppConfig.ready, which
runs before the URLconf loads and before any message is sent.

SMS providers
    add_sms_provider(finder): finder(organization) returns the provider's SMS backend when the
    organization configured that provider, else None. sms_backend_for(organization) asks the
    finders in order, then falls back to settings.CLOSELOOP_SMS_BACKEND (a dotted path; the
    outbox by default). A backend has send(*, organization, to, body, sender="") returning an
    SmsResult (sid, status, segments; `price` when the provider reports one), and may have
    classify_error(error) saying what a failed send means: "refused" (certainly not sent,
    final), "retry" (certainly not sent, try later) or "ambiguous" (it may have left: the
    default for a backend that cannot tell).

Pages
    add_pages(patterns) and add_tracking_pages(patterns): URL patterns served among
    distributions' own, under /distributions/ (named distributions:<name>) and under /t/
    (tracking:<name>: public endpoints such as a provider's webhooks), so that the URL names
    templates use do not depend on which app serves the page.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.utils.module_loading import import_string

_sms_providers: list[Callable] = []
pages: list = []  # mounted by closeloop/distributions/urls.py
tracking_pages: list = []  # mounted by closeloop/distributions/public_urls.py


def add_sms_provider(finder: Callable) -> None:
    if finder not in _sms_providers:
        _sms_providers.append(finder)


def sms_backend_for(organization):
    """The SMS backend that sends this organization's messages."""
    for finder in _sms_providers:
        backend = finder(organization)
        if backend is not None:
            return backend
    return import_string(settings.CLOSELOOP_SMS_BACKEND)()


def add_pages(patterns: list) -> None:
    pages.extend(pattern for pattern in patterns if pattern not in pages)


def add_tracking_pages(patterns: list) -> None:
    tracking_pages.extend(pattern for pattern in patterns if pattern not in tracking_pages)
