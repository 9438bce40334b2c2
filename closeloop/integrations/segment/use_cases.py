"""The workflows a Segment source makes for its use cases, as workflow definitions.

Each is an ordinary workflow started by the Twilio Segment event, with conditions that play
the part of Segment's mapping filters and the tasks the use case needs, all editable later:

- contacts: *Event type is identify* → Segment contact (create or update, traits as
  embedded data), like the Qualtrics destination's *Create and/or update contact*;
- transactions: *Event type is track and Event name is Transaction Created* → Segment contact
  in transaction mode (the contact created if missing, the properties added as a transaction
  dated by the event's timestamp), like *Upsert contact transaction*;
- workflow: *Event type is track and Event name is <the event>* → Segment contact, then
  Distribute survey to that contact.

Pure Python, no Django.
"""

from __future__ import annotations

DEFAULT_TRANSACTION_EVENT = "Transaction Created"
DEFAULT_WORKFLOW_EVENT = "Onboarding Tour Completed"
CONTACT_TASK = "segment_contact"


def rule(field: str, value: str) -> dict:
    return {"field": field, "operator": "equals", "value": value}


def conditions(*rules: dict) -> dict:
    return {"match": "all", "groups": [{"match": "all", "rules": list(rules)}]}


def contact_task(task_id: str, directory_id: str, mode: str, name: str) -> dict:
    return {
        "id": task_id,
        "type": CONTACT_TASK,
        "name": name,
        "config": {
            "directory": directory_id,
            "mailingList": "",
            "mode": mode,
            "traitsAsEmbeddedData": mode == "contact",
        },
    }


def contacts_definition(source_name: str, directory_id: str, task_id: str) -> dict:
    return {
        "name": f"{source_name}: contacts from identify calls",
        "event": {"type": "segment"},
        "conditions": conditions(rule("type", "identify")),
        "tasks": [contact_task(task_id, directory_id, "contact", "Create or update the contact")],
    }


def transactions_definition(
    source_name: str, directory_id: str, task_id: str, event_name: str
) -> dict:
    return {
        "name": f"{source_name}: {event_name} transactions",
        "event": {"type": "segment"},
        "conditions": conditions(rule("type", "track"), rule("event", event_name)),
        "tasks": [
            contact_task(task_id, directory_id, "transaction", "Upsert the contact transaction")
        ],
    }


def workflow_definition(
    source_name: str,
    directory_id: str,
    task_id: str,
    event_name: str,
    survey_id: str,
    invite_id: str,
) -> dict:
    return {
        "name": f"{source_name}: {event_name} survey",
        "survey": survey_id,
        "event": {"type": "segment"},
        "conditions": conditions(rule("type", "track"), rule("event", event_name)),
        "tasks": [
            contact_task(task_id, directory_id, "contact", "Find or create the contact"),
            {
                "id": invite_id,
                "type": "distribute_survey",
                "name": "Send the survey",
                "config": {
                    "survey": survey_id,
                    "channel": "email",
                    "contactId": f"~{{ch://{task_id}/contactId}}",
                },
            },
        ],
    }
