"""The demo Salesforce org: a local backend for demo accounts, as the outbox is for email.

A linked account of the `demo` environment talks to no Salesforce. SalesforceClient asks this
module for its API object instead of simple-salesforce's, and DemoApi answers the REST calls
the client makes (`restful(path, method=…, json=…)` and `query(soql)`) from tables in
Closeloop's database: the demo org's records (DemoRecord) and every write it was asked for
(DemoWrite: the operation, the object, the JSON body and the REST path it stands for, the
record id it got). Errors are the ones Salesforce answers, raised as simple-salesforce raises
them (NOT_FOUND, INVALID_FIELD, MALFORMED_ID, MALFORMED_QUERY), so that the client turns them
into the same task errors as a real org's.

The demo org knows a few objects (DEMO_OBJECTS): Case, Contact, Account and the custom
Survey_Response__c a closed-loop set-up writes responses into.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import unquote

from django.db import transaction
from django.utils import timezone
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from closeloop.distributions.secrets import encrypt
from closeloop.integrations.salesforce.demo_models import DemoRecord, DemoWrite
from closeloop.integrations.salesforce.models import ConnectedAccount, Environment
from closeloop.integrations.salesforce.outbound import id18

DEMO_LABEL = "Demo — writes are recorded here, not sent to Salesforce"
DEMO_HOST = "https://demo-org.closeloop.invalid"
DEMO_USERNAME = "demo.user@closeloop-demo.invalid"
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
KEY_PREFIXES = {"Case": "500", "Contact": "003", "Account": "001", "FeedItem": "0D5"}
CUSTOM_PREFIX = "a0B"


def _field(name: str, kind: str = "string", label: str = "", **flags) -> dict:
    writable = kind != "id"
    return {
        "name": name,
        "type": kind,
        "label": label or name.removesuffix("__c").replace("_", " "),
        "createable": flags.get("createable", writable),
        "updateable": flags.get("updateable", flags.get("createable", writable)),
        "nillable": flags.get("nillable", True),
        "externalId": flags.get("externalId", False),
        "referenceTo": flags.get("referenceTo", []),
    }


DEMO_OBJECTS: dict[str, list[dict]] = {
    "Case": [
        _field("Id", "id", "Case ID"),
        _field("CaseNumber", label="Case Number", createable=False),
        _field("Subject"),
        _field("Status", "picklist"),
        _field("Priority", "picklist"),
        _field("Origin", "picklist", "Case Origin"),
        _field("ContactId", "reference", "Contact ID", referenceTo=["Contact"]),
        _field("ContactEmail", "email", "Contact Email", createable=False),
        _field("SuppliedName", label="Web Name"),
        _field("IsClosed", "boolean", "Closed", createable=False),
        _field("ClosedDate", "datetime", "Closed Date", createable=False),
        _field("Survey_Score__c", "double"),
        _field("Survey_Comment__c", "textarea"),
    ],
    "Contact": [
        _field("Id", "id", "Contact ID"),
        _field("FirstName", label="First Name"),
        _field("LastName", label="Last Name", nillable=False),
        _field("Email", "email"),
        _field("Phone", "phone"),
        _field("External_Id__c", externalId=True),
    ],
    "Account": [
        _field("Id", "id", "Account ID"),
        _field("Name", label="Account Name", nillable=False),
    ],
    "Survey_Response__c": [
        _field("Id", "id", "Record ID"),
        _field("Name", label="Survey Response Name", createable=False),
        _field("Case__c", "reference", "Case", referenceTo=["Case"]),
        _field("Case_Number__c"),
        _field("Contact_Email__c", "email"),
        _field("NPS__c", "double", "NPS"),
        _field("Comment__c", "textarea"),
        _field("Response_Id__c", label="Response ID", externalId=True),
    ],
}
SOQL = re.compile(
    r"SELECT\s+Id\s+FROM\s+(?P<object>\w+)\s+WHERE\s+(?P<field>\w+)\s*=\s*"
    r"'(?P<value>(?:[^'\\]|\\.)*)'\s+LIMIT\s+1\s*\Z",
    re.IGNORECASE,
)


def is_demo(account: ConnectedAccount) -> bool:
    return account.environment == Environment.DEMO


def salesforce_id(prefix: str) -> str:
    """A random 18-character Salesforce id starting with the key prefix."""
    body = "".join(secrets.choice(ID_ALPHABET) for _ in range(15 - len(prefix) - 2))
    return id18(prefix + "5g" + body)


def new_record_id(sobject: str) -> str:
    """An id with the object's key prefix (a0B for custom objects)."""
    return salesforce_id(KEY_PREFIXES.get(sobject, CUSTOM_PREFIX))


# The demo account ----------------------------------------------------------------------------


