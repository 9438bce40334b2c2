"""The Segment contact task: the person of a Segment event as a contact, or the event as a
transaction on that contact, without mapping each field by hand.

Config:

    {"directory": "",              # POOL_… ; empty = the organization's default directory
     "mailingList": "",            # CG_… of that directory, optional
     "mode": "contact",            # contact: create or update the contact (Segment's Qualtrics
                                   #   destination's "Create and/or update contact")
                                   # transaction: find or create the contact, then add the
                                   #   event's properties as a transaction dated by its
                                   #   timestamp ("Upsert contact transaction")
     "traitsAsEmbeddedData": true} # the other traits saved as the contact's embedded data

The contact is taken from the event as that destination maps it (spec.contact_fields): email,
firstName, lastName, phone and language from the traits (identify) or context.traits (track,
page, screen), extRef from the traits' extRef or the userId, and matched with the directory's
dedup rules. For a contact mapped field by field, use the XM Directory task instead. Output:
contactId, created, transactionId, directoryId, mailingListId, leftOut (names of values too
long for a directory field). The task runs in the transaction that records its completion,
so each event's contact and transaction are written once.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils import timezone

from closeloop.directory import actions, queries
from closeloop.directory.dedup import InvalidValue
from closeloop.integrations.segment import spec
from closeloop.workflows import mapping
from closeloop.workflows.builtin.xm_directory import CONTACT_OUTPUTS
from closeloop.workflows.registry import DryRun, OfferedField, TaskContext, TaskFailed, TaskType

MODES = {
    "contact": "Create or update the contact (identify traits)",
    "transaction": "Upsert a contact transaction (the event's properties, dated by its timestamp)",
}
SETTINGS = ("directory", "mailingList", "mode", "traitsAsEmbeddedData")


def _document(context: TaskContext) -> Mapping:
    """The Segment event the run received (the payload stored with the run)."""
    if context.run is None:
        raise TaskFailed("This task needs the Segment event of a run.")
    try:
        document = context.run.payload_document
    except mapping.PayloadError as error:
        raise TaskFailed(f"The stored event cannot be read: {error}") from None
    if not isinstance(document, Mapping):
        raise TaskFailed("The stored event is not a Segment event (a JSON object).")
    return document


class SegmentContactTask(TaskType):
    key = "segment_contact"
    label = "Segment contact"
    description = (
        "Create or update the Segment event's person as a contact, or add the event as a "
        "transaction on the contact."
    )
    atomic = True
    side_effects = "update contacts and transactions in XM Directory"
    editor_template = "segment/tasks/contact.html"

    def default_config(self) -> dict:
        return {"directory": "", "mailingList": "", "mode": "contact", "traitsAsEmbeddedData": True}

    def clean_config(self, config: Mapping) -> dict:
        clean = self.default_config()
        for name, value in config.items():
            clean[name] = value.strip() if isinstance(value, str) else value
        return clean

    def validate(self, config: Mapping, *, organization) -> list[str]:
        problems = [
            f"there is no setting {name!r}." for name in sorted(set(config) - set(SETTINGS))
        ]
        if config.get("mode") not in MODES:
            problems.append("mode must be contact or transaction.")
        if not isinstance(config.get("traitsAsEmbeddedData"), bool):
            problems.append("traitsAsEmbeddedData must be true or false.")
        for name in ("directory", "mailingList"):
            value = config.get(name, "")
            if not isinstance(value, str):
                problems.append(f"{name} must be text.")
            elif "{" in value:
                problems.append(f"{name} is an id (POOL_…, CG_…), not piped text.")
        if problems:
            return problems
        try:
            self._targets(organization, config, create=False)
        except TaskFailed as error:
            problems.append(str(error))
        return problems

    def text_values(self, config: Mapping) -> list[tuple[str, str]]:
        return []  # nothing in it takes piped text

    def outputs(self, config: Mapping) -> list[OfferedField]:
        return list(CONTACT_OUTPUTS)

    def _targets(self, organization, config: Mapping, *, create: bool = True):
        """(directory, mailing list or None); without `create`, the default directory is
        not made when the organization has none yet (checks and dry runs write nothing)."""
        directory_id = config.get("directory") or ""
        if directory_id:
            directory = queries.directory(organization, directory_id)
            if directory is None:
                raise TaskFailed(f"there is no directory {directory_id}.")
        elif create:
            directory = actions.default_directory(organization)
        else:
            directory = actions.would_be_default_directory(organization)
        mailing_list = None
        list_id = config.get("mailingList") or ""
        if list_id:
            if directory.pk is not None:
                mailing_list = queries.mailing_list(organization, list_id, directory)
            if mailing_list is None:
                raise TaskFailed(f"there is no mailing list {list_id} in {directory.name}.")
        return directory, mailing_list

    def _contact(self, document: Mapping) -> dict[str, str]:
        fields = spec.contact_fields(document)
        if not (fields.get("email") or fields.get("phone") or fields.get("extRef")):
            raise TaskFailed(
                f"The {document.get('type') or 'Segment'} event has no email, phone or userId "
                "(in traits, or context.traits for a track call) to find or create the contact by."
            )
        return fields

    def run(self, context: TaskContext) -> dict:
        document = _document(context)
        directory, mailing_list = self._targets(context.organization, context.config)
        fields = self._contact(document)
        embedded, left_out = ({}, [])
        if context.config.get("traitsAsEmbeddedData"):
            embedded, left_out = spec.embedded_traits(document)
        transaction_id = ""
        try:
            if context.config.get("mode") == "transaction":
                data, skipped = spec.transaction_data(document)
                left_out += skipped
                contact, created, added = actions.upsert_contact_transaction(
                    directory,
                    fields,
                    embedded,
                    spec.event_time(document) or timezone.now(),
                    data,
                    mailing_list=mailing_list,
                    actor=context.owner,
                )
                transaction_id = added.public_id
            else:
                contact, created = actions.upsert_contact(
                    directory, fields, embedded, mailing_list=mailing_list, actor=context.owner
                )
        except InvalidValue as error:
            raise TaskFailed(f"The event's contact cannot be saved: {error}") from None
        return {
            "contactId": contact.public_id,
            "created": created,
            "transactionId": transaction_id,
            "directoryId": directory.public_id,
            "mailingListId": mailing_list.public_id if mailing_list else "",
            "leftOut": left_out,
        }

    def dry_run(self, context: TaskContext) -> DryRun:
        try:
            directory, _mailing_list = self._targets(
                context.organization, context.config, create=False
            )
        except TaskFailed as error:
            return DryRun(f"Would fail: {error}", {}, (str(error),))
        if context.config.get("mode") == "transaction":
            summary = (
                f"Would find or create the event's contact in {directory.name} and add its "
                "properties as a transaction."
            )
        else:
            summary = f"Would create or update the event's contact in {directory.name}."
        output = {
            "contactId": "(the event's contact)",
            "created": False,
            "transactionId": "(new transaction)"
            if context.config.get("mode") == "transaction"
            else "",
            "directoryId": directory.public_id,
            "mailingListId": context.config.get("mailingList") or "",
        }
        return DryRun(summary, output)

    def config_from_form(self, data, previous: Mapping) -> dict:
        return self.clean_config(
            {
                "directory": data.get("directory", ""),
                "mailingList": data.get("mailingList", ""),
                "mode": data.get("mode", "contact"),
                "traitsAsEmbeddedData": data.get("traitsAsEmbeddedData") == "on",
            }
        )

    def editor_context(self, config: Mapping, *, organization, workflow=None) -> dict:
        directories = list(queries.directories_of(organization))
        chosen = next(
            (item for item in directories if item.public_id == config.get("directory")), None
        )
        chosen = chosen or (directories[0] if directories else None)
        lists = list(queries.mailing_lists_of(organization, chosen)) if chosen else []
        return {"directories": directories, "mailing_lists": lists, "modes": MODES}
