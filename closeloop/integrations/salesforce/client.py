"""The Salesforce REST client of one linked account: simple-salesforce at API version 66.0.

    client = SalesforceClient(account, attempt=context.attempt)
    client.insert("Survey_Response__c", {"NPS__c": 9, "Case__c": "500…"})   # Written(id, True)
    client.update("Case", "500…", {"Status": "Closed"})
    client.upsert("Contact", "External_Id__c", "C-42", {"LastName": "Lovelace"})
    client.delete("Survey_Response__c", "a0B…")
    client.describe("Survey_Response__c")                # [FieldInfo, …] (cached: metadata.py)
    client.post_to_chatter("500…", "NPS 9: great service")

Every call has a timeout (connect, read). Salesforce's answers become the workflow engine's
errors, so that workflow reporting shows what happened and the engine retries what may pass:

| Salesforce answers | raised | the task |
|---|---|---|
| 401 INVALID_SESSION_ID (the access token expired) | — | the token is refreshed once (actions.refresh_tokens) and the call made once more |
| the refresh is refused (invalid_grant: revoked, user deactivated) | ReconnectNeeded (TaskFailed) | fails; the account shows *Needs attention*; the owner reconnects it |
| 403 REQUEST_LIMIT_EXCEEDED | RetryLater, 5 min doubling to 1 h | retries |
| 5xx, UNABLE_TO_LOCK_ROW, no connection | RetryLater, 30 s doubling to 30 min | retries |
| 400 / 403 / 404 [{"errorCode", "message", "fields"}] | Rejected (TaskFailed) | fails with "CODE: message (fields: …)" |
| no answer in time to a create or a Chatter post | Rejected | fails: the record may exist, check before retrying (a retry could write it twice) |
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, urlsplit

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMoreThanOneRecord,
)

from closeloop.integrations.salesforce import actions, demo_backend
from closeloop.integrations.salesforce.models import ConnectedAccount
from closeloop.integrations.salesforce.record_values import FieldInfo
from closeloop.jobs.backoff import delay_seconds
from closeloop.workflows.registry import RetryLater, TaskFailed

log = logging.getLogger("closeloop.salesforce")

API_VERSION = "66.0"
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60
TIMEOUTS = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
EDITOR_TIMEOUTS = (5, 15)  # a page waiting on Salesforce gives up sooner than a task
LIMIT_RETRY_SECONDS, LIMIT_RETRY_CAP_SECONDS = 300.0, 3600.0
SERVER_RETRY_SECONDS, SERVER_RETRY_CAP_SECONDS = 30.0, 1800.0
TRANSIENT_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"}
)
ERROR_TEXT_LIMIT = 500

T = TypeVar("T")


class TimeoutSession(requests.Session):
    """A requests session whose every request has a timeout (simple-salesforce sets none)."""

    def __init__(self, timeout: tuple[float, float] = TIMEOUTS):
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class Problem:
    """One entry of Salesforce's error array."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.code}: {self.message}" if self.code else self.message
        return f"{text} (fields: {', '.join(self.fields)})" if self.fields else text


class Rejected(TaskFailed):
    """Salesforce refused the request; retrying the same request will not help."""

    def __init__(self, message: str, problems: tuple[Problem, ...] = (), status: int = 0):
        super().__init__(message)
        self.problems, self.status = problems, status

    @property
    def codes(self) -> set[str]:
        return {problem.code for problem in self.problems}


class ReconnectNeeded(TaskFailed):
    """The account's grant is gone: its owner must reconnect it (Extensions → Salesforce)."""


@dataclass(frozen=True)
class Written:
    """A record written: its id, and whether it was created."""

    id: str
    created: bool


def problems_of(content: object) -> tuple[Problem, ...]:
    """Salesforce's [{"errorCode", "message", "fields"}] (or one such object) as Problems."""
    items = content if isinstance(content, list) else [content]
    found = []
    for item in items:
        if isinstance(item, dict) and (item.get("errorCode") or item.get("message")):
            fields = item.get("fields") or ()
            found.append(
                Problem(
                    str(item.get("errorCode") or ""),
                    str(item.get("message") or "").strip(),
                    tuple(str(name) for name in fields) if isinstance(fields, list) else (),
                )
            )
    return tuple(found)


