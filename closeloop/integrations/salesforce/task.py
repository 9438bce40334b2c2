"""The Salesforce task: write a response back to Salesforce (Qualtrics' "Salesforce" task).

Config:

    {"account": "SFA_…",                 # the workflow owner's linked account (or one shared)
     "operation": "insert",              # insert, update, upsert, delete or chatter
     "object": "Survey_Response__c",     # the object's API name
     "recordId": "~{ch://EV_…/Case.Id}", # update, delete: the record's id (piped text)
     "externalIdField": "Response_Id__c", "externalId": "~{ch://EV_…/responseId}",   # upsert
     "fields": [{"field": "NPS__c", "value": "~{ch://EV_…/QID1}"},
                {"field": "Case__c", "value": "~{ch://EV_…/embeddedData.CaseId}"}],
     "idempotencyField": "",             # insert: a text field that keeps the run's key
     "chatterSubject": "~{ch://EV_…/Case.Id}", "chatterText": "NPS ~{ch://EV_…/QID1}"}

Values arrive rendered and are typed by the object's describe (record_values.field_value,
metadata.object_fields caches it for an hour): a value that does not fit fails the task with a
message naming the field. Output: {"id", "object", "operation", "created"}.

Whose account: the workflow runs as its owner, so the task writes as one of the owner's usable
accounts (their own, or shared with the organization); only the owner chooses it, and an
existing workflow does not move to another Salesforce org (binding.py).

One write per task run: update, upsert and delete are idempotent. An insert is not: with an
`idempotencyField` the task writes the run's key into it, and an attempt after the first looks
for the record an earlier attempt created (an upsert on that key when the field is an external
id) instead of creating another. Without one, a worker that dies after Salesforce created the
record and before the outcome was recorded makes the retry create a second record. A Chatter
post has the same limit (a feed item has no field for a key).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from closeloop.integrations.salesforce import binding, metadata, queries
from closeloop.integrations.salesforce.client import (
    EDITOR_TIMEOUTS,
    Rejected,
    SalesforceClient,
    Written,
)
from closeloop.integrations.salesforce.models import ConnectedAccount
from closeloop.integrations.salesforce.record_values import (
    FieldInfo,
    field_value,
    is_api_name,
    record_id,
)
from closeloop.integrations.salesforce.repoint import SalesforceAccountHooks
from closeloop.workflows.registry import (
    DryRun,
    OfferedField,
    RetryLater,
    TaskContext,
    TaskFailed,
    TaskType,
)

log = logging.getLogger("closeloop.salesforce")

OPERATIONS = {
    "insert": "Insert a record",
    "update": "Update a record (by its id)",
    "upsert": "Upsert a record (by an external id)",
    "delete": "Delete a record (by its id)",
    "chatter": "Post to Chatter",
}
WRITES_FIELDS = ("insert", "update", "upsert")
NEEDS_RECORD_ID = ("update", "delete")
COMMON_OBJECTS = ("Survey_Response__c", "Case", "Contact", "Account", "Lead", "Opportunity")
TEXT_SETTINGS = (
    "account",
    "operation",
    "object",
    "recordId",
    "externalIdField",
    "externalId",
    "idempotencyField",
    "chatterSubject",
    "chatterText",
)
SETTINGS = (*TEXT_SETTINGS, "fields")
MAX_FIELDS = 200
MAX_VALUE = 131072  # Salesforce's longest text area
MAX_CHATTER = 10000
ALREADY_DELETED = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND"})


def _is_piped(text: str) -> bool:
    return "~{" in text or "${" in text


def environment_word(account: ConnectedAccount) -> str:
    """production or sandbox, as the editor and messages say it (a My Domain login says
    sandbox when its host is a sandbox's)."""
    if account.environment == "sandbox" or ".sandbox." in account.login_url:
        return "sandbox"
    return "production"


def owner_name(user) -> str:
    return (user.get_full_name() or user.email) if user is not None else "a deleted user"


@dataclass(frozen=True)
class Plan:
    """What a run writes: the operation, the object and the typed values."""

    operation: str
    sobject: str
    values: dict
    record_id: str = ""
    external_field: str = ""
    external_id: str = ""
    key_field: FieldInfo | None = None

    def summary(self, account: ConnectedAccount) -> str:
        verb = {
            "insert": f"create a {self.sobject}",
            "update": f"update {self.sobject} {self.record_id}",
            "upsert": f"upsert the {self.sobject} whose {self.external_field} is "
            f"{self.external_id!r} (created if there is none)",
            "delete": f"delete {self.sobject} {self.record_id}",
        }[self.operation]
        who = f"{account.name} ({account.username}, {environment_word(account)})"
        values = ", ".join(f"{name} = {value!r}" for name, value in self.values.items())
        return f"Would {verb} as {who}" + (f" with {values}." if values else ".")


class SalesforceTask(SalesforceAccountHooks, TaskType):
    key = "salesforce"
    label = "Salesforce"
    description = (
        "Insert, update, upsert or delete a Salesforce record (a survey response linked to its "
        "Case or Contact), or post to Chatter, as the workflow owner's linked account."
    )
    atomic = False  # calls Salesforce: run() outside the database transaction
    side_effects = "write to Salesforce"
    editor_template = "salesforce/tasks/salesforce.html"

    def default_config(self) -> dict:
        config: dict = dict.fromkeys(TEXT_SETTINGS, "")
        config.update(operation="insert", fields=[])
        return config

    def clean_config(self, config: Mapping) -> dict:
        """Text trimmed (the Chatter text as written); the settings the operation does not use
        emptied, so that a switch of operation leaves nothing behind that runs."""
        clean = self.default_config()
        for name, value in config.items():
            if name in TEXT_SETTINGS and isinstance(value, str):
                clean[name] = value if name == "chatterText" else value.strip()
            elif name != "fields":
                clean[name] = value  # validate() names what is wrong with it
        rows = config.get("fields", [])
        if isinstance(rows, list):
            rows = [
                {"field": str(row.get("field") or "").strip(), "value": str(row.get("value") or "")}
                if isinstance(row, Mapping)
                else row
                for row in rows
            ]
            rows = [
                row for row in rows if not isinstance(row, dict) or row["field"] or row["value"]
            ]
        clean["fields"] = rows
        operation = clean.get("operation")
        if operation in OPERATIONS:
            used = _used_settings(operation)
            for name in TEXT_SETTINGS:
                if name not in used and name not in ("account", "operation"):
                    clean[name] = ""
            if operation not in WRITES_FIELDS:
                clean["fields"] = []
        return clean

    # Saving ---------------------------------------------------------------------------------

    def validate(self, config: Mapping, *, organization) -> list[str]:
        problems = [
            f"there is no setting {name!r}." for name in sorted(set(config) - set(SETTINGS))
        ]
        problems += [
            f"{name} must be text."
            for name in TEXT_SETTINGS
            if not isinstance(config.get(name, ""), str)
        ]
        if problems:
            return problems
        account_id = config.get("account", "")
        if not account_id:
            problems.append("choose the linked Salesforce account the task writes as.")
        elif queries.account_in(organization, account_id) is None:
            problems.append(f"there is no linked Salesforce account {account_id}.")
        operation = config.get("operation", "")
        if operation not in OPERATIONS:
            return [*problems, f"the operation is one of {', '.join(OPERATIONS)}."]
        if operation == "chatter":
            return problems + _chatter_problems(config)
        if not is_api_name(config.get("object")):
            problems.append(
                "name the object by its API name, e.g. Survey_Response__c, Case or Contact."
            )
        if operation in NEEDS_RECORD_ID:
            problems += _id_problems(config.get("recordId", ""), "the record id")
        if operation == "upsert":
            if not is_api_name(config.get("externalIdField")):
                problems.append("upsert needs the API name of an external id field.")
            if not config.get("externalId", "").strip():
                problems.append("upsert needs the external id value (type it or pick it with {a}).")
        if config.get("idempotencyField") and not is_api_name(config["idempotencyField"]):
            problems.append("the field that keeps the run's key must be an API name.")
        if operation in WRITES_FIELDS:
            problems += _field_problems(config.get("fields"), config)
        return problems

    def text_values(self, config: Mapping) -> list[tuple[str, str]]:
        labels = {
            "recordId": "Record ID",
            "externalId": "External ID",
            "chatterSubject": "Chatter subject",
            "chatterText": "Chatter text",
        }
        values = [
            (label, config.get(name, "")) for name, label in labels.items() if config.get(name)
        ]
        for row in config.get("fields") or []:
            if isinstance(row, Mapping):
                values.append((f"field {row.get('field', '')}", row.get("value", "")))
        return [(label, text) for label, text in values if isinstance(text, str)]

    def outputs(self, config: Mapping) -> list[OfferedField]:
        return [
            OfferedField("id", "String", "Record ID"),
            OfferedField("object", "String", "Object"),
            OfferedField("operation", "String", "Operation"),
            OfferedField("created", "Boolean", "Created (a new record)"),
        ]

    def check_edit(self, before: Mapping | None, after: Mapping, *, workflow, editor) -> list[str]:
        return binding.account_edit_problems(
            (before or {}).get("account") if before is not None else None,
            after.get("account"),
            workflow=workflow,
            editor=editor,
        )

    # Running --------------------------------------------------------------------------------

    def account_for(self, context: TaskContext) -> ConnectedAccount:
        """The account the task writes as: one the workflow's owner may use."""
        account_id = context.config.get("account") or ""
        owner = context.owner
        if owner is None:
            raise TaskFailed(
                "This workflow's owner no longer exists, and a Salesforce task writes as its "
                "owner's linked account: copy the workflow (the copy runs as you) and choose "
                "one of your accounts."
            )
        usable = queries.usable_accounts(context.organization, owner)
        account = usable.filter(public_id=account_id).first()
        if account is not None:
            return account
        if queries.account_in(context.organization, account_id) is None:
            raise TaskFailed(
                f"The linked Salesforce account {account_id} no longer exists (it was removed "
                f"on the Extensions → Salesforce page): {owner_name(owner)}, the workflow's "
                "owner, must choose another account in this task."
            )
        raise TaskFailed(stale_account_message(context.workflow, owner, account_id))

    def plan(self, config: Mapping, account, client: SalesforceClient) -> Plan:
        """The write the rendered config asks for, typed by the object's describe."""
        operation, sobject = config["operation"], config["object"]
        fields = metadata.object_fields(account, sobject, client=client)
        named = [row["field"] for row in config.get("fields") or []]
        extra = [config.get("externalIdField"), config.get("idempotencyField")]
        if any(name and name not in fields for name in [*named, *extra]):
            fields = metadata.object_fields(account, sobject, client=client, refresh=True)
        values = _typed_values(config, fields, sobject)
        if operation in NEEDS_RECORD_ID:
            return Plan(operation, sobject, values, record_id=_record_id(config["recordId"]))
        if operation == "upsert":
            name = config["externalIdField"]
            info = _known(fields, name, sobject)
            if not info.external_id:
                raise TaskFailed(
                    f"{name} is not an external id field of {sobject}; upsert needs one (in "
                    "Salesforce: the field's External ID attribute)."
                )
            external_id = config["externalId"].strip()
            if not external_id:
                raise TaskFailed(f"The external id ({name}) is empty after piped text.")
            return Plan(operation, sobject, values, external_field=name, external_id=external_id)
        key_field = None
        if config.get("idempotencyField"):
            key_field = _known(fields, config["idempotencyField"], sobject)
            if key_field.type != "string":
                raise TaskFailed(
                    f"{key_field.name} keeps the run's key, so it must be a text field "
                    f"(it is {key_field.type})."
                )
        return Plan(operation, sobject, values, key_field=key_field)

    def run(self, context: TaskContext) -> dict:
        config = context.config
        account = self.account_for(context)
        client = SalesforceClient(account, attempt=context.attempt)
        if config.get("operation") == "chatter":
            subject, text = _chatter(config)
            written = client.post_to_chatter(subject, text)
            return _output(written, "FeedItem", "chatter")
        plan = self.plan(config, account, client)
        return _output(self._write(client, plan, context), plan.sobject, plan.operation)

    def _write(self, client: SalesforceClient, plan: Plan, context: TaskContext) -> Written:
        if plan.operation == "update":
            return client.update(plan.sobject, plan.record_id, plan.values)
        if plan.operation == "upsert":
            return client.upsert(plan.sobject, plan.external_field, plan.external_id, plan.values)
        if plan.operation == "delete":
            try:
                return client.delete(plan.sobject, plan.record_id)
            except Rejected as error:
                if context.attempt > 1 and error.codes & ALREADY_DELETED:
                    return Written(plan.record_id, False)  # an earlier attempt deleted it
                raise
        key, key_field = context.idempotency_key, plan.key_field
        if key_field is None or not key:
            return client.insert(plan.sobject, plan.values)
        if key_field.external_id:
            written = client.upsert(plan.sobject, key_field.name, key, plan.values)
            return Written(written.id, True)
        if context.attempt > 1:
            found = client.find_id(plan.sobject, key_field.name, key)
            if found:
                return Written(found, True)  # created by an earlier attempt of this task
        return client.insert(plan.sobject, {**plan.values, key_field.name: key}, repeatable=True)

    def dry_run(self, context: TaskContext) -> DryRun:
        config = context.config
        operation = config.get("operation")
        try:
            account = self.account_for(context)
            if operation == "chatter":
                subject, text = _chatter(config)
                summary = (
                    f"Would post to Chatter on {subject} as {account.name} "
                    f"({account.username}, {environment_word(account)}): {text!r}."
                )
                return DryRun(summary, _preview_output("FeedItem", "chatter", ""))
            plan = self.plan(config, account, SalesforceClient(account))
        except RetryLater as error:  # a run would wait and try again, not fail
            return DryRun(
                f"Could not ask Salesforce for the fields of {config.get('object')}: {error}. "
                "A run would wait and try again.",
                _preview_output(config.get("object") or "", operation or "", ""),
            )
        except (TaskFailed, ValueError) as error:
            return DryRun(f"Would fail: {error}", {}, (str(error),))
        return DryRun(
            plan.summary(account), _preview_output(plan.sobject, plan.operation, plan.record_id)
        )

    # The editor -----------------------------------------------------------------------------

    def config_from_form(self, data, previous: Mapping) -> dict:
        config = {name: data.get(name, "") for name in TEXT_SETTINGS}
        if "account" not in data:
            config["account"] = previous.get("account", "")
        config["fields"] = [
            {"field": name, "value": value}
            for name, value in zip(data.getlist("sf_field"), data.getlist("sf_value"), strict=False)
        ]
        return self.clean_config(config)

    def editor_context(self, config: Mapping, *, organization, workflow=None) -> dict:
        context = binding.editor_context(config.get("account") or "", organization, workflow)
        account = context["salesforce_account"]
        fields, fields_error = None, ""
        sobject = config.get("object") or ""
        usable = account is not None and account in context["salesforce_accounts"]
        if usable and is_api_name(sobject) and config.get("operation") != "chatter":
            try:
                fields = metadata.object_fields(
                    account, sobject, client=SalesforceClient(account, timeout=EDITOR_TIMEOUTS)
                )
            except (TaskFailed, RetryLater) as error:
                fields_error = str(error)
            except Exception as error:  # the editor must open whatever Salesforce does
                log.exception("describing %s as %s failed", sobject, account.public_id)
                fields_error = f"{type(error).__name__}: {error}"
        return {
            **context,
            "environment": environment_word(account) if account is not None else "",
            "operations": OPERATIONS,
            "common_objects": COMMON_OBJECTS,
            "field_rows": _field_rows(config, fields),
            "field_choices": _field_choices(fields, config.get("operation", "insert")),
            "external_fields": [
                info for info in (fields or {}).values() if info.external_id and info.writable
            ],
            "text_fields": [info for info in (fields or {}).values() if info.type == "string"],
            "fields_known": fields is not None,
            "fields_error": fields_error,
        }


def _used_settings(operation: str) -> set[str]:
    used = {"account", "operation", "object"}
    if operation in NEEDS_RECORD_ID:
        used.add("recordId")
    if operation == "upsert":
        used |= {"externalIdField", "externalId"}
    if operation == "insert":
        used.add("idempotencyField")
    if operation == "chatter":
        used = {"account", "operation", "chatterSubject", "chatterText"}
    return used


def _id_problems(text: str, what: str) -> list[str]:
    if not text.strip():
        return [f"{what} is required (type it or pick it with {{a}})."]
    if _is_piped(text):
        return []
    try:
        record_id(text, what)
    except ValueError as error:
        return [str(error)]
    return []


def _chatter_problems(config: Mapping) -> list[str]:
    problems = []
    subject = config.get("chatterSubject", "")
    if subject != "me":
        problems += _id_problems(subject, "the Chatter subject (a record, user or group id)")
    text = config.get("chatterText", "")
    if not text.strip():
        problems.append("write the Chatter post (piped text works).")
    elif len(text) > MAX_CHATTER:
        problems.append(f"a Chatter post is at most {MAX_CHATTER} characters.")
    return problems


def _field_problems(rows: object, config: Mapping) -> list[str]:
    if not isinstance(rows, list):
        return ["fields must be a list of {field, value}."]
    if not rows and config.get("operation") != "upsert":
        return ["map at least one Salesforce field."]
    if not rows:
        return ["map at least one Salesforce field besides the external id."]
    if len(rows) > MAX_FIELDS:
        return [f"at most {MAX_FIELDS} fields."]
    problems, seen = [], set()
    reserved = {config.get("externalIdField"), config.get("idempotencyField")} - {""}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping) or not isinstance(row.get("value", ""), str):
            problems.append(f"field {number} must have a field name and a text value.")
            continue
        name = row.get("field")
        if not is_api_name(name):
            problems.append(f"field {number}: choose the Salesforce field (its API name).")
        elif name in seen:
            problems.append(f"the field {name} is mapped twice.")
        elif name in reserved:
            problems.append(f"{name} is set by the task itself; remove it from the mapping.")
        seen.add(name)
        if len(row.get("value", "")) > MAX_VALUE:
            problems.append(f"the value of {name} is over {MAX_VALUE} characters.")
    return problems


