"""Objects' fields (Salesforce describe), cached per (account, object, API version).

A Salesforce task types every value by its field's describe type; describing on every run
would spend an API request each time, so the fields are kept in Django's cache for an hour.
A field added in Salesforce shows up after that, or at once with *Reload fields* in the task
editor (object_fields(…, refresh=True)). The cache is per process unless CACHES names a shared
one; every process describes at most once an hour either way.
"""

from __future__ import annotations

from django.core.cache import cache

from closeloop.integrations.salesforce.client import API_VERSION, SalesforceClient
from closeloop.integrations.salesforce.models import ConnectedAccount
from closeloop.integrations.salesforce.record_values import FieldInfo

CACHE_SECONDS = 60 * 60


def cache_key(account: ConnectedAccount, sobject: str) -> str:
    return f"salesforce.describe:{account.public_id}:{sobject}:{API_VERSION}"


def cached_fields(account: ConnectedAccount, sobject: str) -> dict[str, FieldInfo] | None:
    """The fields remembered for the object, or None (nothing asked of Salesforce)."""
    stored = cache.get(cache_key(account, sobject))
    if stored is None:
        return None
    return {item["name"]: FieldInfo.from_describe(item) for item in stored}


def object_fields(
    account: ConnectedAccount,
    sobject: str,
    *,
    client: SalesforceClient | None = None,
    refresh: bool = False,
) -> dict[str, FieldInfo]:
    """The object's fields by API name, described once per CACHE_SECONDS (or now, with
    refresh). Raises what the client raises (an unknown object is a Rejected NOT_FOUND)."""
    if not refresh:
        found = cached_fields(account, sobject)
        if found is not None:
            return found
    client = client or SalesforceClient(account)
    fields = client.describe(sobject)
    cache.set(cache_key(account, sobject), [item.as_json() for item in fields], CACHE_SECONDS)
    return {item.name: item for item in fields}


def forget(account: ConnectedAccount, sobject: str) -> None:
    cache.delete(cache_key(account, sobject))
