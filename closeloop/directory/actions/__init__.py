"""Every write to the XM Directory goes through a function here.

Bad input raises InvalidValue (a ValueError) with a sentence a person can act on, before
anything is written. Callers (views, API handlers, workflow tasks, CSV import) translate it
into their protocol's error.

One module per thing a user changes (directories, contacts, subscriptions, lists,
transactions, frequency rules, the message log, imports); the modules below them hold what
those share (fields, matching, drafts). Every public name is importable from here.
"""

from closeloop.directory.actions.bulk_upsert import upsert_checked_rows, upsert_contacts_bulk
from closeloop.directory.actions.contacts import (
    create_contact,
    delete_contact,
    preview_upsert,
    remove_embedded_data,
    update_contact,
    upsert_contact,
)
from closeloop.directory.actions.directories import (
    MATCH_INDEX_JOB,
    create_directory,
    default_directory,
    update_directory_settings,
    would_be_default_directory,
)
from closeloop.directory.actions.drafts import CONTACT_UPDATE_FIELDS, INSERT_ATTRIBUTES
from closeloop.directory.actions.fields import FIELD_ATTRIBUTES, MATCH_COLUMNS, contact_values
from closeloop.directory.actions.frequency_rules import (
    create_frequency_rule,
    delete_frequency_rule,
)
from closeloop.directory.actions.import_chunks import upsert_import_chunk
from closeloop.directory.actions.imports import IMPORT_JOB, check_import_file, start_import
from closeloop.directory.actions.lists import (
    add_to_mailing_list,
    create_mailing_list,
    delete_mailing_list,
    recount_mailing_list,
    remove_from_mailing_list,
    update_mailing_list,
)
from closeloop.directory.actions.matching import find_duplicate
from closeloop.directory.actions.messages import log_message, log_messages, log_messages_statement
from closeloop.directory.actions.subscriptions import (
    OPT_OUT_SALT,
    opt_out_token,
    opt_out_url,
    read_opt_out_token,
    resubscribe_contact,
    unsubscribe_contact,
)
from closeloop.directory.actions.transactions import (
    add_to_batch,
    add_transaction,
    create_transaction_batch,
    upsert_contact_transaction,
)
from closeloop.directory.dedup import InvalidValue

__all__ = [
    "CONTACT_UPDATE_FIELDS",
    "FIELD_ATTRIBUTES",
    "IMPORT_JOB",
    "INSERT_ATTRIBUTES",
    "MATCH_COLUMNS",
    "MATCH_INDEX_JOB",
    "OPT_OUT_SALT",
    "InvalidValue",
    "add_to_batch",
    "add_to_mailing_list",
    "add_transaction",
    "check_import_file",
    "contact_values",
    "create_contact",
    "create_directory",
    "create_frequency_rule",
    "create_mailing_list",
    "create_transaction_batch",
    "default_directory",
    "delete_contact",
    "delete_frequency_rule",
    "delete_mailing_list",
    "find_duplicate",
    "log_message",
    "log_messages",
    "log_messages_statement",
    "opt_out_token",
    "opt_out_url",
    "preview_upsert",
    "read_opt_out_token",
    "recount_mailing_list",
    "remove_embedded_data",
    "remove_from_mailing_list",
    "resubscribe_contact",
    "start_import",
    "unsubscribe_contact",
    "update_contact",
    "update_directory_settings",
    "update_mailing_list",
    "upsert_checked_rows",
    "upsert_contact",
    "upsert_contact_transaction",
    "upsert_contacts_bulk",
    "upsert_import_chunk",
    "would_be_default_directory",
]
