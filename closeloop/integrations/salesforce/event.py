"""The Salesforce Outbound Message event: a workflow started by a Salesforce outbound message.

Config: {"account": "SFA_…", "object": "Case", "fields": [{"name": "Status", "type": "String"}]}.
The account is the workflow owner's linked account; a message is accepted only from its
Salesforce organization and only for the configured object. Every field of a notification
reaches conditions and piped text as `<object>.<field>` (`Case.Status`), with OrganizationId,
ActionId and NotificationId; the listed fields are offered in the pickers with their types
(filled in by pasting the outbound message's WSDL, or a message). Each notification is one
run, deduplicated on its notification id. The receiver is webhooks.outbound_message.

After an ownership transfer the account may be one the new owner may not use, until they
re-point it (closeloop.workflows.transfer): messages are still accepted meanwhile. The
receiver uses the account only for its Salesforce org id, the org the messages come from,
and a replacement must be on that same org; no call is made with the account's credentials,
so nothing runs as someone the workflow no longer belongs to, and no closed case is lost
while the new owner re-points (the workflow's Salesforce tasks fail until then).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from closeloop.integrations.salesforce import binding, outbound, queries
from closeloop.integrations.salesforce.outbound import OutboundMessage, OutboundMessageError
from closeloop.integrations.salesforce.repoint import SalesforceAccountHooks
from closeloop.workflows.registry import EventType, OfferedField

KEY = "salesforce_outbound"
FIELD_TYPES = ("String", "Number", "Boolean", "Date", "DateTime")
COMMON_OBJECTS = ("Case", "Lead", "Opportunity", "Contact", "Account")
MAX_FIELDS = 500
API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}\Z")
MESSAGE_FIELDS = ("OrganizationId", "ActionId", "NotificationId")
# The field types outbound-message WSDLs declare, as workflow field types.
XSD_TYPES = {
    "boolean": "Boolean",
    "int": "Number",
    "long": "Number",
    "double": "Number",
    "decimal": "Number",
    "date": "Date",
    "dateTime": "DateTime",
}
# The other way, to read a value by the type a workflow field was given.
TYPE_XSD = {
    "String": "string",
    "Number": "double",
    "Boolean": "boolean",
    "Date": "date",
    "DateTime": "dateTime",
}


def dedup_key(notification_id: str) -> str:
    return f"salesforce:{notification_id}"


def _json_value(value: object, text: str | None) -> object:
    """A typed value as the run stores it: booleans and numbers as JSON, dates and
    date-times as Salesforce wrote them (conditions read ISO 8601)."""
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return text
    if isinstance(value, Decimal):
        return float(value)
    return value


def notification_event(
    message: OutboundMessage, notification: outbound.Notification, config: Mapping
) -> tuple[str, dict, str]:
    """One notification as a run: (payload shown in reporting, fields, dedup key). The
    session id Salesforce may send is left out: it is a live credential."""
    if not outbound.SALESFORCE_ID.match(notification.id):
        raise OutboundMessageError(
            f"Notification id {notification.id[:40]!r} is not a Salesforce id."
        )
    object_name = config.get("object") or notification.sobject_type
    types = {row["name"]: row.get("type", "String") for row in config.get("fields") or []}
    record = {"type": notification.sobject_type, **notification.fields}
    fields: dict[str, object] = {
        "OrganizationId": message.organization_id,
        "ActionId": message.action_id,
        "NotificationId": notification.id,
    }
    for name, text in notification.fields.items():
        declared = types.get(name)
        if declared is None or text is None:  # not listed: as written, for piped text
            fields[f"{object_name}.{name}"] = text or ""
        else:
            fields[f"{object_name}.{name}"] = _json_value(
                outbound.typed_value(text, TYPE_XSD[declared]), text
            )
    for name in types:
        fields.setdefault(f"{object_name}.{name}", "")
    payload = {
        "OrganizationId": message.organization_id,
        "ActionId": message.action_id,
        "NotificationId": notification.id,
        "EnterpriseUrl": message.enterprise_url,
        "PartnerUrl": message.partner_url,
        object_name: record,
    }
    return json.dumps(payload, ensure_ascii=False), fields, dedup_key(notification.id)


def fields_from_sample(sample: str, object_name: str) -> tuple[str, list[dict]]:
    """(object, field rows) from a pasted outbound-message WSDL or an outbound message."""
    body = sample.strip().encode("utf-8")
    if not body:
        raise ValueError("paste the WSDL of your outbound message (or a message) first.")
    try:
        root = outbound.parse_xml(body)
    except OutboundMessageError as error:
        raise ValueError(str(error)) from None
    if root.tag == f"{{{outbound.WSDL_NS}}}definitions":
        try:
            name, found = outbound.fields_from_wsdl(body)
        except OutboundMessageError as error:
            raise ValueError(str(error)) from None
        rows = [
            {"name": item.name, "type": XSD_TYPES.get(item.xsd_type, "String")} for item in found
        ]
        return name, [row for row in rows if row["name"] != "Id"]
    try:
        message = outbound.parse_outbound_message(body)
    except OutboundMessageError as error:
        raise ValueError(
            f"{error} Paste the WSDL (Setup → Outbound Messages → Click for WSDL)."
        ) from None
    first = message.notifications[0]
    rows = []
    for name, text in first.fields.items():
        if name == "Id":
            continue
        value = outbound.typed_value(text)
        kind = (
            "Boolean"
            if isinstance(value, bool)
            else "Number"
            if isinstance(value, int | Decimal) and not name.endswith("Id")
            else "DateTime"
            if isinstance(value, datetime)
            else "Date"
            if isinstance(value, date)
            else "String"
        )
        rows.append({"name": name, "type": kind})
    return first.sobject_type or object_name, rows


def merge_rows(existing: list[dict], found: list[dict]) -> list[dict]:
    """Rows already listed keep their types; new ones are added after them."""
    names = {row["name"] for row in existing}
    return [*existing, *(row for row in found if row["name"] not in names)][:MAX_FIELDS]


class OutboundMessageEvent(SalesforceAccountHooks, EventType):
    key = KEY
    label = "Salesforce Outbound Message"
    description = (
        "Started when a Salesforce outbound message (sent by a Flow or a workflow rule) arrives "
        "at the workflow's endpoint URL; each notification in it is one run."
    )
    inbound = True
    trigger_url_name = "salesforce-inbound:outbound"
    dedup = "A notification Salesforce delivers again starts no second run."
    editor_template = "salesforce/events/outbound.html"
    sample_hint = "an outbound message (the SOAP XML Salesforce sends; its first notification)"

    def default_config(self) -> dict:
        return {"account": "", "object": "Case", "fields": []}

    def clean_config(self, config: Mapping) -> dict:
        rows = config.get("fields") or []
        if isinstance(rows, list):
            rows = [
                {"name": str(row.get("name", "")).strip(), "type": row.get("type") or "String"}
                if isinstance(row, Mapping)
                else row
                for row in rows
            ]
            rows = [row for row in rows if not isinstance(row, dict) or row["name"]]
        cleaned = {**config, "fields": rows}
        for key in ("account", "object"):
            if isinstance(cleaned.get(key), str):
                cleaned[key] = cleaned[key].strip()
        return cleaned

    def validate_config(self, config: Mapping, *, organization, survey) -> list[str]:
        unknown = set(config) - {"account", "object", "fields"}
        problems = [f"The Salesforce event has no setting {name!r}." for name in sorted(unknown)]
        account_id, object_name = config.get("account"), config.get("object")
        if account_id and (
            not isinstance(account_id, str) or queries.account_in(organization, account_id) is None
        ):
            problems.append(f"There is no linked Salesforce account {account_id}.")
        if not isinstance(object_name, str) or not API_NAME.match(object_name):
            problems.append(
                "Name the object by its API name, e.g. Case, Opportunity or Survey_Request__c."
            )
        return problems + _field_problems(config.get("fields"))

    def check_edit(self, before, after, *, workflow, editor) -> list[str]:
        return binding.account_edit_problems(
            (before or {}).get("account") if before is not None else None,
            after.get("account"),
            workflow=workflow,
            editor=editor,
        )

    def fields(self, config: Mapping, *, survey=None) -> list[OfferedField]:
        object_name = config.get("object") or "Record"
        offered = [OfferedField(name, "String", name) for name in MESSAGE_FIELDS]
        offered.append(OfferedField(f"{object_name}.Id", "String", f"{object_name} Id"))
        for row in config.get("fields") or []:
            if isinstance(row, Mapping) and row.get("name") and row["name"] != "Id":
                name = f"{object_name}.{row['name']}"
                offered.append(OfferedField(name, row.get("type", "String"), name))
        return offered

    def remap(self, run, config: Mapping) -> dict | None:
        """The fields again from the stored notification, typed by the current config."""
        document = run.payload_document
        object_name = config.get("object") or ""
        record = document.get(object_name) if isinstance(document, dict) else None
        if not isinstance(record, dict):
            raise ValueError(f"The stored notification has no {object_name} record.")
        message = OutboundMessage(
            document.get("OrganizationId", ""),
            document.get("ActionId", ""),
            None,
            document.get("EnterpriseUrl", ""),
            document.get("PartnerUrl", ""),
            [],
        )
        fields = {key: value for key, value in record.items() if key != "type"}
        notification = outbound.Notification(
            document.get("NotificationId", ""), record.get("type", object_name), fields
        )
        return notification_event(message, notification, config)[1]

    def config_from_form(self, data, previous: Mapping) -> dict:
        names, types = data.getlist("field_name"), data.getlist("field_type")
        rows = [{"name": name, "type": kind} for name, kind in zip(names, types, strict=False)]
        account = data.get("account", previous.get("account", ""))
        return self.clean_config(
            {
                "account": account,
                "object": data.get("object", previous.get("object", "")),
                "fields": rows,
            }
        )

    def sample_event(self, sample: str, config: Mapping) -> tuple[object, dict]:
        """The first notification of a pasted outbound message, as its run would see it."""
        try:
            message = outbound.parse_outbound_message(sample.strip().encode("utf-8"))
            payload, fields, _key = notification_event(message, message.notifications[0], config)
        except OutboundMessageError as error:
            raise ValueError(str(error)) from None
        return json.loads(payload), fields

    def config_from_sample(self, sample: str, config: Mapping) -> dict:
        object_name, found = fields_from_sample(sample, config.get("object") or "")
        if config.get("object") and object_name.lower() != config["object"].lower():
            raise ValueError(
                f"it describes {object_name} messages, but this event listens for "
                f"{config['object']}: change the object first."
            )
        rows = merge_rows(list(config.get("fields") or []), found)
        return {**config, "object": config.get("object") or object_name, "fields": rows}

    def editor_context(self, config: Mapping, *, organization, workflow=None) -> dict:
        context = binding.editor_context(config.get("account") or "", organization, workflow)
        return {**context, "field_types": FIELD_TYPES}


def _field_problems(rows: object) -> list[str]:
    if not isinstance(rows, list):
        return ["The event's fields must be a list of {name, type}."]
    if len(rows) > MAX_FIELDS:
        return [f"The Salesforce event lists at most {MAX_FIELDS} fields."]
    problems, seen = [], set()
    for position, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            problems.append(f"Field {position} must be an object with name and type.")
            continue
        name, kind = row.get("name"), row.get("type", "String")
        if not isinstance(name, str) or not API_NAME.match(name):
            problems.append(f"Field {position}: {name!r} is not a Salesforce field API name.")
        elif name.lower() in seen:
            problems.append(f"The field {name} is listed twice.")
        if kind not in FIELD_TYPES:
            problems.append(f"Field {name}: the type must be one of {', '.join(FIELD_TYPES)}.")
        seen.add(str(name).lower())
    return problems