def _known(fields: Mapping[str, FieldInfo], name: str, sobject: str) -> FieldInfo:
    info = fields.get(name)
    if info is None:
        raise TaskFailed(
            f"{sobject} has no field {name} that the linked account can see: check the API "
            "name and the Salesforce user's field-level security."
        )
    return info


def _typed_values(config: Mapping, fields: Mapping[str, FieldInfo], sobject: str) -> dict:
    operation = config["operation"]
    values = {}
    for row in config.get("fields") or []:
        info = _known(fields, row["field"], sobject)
        if operation == "insert" and not info.createable:
            raise TaskFailed(f"{info.name} cannot be set when a {sobject} is created.")
        if operation == "update" and not info.updateable:
            raise TaskFailed(f"{info.name} cannot be changed on an existing {sobject}.")
        if not (info.createable or info.updateable):
            raise TaskFailed(f"{info.name} of {sobject} cannot be written.")
        try:
            value = field_value(row["value"], info)
        except ValueError as error:
            raise TaskFailed(f"{sobject}.{error}") from None
        if value is None and operation == "insert":
            continue  # an insert leaves an empty field out
        values[info.name] = value
    return values


def _record_id(text: str) -> str:
    try:
        return record_id(text, "The record id")
    except ValueError as error:
        raise TaskFailed(str(error)) from None