def link_demo_account(organization, owner, name: str = "Demo Salesforce") -> ConnectedAccount:
    """A linked account of the demo org for `owner`, shared with the organization, so that
    everyone may try the demo workflows. It has no tokens to refresh: nothing is signed in."""
    return ConnectedAccount.objects.create(
        organization=organization,
        owner=owner,
        name=name,
        environment=Environment.DEMO,
        login_url=DEMO_HOST,
        instance_url=DEMO_HOST,
        salesforce_organization_id=salesforce_id("00D"),
        salesforce_user_id=salesforce_id("005"),
        username=DEMO_USERNAME,
        access_token_encrypted=encrypt("demo"),
        refresh_token_encrypted=encrypt("demo"),
        shared_with_organization=True,
    )


def put_record(account: ConnectedAccount, sobject: str, values: dict, record_id: str = ""):
    """A record of the demo org as Salesforce itself changes it (a user closing a case in
    Salesforce), not a write by Closeloop: nothing is added to the writes."""
    record_id = record_id or new_record_id(sobject)
    now = timezone.now()
    record, created = DemoRecord.objects.get_or_create(
        account=account,
        record_id=record_id,
        defaults={"sobject": sobject, "values": {"Id": record_id, **values}, "created_at": now},
    )
    if not created:
        record.values = {**record.values, **values}
        record.modified_at = now
        record.save(update_fields=["values", "modified_at"])
    return record


def writes_of(account: ConnectedAccount, limit: int = 50) -> list[DemoWrite]:
    return list(DemoWrite.objects.filter(account=account).order_by("-id")[:limit])


def find_record(account: ConnectedAccount, sobject: str, field: str, value: str):
    """The first record of the object whose field is `value`, or None."""
    for record in DemoRecord.objects.filter(account=account, sobject=sobject).order_by("id"):
        if str(record.values.get(field, "")) == value:
            return record
    return None


def count_records(account: ConnectedAccount, sobject: str) -> int:
    return DemoRecord.objects.filter(account=account, sobject=sobject).count()


def records_of(account: ConnectedAccount, limit: int = 200) -> list[DemoRecord]:
    return list(DemoRecord.objects.filter(account=account).order_by("-modified_at", "-id")[:limit])


def write_for(account: ConnectedAccount, sobject: str, record_id: str) -> DemoWrite | None:
    """The latest write the account made to this record."""
    return (
        DemoWrite.objects.filter(account=account, sobject=sobject, record_id=record_id)
        .order_by("-id")
        .first()
    )


# The REST API --------------------------------------------------------------------------------


def _problem(message: str, code: str, fields: tuple[str, ...] = ()) -> list[dict]:
    return [{"message": message, "errorCode": code, "fields": list(fields)}]