def _short(content: object) -> str:
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    text = " ".join(str(content or "").split())
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "…"


class SalesforceClient:
    """Calls Salesforce as one linked account. `attempt` (the task's attempt, from 1) makes
    the retry delays grow from one attempt to the next; `timeout` is (connect, read) seconds."""

    def __init__(
        self,
        account: ConnectedAccount,
        *,
        attempt: int = 1,
        api_version: str = API_VERSION,
        timeout: tuple[float, float] = TIMEOUTS,
    ):
        self.account = account
        self.attempt = max(1, attempt)
        self.api_version = api_version
        self.session = TimeoutSession(timeout)

    # Operations -----------------------------------------------------------------------------

    def insert(self, sobject: str, values: dict, *, repeatable: bool = False) -> Written:
        """Create a record. Not `repeatable` (the default): a request Salesforce may have
        carried out without answering fails instead of being retried."""
        reply = self._call(
            lambda api: api.restful(f"sobjects/{sobject}/", method="POST", json=values),
            f"creating a {sobject}",
            repeatable=repeatable,
        )
        return Written(str(reply["id"]), True)

    def update(self, sobject: str, record_id: str, values: dict) -> Written:
        self._call(
            lambda api: api.restful(f"sobjects/{sobject}/{record_id}", method="PATCH", json=values),
            f"updating {sobject} {record_id}",
        )
        return Written(record_id, False)

    def upsert(self, sobject: str, field: str, value: str, values: dict) -> Written:
        """Create or update the record whose external id `field` is `value`."""
        path = f"sobjects/{sobject}/{field}/{quote(value, safe='')}"
        reply = self._call(
            lambda api: api.restful(path, method="PATCH", json=values),
            f"upserting {sobject} by {field}",
        )
        if not isinstance(reply, dict) or not reply.get("id"):
            raise Rejected(
                f"Salesforce did not say which {sobject} it upserted by {field} = {value!r}."
            )
        return Written(str(reply["id"]), bool(reply.get("created", False)))

    def delete(self, sobject: str, record_id: str) -> Written:
        self._call(
            lambda api: api.restful(f"sobjects/{sobject}/{record_id}", method="DELETE"),
            f"deleting {sobject} {record_id}",
        )
        return Written(record_id, False)

    def describe(self, sobject: str) -> list[FieldInfo]:
        reply = self._call(
            lambda api: api.restful(f"sobjects/{sobject}/describe/"), f"describing {sobject}"
        )
        return [FieldInfo.from_describe(item) for item in (reply or {}).get("fields") or []]

    def post_to_chatter(self, subject_id: str, text: str) -> Written:
        """A Chatter post (a FeedItem of one text segment) on a record, a user or a group."""
        element = {
            "feedElementType": "FeedItem",
            "subjectId": subject_id,
            "body": {"messageSegments": [{"type": "Text", "text": text}]},
        }
        reply = self._call(
            lambda api: api.restful("chatter/feed-elements", method="POST", json=element),
            "posting to Chatter",
            repeatable=False,
        )
        return Written(str(reply["id"]), True)

    def find_id(self, sobject: str, field: str, value: str) -> str | None:
        """The id of a record whose `field` equals `value`, if there is one."""
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        soql = f"SELECT Id FROM {sobject} WHERE {field} = '{escaped}' LIMIT 1"
        reply = self._call(lambda api: api.query(soql), f"looking for a {sobject}")
        records = (reply or {}).get("records") or []
        return str(records[0]["Id"]) if records else None

    # Plumbing -------------------------------------------------------------------------------

    def _api(self) -> Salesforce:
        if demo_backend.is_demo(self.account):  # the demo org answers locally, nothing is sent
            return demo_backend.DemoApi(self.account, self.api_version)
        host = urlsplit(self.account.instance_url).netloc
        return Salesforce(
            instance=host,
            session_id=actions.access_token(self.account),
            version=self.api_version,
            session=self.session,
        )

    def _call(self, operation: Callable[[Salesforce], T], doing: str, *, repeatable=True) -> T:
        """The operation; on an expired session, once more after refreshing the token."""
        try:
            return operation(self._api())
        except SalesforceExpiredSession:
            pass
        except Exception as error:
            raise self._translated(error, doing, repeatable) from None
        self._refresh()
        try:
            return operation(self._api())
        except SalesforceExpiredSession as error:
            raise ReconnectNeeded(
                f"Salesforce refused the account {self.account.name}'s new access token while "
                f"{doing} ({', '.join(str(p) for p in problems_of(error.content)) or '401'}): "
                f"{self._reconnect_advice()}"
            ) from None
        except Exception as error:
            raise self._translated(error, doing, repeatable) from None

    def _refresh(self) -> None:
        try:
            actions.refresh_tokens(self.account)
        except actions.LinkError as error:
            if error.transient:
                raise self._retry(
                    SERVER_RETRY_SECONDS, SERVER_RETRY_CAP_SECONDS, str(error)
                ) from None
            if error.reconnect:
                raise ReconnectNeeded(
                    f"Salesforce refused the stored grant of the account {self.account.name} "
                    f"({error}): {self._reconnect_advice()}"
                ) from None
            raise TaskFailed(
                f"The access token of the account {self.account.name} could not be refreshed: "
                f"{error}"
            ) from None
        log.info("salesforce account %s: access token refreshed", self.account.public_id)

    def _reconnect_advice(self) -> str:
        owner = self.account.owner
        who = (owner.get_full_name() or owner.email) if owner is not None else "its owner"
        return (
            f"{who} must reconnect it on the Extensions → Salesforce page (Reconnect), then "
            "retry the run from Workflow reporting."
        )

    def _retry(self, base: float, cap: float, message: str) -> RetryLater:
        wait = delay_seconds(self.attempt - 1, random.uniform(0.8, 1.0), base=base, cap=cap)
        return RetryLater(wait, f"{message} (retrying in {wait:.0f} s)")

    def _translated(self, error: Exception, doing: str, repeatable: bool) -> Exception:
        if isinstance(error, requests.ConnectionError):  # not sent, or the connection broke
            return self._retry(
                SERVER_RETRY_SECONDS,
                SERVER_RETRY_CAP_SECONDS,
                f"Salesforce could not be reached while {doing}: {type(error).__name__}",
            )
        if isinstance(error, requests.RequestException):
            if repeatable:
                return self._retry(
                    SERVER_RETRY_SECONDS,
                    SERVER_RETRY_CAP_SECONDS,
                    f"Salesforce did not answer while {doing}: {type(error).__name__}",
                )
            return Rejected(
                f"Salesforce did not answer in time while {doing} ({type(error).__name__}): "
                "it may have written it anyway. Check in Salesforce before retrying this run, "
                "or a retry could write it twice."
            )
        if not isinstance(error, SalesforceError):
            return error
        return self._from_salesforce(error, doing)

    def _from_salesforce(self, error: SalesforceError, doing: str) -> Exception:
        problems = problems_of(error.content)
        codes = {problem.code for problem in problems}
        said = "; ".join(str(problem) for problem in problems) or _short(error.content)
        if "REQUEST_LIMIT_EXCEEDED" in codes:
            return self._retry(
                LIMIT_RETRY_SECONDS,
                LIMIT_RETRY_CAP_SECONDS,
                f"The Salesforce org's API request limit is used up ({said})",
            )
        if error.status >= 500 or codes & TRANSIENT_CODES:
            return self._retry(
                SERVER_RETRY_SECONDS,
                SERVER_RETRY_CAP_SECONDS,
                f"Salesforce answered {error.status} while {doing} ({said})",
            )
        if isinstance(error, SalesforceMoreThanOneRecord):
            return Rejected(
                f"More than one record matches while {doing}: make the external id unique.",
                problems,
                error.status,
            )
        return Rejected(
            said or f"Salesforce answered {error.status} while {doing}.", problems, error.status
        )
