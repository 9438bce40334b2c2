"""The XM Directory task: add or update a contact from the event's data.

Config:

    {"directory": "",            # POOL_… ; empty = the organization's default directory
     "mailingList": "",          # CG_… of that directory, optional
     "mode": "embeddedData",     # embeddedData: save or update the contact's embedded data
                                 # transaction: add the embedded data as a dated transaction
     "contact": {"firstName": "~{ch://EV_…/first}", "lastName": "…", "email": "…",
                 "phone": "", "extRef": "", "language": ""},
     "embeddedData": [{"name": "Location", "value": "~{ch://EV_…/city}"}],
     "transactionDate": ""}      # transaction mode; empty = when the task runs

The contact is matched with the directory's dedup rules (closeloop.directory.actions.
upsert_contact). Output: contactId, created, transactionId (empty in embeddedData mode),
directoryId, mailingListId. The task runs in the transaction that records its completion,
so a contact and a transaction are written once however often a worker dies.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from closeloop.directory import actions, queries
from closeloop.directory.models import new_transaction_id
from closeloop.directory.values import clean_transaction_data, parse_transaction_date
from closeloop.workflows.lookup_cache import default_directories
from closeloop.workflows.registry import (
    DryRun,
    OfferedField,
    TaskContext,
    TaskFailed,
    TaskType,
)

CONTACT_FIELDS = (
    ("firstName", "First name", True),
    ("lastName", "Last name", True),
    ("email", "Email", True),
    ("phone", "Phone", False),
    ("extRef", "External data reference", False),
    ("language", "Language", False),
)
REQUIRED = tuple(name for name, _label, required in CONTACT_FIELDS if required)
MODES = {
    "embeddedData": "Save or update embedded data",
    "transaction": "Add as a transaction",
}
MAX_EMBEDDED = 100
MAX_TEXT = 2000


def _default_directory(organization):
    """The organization's default directory, remembered for a moment once it is committed (a
    directory created in a transaction that rolls back must not be remembered)."""
    directory = default_directories.get(organization.pk)
    if directory is None:
        directory = actions.default_directory(organization)
        key = organization.pk
        transaction.on_commit(lambda: default_directories.put(key, directory))
    return directory


# What a task that upserts a contact hands on (this task's output, and the Segment contact
# task's).
CONTACT_OUTPUTS = (
    OfferedField("contactId", "String", "Contact ID"),
    OfferedField("created", "Boolean", "Created (new contact)"),
    OfferedField("transactionId", "String", "Transaction ID"),
    OfferedField("directoryId", "String", "Directory ID"),
    OfferedField("mailingListId", "String", "Mailing list ID"),
)


class XmDirectoryTask(TaskType):
    key = "xm_directory"
    label = "XM Directory"
    description = "Add or update a contact, with embedded data or a transaction."
    atomic = True
    side_effects = "update contacts in XM Directory"
    editor_template = "workflows/tasks/xm_directory.html"

    def default_config(self) -> dict:
        return {
            "directory": "",
            "mailingList": "",
            "mode": "embeddedData",
            "contact": {name: "" for name, _label, _required in CONTACT_FIELDS},
            "embeddedData": [],
            "transactionDate": "",
        }

    def clean_config(self, config: Mapping) -> dict:
        clean = self.default_config()
        for key in ("directory", "mailingList", "mode", "transactionDate"):
            if isinstance(config.get(key), str):
                clean[key] = config[key].strip()
        contact = config.get("contact")
        if isinstance(contact, Mapping):
            for name, _label, _required in CONTACT_FIELDS:
                if isinstance(contact.get(name), str):
                    clean["contact"][name] = contact[name].strip()
            for name in contact:
                if name not in clean["contact"]:
                    clean["contact"][name] = contact[name]  # validate() names it
        rows = config.get("embeddedData")
        if isinstance(rows, list):
            clean["embeddedData"] = [
                {"name": str(row.get("name") or "").strip(), "value": str(row.get("value") or "")}
                for row in rows
                if isinstance(row, Mapping) and (row.get("name") or row.get("value"))
            ]
        else:
            clean["embeddedData"] = rows
        return clean

    def validate(self, config: Mapping, *, organization) -> list[str]:
        problems = []
        unknown = set(config) - set(self.default_config())
        problems += [f"there is no setting {name!r}." for name in sorted(unknown)]
        mode = config.get("mode", "embeddedData")
        if mode not in MODES:
            problems.append("mode must be embeddedData or transaction.")
        contact = config.get("contact") or {}
        if not isinstance(contact, Mapping):
            return [*problems, "contact must be an object of fields."]
        known = {name for name, _label, _required in CONTACT_FIELDS}
        problems += [
            f"contact has no field {name!r} (use {', '.join(sorted(known))})."
            for name in sorted(set(contact) - known)
        ]
        for name, label, required in CONTACT_FIELDS:
            value = contact.get(name, "")
            if not isinstance(value, str):
                problems.append(f"{label} must be text.")
            elif required and not value.strip():
                problems.append(f"{label} is required (type it or pick a field with {{a}}).")
            elif len(value) > MAX_TEXT:
                problems.append(f"{label} is at most {MAX_TEXT} characters.")
        problems += self._validate_embedded(config.get("embeddedData") or [])
        problems += self._validate_targets(config, organization)
        return problems

    def _validate_embedded(self, rows: object) -> list[str]:
        if not isinstance(rows, list):
            return ["embeddedData must be a list of {name, value}."]
        if len(rows) > MAX_EMBEDDED:
            return [f"at most {MAX_EMBEDDED} embedded data fields."]
        problems, seen = [], set()
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, Mapping):
                problems.append(f"embedded data field {number} must have a name and a value.")
                continue
            name, value = row.get("name"), row.get("value", "")
            if not isinstance(name, str) or not name.strip():
                problems.append(f"embedded data field {number} needs a name.")
            elif len(name) > 200:
                problems.append(f"embedded data name {name[:40]!r}… is over 200 characters.")
            elif name in seen:
                problems.append(f"embedded data field {name!r} is listed twice.")
            else:
                seen.add(name)
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                problems.append(f"embedded data field {number}: the value must be text.")
        return problems

    def _validate_targets(self, config: Mapping, organization) -> list[str]:
        directory_id = config.get("directory") or ""
        directory = None
        if directory_id:
            directory = queries.directory(organization, directory_id)
            if directory is None:
                return [f"there is no directory {directory_id}."]
        list_id = config.get("mailingList") or ""
        if list_id:
            directory = directory or queries.default_directory(organization)
            found = queries.mailing_list(organization, list_id, directory) if directory else None
            if found is None:
                return [f"there is no mailing list {list_id} in the chosen directory."]
        return []

    def text_values(self, config: Mapping) -> list[tuple[str, str]]:
        values = [
            (label, (config.get("contact") or {}).get(name, ""))
            for name, label, _required in CONTACT_FIELDS
        ]
        for row in config.get("embeddedData") or []:
            values.append((f"embedded data {row.get('name', '')}", row.get("value", "")))
        if config.get("mode") == "transaction":
            values.append(("Transaction date", config.get("transactionDate", "")))
        return [(label, text) for label, text in values if isinstance(text, str)]

    def outputs(self, config: Mapping) -> list[OfferedField]:
        return list(CONTACT_OUTPUTS)

    # Running ---------------------------------------------------------------------------------

    def _targets(self, context: TaskContext, *, dry: bool = False):
        """The directory and mailing list; in a dry run the default directory is not created
        (an unsaved one stands in when there is none yet)."""
        config = context.config
        directory_id = config.get("directory") or ""
        if directory_id:
            directory = queries.directory(context.organization, directory_id)
            if directory is None:
                raise TaskFailed(f"The directory {directory_id} no longer exists.")
        elif dry:
            directory = actions.would_be_default_directory(context.organization)
        else:
            directory = _default_directory(context.organization)
        mailing_list = None
        list_id = config.get("mailingList") or ""
        if list_id:
            if directory.pk is not None:
                mailing_list = queries.mailing_list(context.organization, list_id, directory)
            if mailing_list is None:
                raise TaskFailed(f"The mailing list {list_id} no longer exists in this directory.")
        return directory, mailing_list

    def _values(self, config: Mapping) -> tuple[dict, dict]:
        contact = config.get("contact") or {}
        fields = {
            name: contact.get(name, "").strip()
            for name, _label, _required in CONTACT_FIELDS
            if contact.get(name, "").strip()
        }
        missing = [name for name in REQUIRED if not fields.get(name)]
        if not (fields.get("email") or fields.get("phone") or fields.get("extRef")):
            raise TaskFailed(
                "The contact has no email, phone or external data reference after piped text "
                f"was filled in (empty: {', '.join(missing) or 'email'}), so it cannot be "
                "matched or created. Check the event's fields and the task's piped text."
            )
        embedded = {
            row["name"]: row.get("value", "")
            for row in config.get("embeddedData") or []
            if row.get("name")
        }
        return fields, embedded

    def run(self, context: TaskContext) -> dict:
        directory, mailing_list = self._targets(context)
        fields, embedded = self._values(context.config)
        transaction_id = ""
        if context.config.get("mode") == "transaction":
            contact, created = actions.upsert_contact(
                directory, fields, {}, mailing_list=mailing_list, actor=context.owner
            )
            date = context.config.get("transactionDate") or timezone.now()
            added = actions.add_transaction(contact, date, embedded, mailing_list=mailing_list)
            transaction_id = added.public_id
        else:
            contact, created = actions.upsert_contact(
                directory, fields, embedded, mailing_list=mailing_list, actor=context.owner
            )
        return {
            "contactId": contact.public_id,
            "created": created,
            "transactionId": transaction_id,
            "directoryId": directory.public_id,
            "mailingListId": mailing_list.public_id if mailing_list else "",
        }

    def run_many(self, contexts: list[TaskContext]) -> list[dict | None]:
        """run() for many contexts, the contacts of each directory and mailing list upserted
        in one bulk upsert (same dedup rules and merge, rows matching each other merged in
        order). None for a context to run alone with run(): transaction mode, a target or
        value problem, a row the upsert rejects (run() then fails it with its own message)."""
        outputs: list[dict | None] = [None] * len(contexts)
        groups: dict[tuple, list[tuple[int, dict, dict]]] = {}
        targets = {}
        resolved = {}  # the contexts of one workflow mostly name the same targets
        for position, context in enumerate(contexts):
            if context.config.get("mode") == "transaction":
                continue
            named = (
                context.organization.pk,
                context.config.get("directory") or "",
                context.config.get("mailingList") or "",
            )
            try:
                if named not in resolved:
                    resolved[named] = self._targets(context)
                directory, mailing_list = resolved[named]
                fields, embedded = self._values(context.config)
            except (ValueError, TaskFailed):
                continue
            key = (directory.pk, mailing_list.pk if mailing_list else None)
            targets[key] = (directory, mailing_list)
            groups.setdefault(key, []).append((position, fields, embedded))
        for key, rows in groups.items():
            directory, mailing_list = targets[key]
            outcomes = actions.upsert_contacts_bulk(
                directory,
                [(fields, embedded) for _position, fields, embedded in rows],
                mailing_list=mailing_list,
            )
            for (position, _fields, _embedded), (outcome, contact, _reason) in zip(
                rows, outcomes, strict=True
            ):
                if outcome != "rejected":
                    outputs[position] = {
                        "contactId": contact.public_id,
                        "created": outcome == "created",
                        "transactionId": "",
                        "directoryId": directory.public_id,
                        "mailingListId": mailing_list.public_id if mailing_list else "",
                    }
        return outputs

    def dry_run(self, context: TaskContext) -> DryRun:
        """What run() would do, checked the same way and written nowhere: the contact it would
        create or update (unsaved, with the mapped fields merged in) is handed to later tasks
        as a record under its contactId."""
        transaction_mode = context.config.get("mode") == "transaction"
        try:
            directory, mailing_list = self._targets(context, dry=True)
            fields, embedded = self._values(context.config)
            contact, created = actions.preview_upsert(
                directory, fields, {} if transaction_mode else embedded, mailing_list=mailing_list
            )
            if transaction_mode:
                parse_transaction_date(context.config.get("transactionDate") or timezone.now())
                clean_transaction_data(embedded)
        except (ValueError, TaskFailed) as error:
            return DryRun(f"Would fail: {error}", {}, (str(error),))
        who = contact.email or contact.phone or contact.ext_ref
        if created:
            summary = f"Would create a new contact {who} in {directory.name}"
        else:
            summary = f"Would update contact {contact.public_id} ({who}) in {directory.name}"
        if transaction_mode:
            summary += f", and add a transaction with {len(embedded)} field(s)"
        elif embedded:
            summary += f", with embedded data {', '.join(sorted(embedded))}"
        if mailing_list is not None:
            summary += f", in the mailing list {mailing_list.name}"
        output = {
            "contactId": contact.public_id,
            "created": created,
            "transactionId": new_transaction_id() if transaction_mode else "",
            "directoryId": directory.public_id,
            "mailingListId": mailing_list.public_id if mailing_list else "",
        }
        return DryRun(summary + ".", output, records={contact.public_id: contact})

    def config_from_form(self, data, previous: Mapping) -> dict:
        config = {
            "directory": data.get("directory", ""),
            "mailingList": data.get("mailingList", ""),
            "mode": data.get("mode", "embeddedData"),
            "contact": {
                name: data.get(f"contact_{name}", "") for name, _label, _required in CONTACT_FIELDS
            },
            "embeddedData": [
                {"name": name, "value": value}
                for name, value in zip(
                    data.getlist("ed_name"), data.getlist("ed_value"), strict=False
                )
            ],
            "transactionDate": data.get("transactionDate", ""),
        }
        return self.clean_config(config)

    def editor_context(self, config: Mapping, *, organization, workflow=None) -> dict:
        directories = list(queries.directories_of(organization))
        chosen = None
        if config.get("directory"):
            chosen = next((d for d in directories if d.public_id == config["directory"]), None)
        chosen = chosen or (directories[0] if directories else None)
        lists = list(queries.mailing_lists_of(organization, chosen)) if chosen else []
        return {
            "directories": directories,
            "mailing_lists": lists,
            "contact_fields": [
                (name, label, required, (config.get("contact") or {}).get(name, ""))
                for name, label, required in CONTACT_FIELDS
            ],
            "modes": MODES,
        }