class DemoApi:
    """What SalesforceClient uses of simple_salesforce.Salesforce, answered by the demo org."""

    def __init__(self, account: ConnectedAccount, api_version: str):
        self.account = account
        self.base_path = f"/services/data/v{api_version}/"

    # Dispatch --------------------------------------------------------------------------------

    def restful(self, path: str, params=None, method: str = "GET", **kwargs):
        parts = [unquote(part) for part in path.strip("/").split("/")]
        body = kwargs.get("json") or {}
        if parts == ["chatter", "feed-elements"] and method == "POST":
            return self._chatter(path, body)
        if parts[0] != "sobjects" or len(parts) < 2:
            raise self._not_found(path)
        sobject = parts[1]
        if sobject not in DEMO_OBJECTS:
            raise SalesforceResourceNotFound(
                self.base_path + path,
                404,
                sobject,
                _problem(f"The requested resource does not exist: {sobject}", "NOT_FOUND"),
            )
        if len(parts) == 2 and method == "POST":
            return self._insert(path, sobject, body)
        if len(parts) == 3 and parts[2] == "describe" and method == "GET":
            return {
                "name": sobject,
                "custom": sobject.endswith("__c"),
                "fields": self._fields(sobject),
            }
        if len(parts) == 3 and method in ("PATCH", "DELETE"):
            return self._change(path, method, sobject, parts[2], body)
        if len(parts) == 4 and method == "PATCH":
            return self._upsert(path, sobject, parts[2], parts[3], body)
        raise self._not_found(path)

    def query(self, soql: str) -> dict:
        match = SOQL.match(soql.strip())
        if match is None or match["object"] not in DEMO_OBJECTS:
            raise SalesforceMalformedRequest(
                self.base_path + "query/",
                400,
                "query",
                _problem(
                    f"The demo org answers only SELECT Id … WHERE F = 'v' LIMIT 1: {soql}",
                    "MALFORMED_QUERY",
                ),
            )
        value = re.sub(r"\\(.)", r"\1", match["value"])
        found = [
            record
            for record in self._records(match["object"])
            if str(record.values.get(match["field"], "")) == value
        ][:1]
        records = [
            {"attributes": {"type": match["object"]}, "Id": record.record_id} for record in found
        ]
        return {"totalSize": len(records), "done": True, "records": records}

    # Operations ------------------------------------------------------------------------------

    def _insert(self, path: str, sobject: str, body: dict) -> dict:
        values = self._checked(path, sobject, body, creating=True)
        record_id = new_record_id(sobject)
        with transaction.atomic():
            put_record(account=self.account, sobject=sobject, values=values, record_id=record_id)
            self._log("insert", sobject, record_id, body, True, "POST", path)
        return {"id": record_id, "success": True, "errors": []}

    def _change(self, path: str, method: str, sobject: str, record_id: str, body: dict):
        record = self._record(sobject, record_id)
        if record is None:
            code = "ENTITY_IS_DELETED" if method == "DELETE" else "NOT_FOUND"
            raise SalesforceResourceNotFound(
                self.base_path + path,
                404,
                sobject,
                _problem("The requested resource does not exist", code),
            )
        with transaction.atomic():
            if method == "DELETE":
                record.delete()
                self._log("delete", sobject, record.record_id, {}, False, method, path)
            else:
                values = self._checked(path, sobject, body, creating=False)
                put_record(self.account, sobject, values, record.record_id)
                self._log("update", sobject, record.record_id, body, False, method, path)
        return None  # 204 No Content

    def _upsert(self, path: str, sobject: str, field: str, value: str, body: dict) -> dict:
        spec = next((f for f in DEMO_OBJECTS[sobject] if f["name"] == field), None)
        if spec is None or not spec["externalId"]:
            raise SalesforceResourceNotFound(
                self.base_path + path,
                404,
                sobject,
                _problem(
                    f"Provided external ID field does not exist or is not accessible: {field}",
                    "NOT_FOUND",
                ),
            )
        with transaction.atomic():
            matches = [r for r in self._records(sobject) if str(r.values.get(field)) == value]
            values = self._checked(path, sobject, body, creating=not matches)
            record_id = matches[0].record_id if matches else new_record_id(sobject)
            put_record(self.account, sobject, {**values, field: value}, record_id)
            self._log("upsert", sobject, record_id, body, not matches, "PATCH", path)
        return {"id": record_id, "success": True, "errors": [], "created": not matches}

    def _chatter(self, path: str, body: dict) -> dict:
        subject = str(body.get("subjectId") or "")
        segments = ((body.get("body") or {}).get("messageSegments")) or []
        text = "".join(str(segment.get("text") or "") for segment in segments)
        record_id = new_record_id("FeedItem")
        with transaction.atomic():
            put_record(self.account, "FeedItem", {"ParentId": subject, "Body": text}, record_id)
            self._log("chatter", "FeedItem", record_id, body, True, "POST", path)
        return {"id": record_id}

    # Helpers ---------------------------------------------------------------------------------

    def _fields(self, sobject: str) -> list[dict]:
        return [dict(item) for item in DEMO_OBJECTS[sobject]]

    def _records(self, sobject: str):
        return DemoRecord.objects.filter(account=self.account, sobject=sobject).order_by("id")

    def _record(self, sobject: str, record_id: str) -> DemoRecord | None:
        try:
            full = id18(record_id)
        except ValueError:
            return None
        return self._records(sobject).filter(record_id=full).first()

    def _checked(self, path: str, sobject: str, body: dict, *, creating: bool) -> dict:
        fields = {item["name"]: item for item in DEMO_OBJECTS[sobject]}
        url = self.base_path + path
        for name, value in body.items():
            spec = fields.get(name)
            allowed = spec is not None and (spec["createable"] if creating else spec["updateable"])
            if not allowed:
                raise SalesforceMalformedRequest(
                    url,
                    400,
                    sobject,
                    _problem(
                        f"No such column '{name}' on sobject of type {sobject}"
                        if spec is None
                        else f"Unable to create/update fields: {name}.",
                        "INVALID_FIELD" if spec is None else "INVALID_FIELD_FOR_INSERT_UPDATE",
                        (name,),
                    ),
                )
            targets = spec["referenceTo"]
            if targets and value and not any(self._record(t, str(value)) for t in targets):
                raise SalesforceMalformedRequest(
                    url,
                    400,
                    sobject,
                    _problem(
                        f"{name}: id value of incorrect type: {value}", "MALFORMED_ID", (name,)
                    ),
                )
        if creating:
            missing = [
                name
                for name, spec in fields.items()
                if not spec["nillable"] and spec["createable"] and not body.get(name)
            ]
            if missing:
                raise SalesforceMalformedRequest(
                    url,
                    400,
                    sobject,
                    _problem(
                        f"Required fields are missing: [{', '.join(missing)}]",
                        "REQUIRED_FIELD_MISSING",
                        tuple(missing),
                    ),
                )
        return dict(body)

    def _log(self, operation, sobject, record_id, body, created, method, path) -> DemoWrite:
        return DemoWrite.objects.create(
            account=self.account,
            operation=operation,
            sobject=sobject,
            record_id=record_id,
            values=dict(body),
            created=created,
            method=method,
            path=self.base_path + path,
        )

    def _not_found(self, path: str) -> SalesforceResourceNotFound:
        return SalesforceResourceNotFound(
            self.base_path + path,
            404,
            path,
            _problem("The requested resource does not exist", "NOT_FOUND"),
        )
