"""The contact's touchpoint timeline: what happened to a contact, from every app, newest first.

Apps contribute by defining a `touchpoints.py` module that registers a provider:

    from closeloop.directory.touchpoints import Touchpoint, provider

    @provider("response")
    def responses(organization, contact, limit, viewer):
        return [Touchpoint(kind="response", at=..., title=..., detail=..., link=...)]

A provider returns at most `limit` entries of one organization's contact, newest first, that
`viewer` may see (None: the system, everything; the survey apps filter by their permissions,
so a member is not shown the responses of a survey not shared with them). The
directory's AppConfig.ready() imports every installed app's `touchpoints` module
(autodiscover_modules), so the directory never imports the apps that build on it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from closeloop.directory import queries

DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class Touchpoint:
    kind: str  # "transaction", "delivery", "response" …
    at: datetime
    title: str
    detail: str = ""
    link: str = ""


Provider = Callable[[object, object, int, object], Iterable[Touchpoint]]
_providers: dict[str, Provider] = {}


def provider(name: str) -> Callable[[Provider], Provider]:
    """Register a timeline provider under a name (registering the name again replaces it)."""

    def register(function: Provider) -> Provider:
        _providers[name] = function
        return function

    return register


def providers() -> dict[str, Provider]:
    return dict(_providers)


def merge_newest_first(streams: Iterable[Iterable[Touchpoint]], limit: int) -> list[Touchpoint]:
    """The `limit` newest entries of several streams, newest first."""
    return heapq.nlargest(limit, (entry for stream in streams for entry in stream), key=_at)


def _at(entry: Touchpoint) -> datetime:
    return entry.at


def timeline(organization, contact, limit: int = DEFAULT_LIMIT, viewer=None) -> list[Touchpoint]:
    """The contact's touchpoints from every provider, newest first, at most `limit`.

    Each provider is asked for `limit` entries: the `limit` newest overall are among them.
    """
    return merge_newest_first(
        (function(organization, contact, limit, viewer) for function in _providers.values()),
        limit,
    )


@provider("transaction")
def transactions(organization, contact, limit: int, viewer=None) -> list[Touchpoint]:
    return [
        Touchpoint(
            kind="transaction",
            at=row.transaction_date,
            title="Transaction",
            detail=_transaction_detail(row),
            link="",
        )
        for row in queries.transactions_of(contact, limit=limit, organization=organization)
    ]


def _transaction_detail(row) -> str:
    parts = [f"{name}: {value}" for name, value in row.data.items()]
    if row.mailing_list_id:
        parts.append(f"list {row.mailing_list.name}")
    parts.append(row.public_id)
    return " · ".join(parts)