def _chatter(config: Mapping) -> tuple[str, str]:
    subject = (config.get("chatterSubject") or "").strip()
    if subject != "me":
        try:
            subject = record_id(subject, "The Chatter subject")
        except ValueError as error:
            raise TaskFailed(str(error)) from None
    text = config.get("chatterText") or ""
    if not text.strip():
        raise TaskFailed("The Chatter post is empty after piped text was filled in.")
    if len(text) > MAX_CHATTER:
        raise TaskFailed(f"The Chatter post is over {MAX_CHATTER} characters after piped text.")
    return subject, text


def _output(written: Written, sobject: str, operation: str) -> dict:
    return {"id": written.id, "object": sobject, "operation": operation, "created": written.created}


def _preview_output(sobject: str, operation: str, record: str) -> dict:
    created = operation in ("insert", "chatter")
    return {
        "id": record or ("(new record id)" if created else "(the upserted record's id)"),
        "object": sobject,
        "operation": operation,
        "created": created,
    }


def _field_rows(config: Mapping, fields: Mapping[str, FieldInfo] | None) -> list[dict]:
    rows = []
    for row in config.get("fields") or []:
        if not isinstance(row, Mapping):
            continue
        info = (fields or {}).get(row.get("field", ""))
        rows.append(
            {
                "field": row.get("field", ""),
                "value": row.get("value", ""),
                "info": info,
                "unknown": fields is not None and info is None and bool(row.get("field")),
            }
        )
    return rows


def _field_choices(fields: Mapping[str, FieldInfo] | None, operation: str) -> list[FieldInfo]:
    if fields is None:
        return []
    if operation == "insert":
        usable = [info for info in fields.values() if info.createable and info.writable]
    elif operation == "update":
        usable = [info for info in fields.values() if info.updateable and info.writable]
    else:
        usable = [info for info in fields.values() if info.writable]
    return sorted(usable, key=lambda info: (info.label or info.name).lower())


def stale_account_message(workflow, owner, account_id: str) -> str:
    """Why the owner's workflow cannot write as `account_id`, and where to fix it: on the
    survey's transfer page (after an ownership transfer, or for any survey's workflow), or
    in the task."""
    account = queries.account_in(workflow.organization, account_id) if workflow else None
    holder = owner_name(account.owner) if account is not None and account.owner else "someone else"
    name = account.name if account is not None else account_id
    survey_id = getattr(getattr(workflow, "survey", None), "public_id", "")
    if not survey_id:
        return (
            f"The Salesforce account {name} is no longer one that {owner_name(owner)}, the "
            "workflow's owner, may use (it is not theirs and no longer shared with the "
            "organization): they must choose another account in this task."
        )
    page = settings.CLOSELOOP_BASE_URL + reverse("workflows:transfer", args=[survey_id])
    return (
        f"This workflow runs as {owner_name(owner)}; its Salesforce account {name} belongs to "
        f"{holder} and is not shared with the organization: re-point it on {page}"
    )
