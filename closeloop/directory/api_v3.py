"""XM Directory on /API/v3/directories: contacts, search, mailing lists, transactions, batches.

Mounted on the v3 API with `api.add_router("/directories", router)`. Handlers stay thin:
they look rows up through queries (scoped by the token's organization, so another
organization's ids are simply not found), call actions, and shape the Qualtrics JSON.

Shapes follow Qualtrics' API reference (api.qualtrics.com, XM Directory: Contacts, Mailing
Lists, Mailing List Contacts, Transactions) and what its clients read: Segment's Qualtrics
destination (segmentio/action-destinations, destinations/qualtrics/qualtricsApiClient.ts),
the Python client QualtricsAPI (Jaseibert/QualtricsAPI, XM/xmdirectory.py, XM/mailinglists.py)
and the R package qualtRics (ropensci/qualtRics, R/list_mailing_lists.R,
R/mailing_list_contacts.R). Dates of contacts, lists and batches are epoch milliseconds, as
Qualtrics sends them (those clients divide them by 1000 or read them with unit="ms");
transaction dates are "YYYY-MM-DD HH:MM:SS" in UTC.
"""

from __future__ import annotations

import json
from typing import Annotated

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError

from closeloop.api import qualtrics
from closeloop.api.auth import token_of
from closeloop.api.errors import InvalidRequest, MalformedBody, NotFound, PayloadTooLarge
from closeloop.directory import actions, queries, search
from closeloop.directory.dedup import STANDARD_FIELDS, InvalidValue
from closeloop.directory.models import Contact, Directory, MailingList, Transaction

router = Router(tags=["XM Directory"])

Scalar = str | int | float | bool | None
Text = Annotated[StrictStr | StrictInt | StrictFloat | None, Field(union_mode="left_to_right")]


class StrictSchema(Schema):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ContactIn(StrictSchema):
    firstName: Text = None
    lastName: Text = None
    email: Text = None
    phone: Text = None
    extRef: Text = None
    language: Text = None
    unsubscribed: bool | None = None
    embeddedData: dict[str, Scalar] | None = None


class MailingListIn(StrictSchema):
    name: str
    ownerId: str | None = None
    # Documented by Qualtrics for "Create mailing list"; accepted, and without effect here.
    prioritizeListMetadata: bool | None = None


class MailingListUpdate(StrictSchema):
    name: str


class SearchIn(StrictSchema):
    filter: dict


class TransactionIn(StrictSchema):
    contactId: str
    mailingListId: str | None = None
    transactionDate: str
    data: dict[str, Scalar] | None = None


class BatchIn(StrictSchema):
    transactionIds: list[str] = Field(default_factory=list, max_length=1000)


# Helpers -----------------------------------------------------------------------------------


def _organization(request: HttpRequest):
    return token_of(request).organization


def _directory(request: HttpRequest, directory_id: str) -> Directory:
    directory = queries.directory(_organization(request), directory_id)
    if directory is None:
        raise NotFound(f"No directory {directory_id}.")
    return directory


def _contact(request, directory: Directory, contact_id: str) -> Contact:
    contact = queries.contact(_organization(request), contact_id, directory)
    if contact is None:
        raise NotFound(f"No contact {contact_id} in directory {directory.public_id}.")
    return contact


def _mailing_list(request, directory: Directory, list_id: str) -> MailingList:
    mailing_list = queries.mailing_list(_organization(request), list_id, directory)
    if mailing_list is None:
        raise NotFound(f"No mailing list {list_id} in directory {directory.public_id}.")
    return mailing_list


def _invalid(error: InvalidValue) -> InvalidRequest:
    return InvalidRequest(str(error))


def _done(request) -> dict:
    """Qualtrics answers updates and deletes with the meta block only."""
    body = qualtrics.ok(None, request=request)
    del body["result"]
    return body


def _millis(value) -> int | None:
    """A moment as Qualtrics' XM Directory gives it: milliseconds since the epoch."""
    return int(value.timestamp() * 1000) if value else None


def _page(request, rows, next_cursor, shape, **params) -> dict:
    next_page = None
    if next_cursor is not None:
        next_page = qualtrics.next_page_url(request, next_cursor, **params)
    return {"elements": [shape(row) for row in rows], "nextPage": next_page}


def _paging(request) -> tuple[int, int]:
    after = qualtrics.decode_skip_token(request.GET.get("skipToken"))
    return after, queries.clamp_page_size(request.GET.get("pageSize"), default=100)


def _fields(body: ContactIn) -> tuple[dict, dict | None]:
    data = body.model_dump(exclude_unset=True)
    embedded = data.pop("embeddedData", None)
    return data, embedded


def _contact_out(contact: Contact) -> dict:
    email = contact.email
    return {
        "contactId": contact.public_id,
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "email": email,
        "emailDomain": email.rpartition("@")[2].lower() if "@" in email else "",
        "phone": contact.phone,
        "extRef": contact.ext_ref,
        "language": contact.language,
        "unsubscribed": contact.unsubscribed,
        "directoryUnsubscribed": contact.unsubscribed,
        "directoryUnsubscribeDate": _millis(contact.unsubscribed_at),
        "embeddedData": contact.embedded_data,
        "creationDate": _millis(contact.created_at),
        "lastModified": _millis(contact.modified_at),
    }


def _search_out(contact: Contact) -> dict:
    """The search element shape (id, phoneNumber, externalDataReference) plus the contact's."""
    return {
        **_contact_out(contact),
        "id": contact.public_id,
        "phoneNumber": contact.phone,
        "externalDataReference": contact.ext_ref,
        "unsubscribeDate": _millis(contact.unsubscribed_at),
    }


def _lookup_ids(mailing_list: MailingList, contacts) -> dict[int, tuple[str, bool]]:
    """contact pk -> (contactLookupId, unsubscribed from the list) for contacts in the list."""
    rows = mailing_list.memberships.filter(contact__in=contacts).values_list(
        "contact_id", "public_id", "unsubscribed"
    )
    return {contact_id: (lookup_id, unsubscribed) for contact_id, lookup_id, unsubscribed in rows}


def _list_contact_out(contact: Contact, lookup_id: str, list_unsubscribed: bool) -> dict:
    """A contact as a mailing list shows it (List / Get Contact(s) in Mailing List)."""
    return {
        **_contact_out(contact),
        "contactLookupId": lookup_id,
        "mailingListUnsubscribed": list_unsubscribed,
        "unsubscribed": contact.unsubscribed or list_unsubscribed,
    }


def _list_out(mailing_list: MailingList) -> dict:
    return {
        "mailingListId": mailing_list.public_id,
        "name": mailing_list.name,
        "ownerId": mailing_list.owner.public_id if mailing_list.owner_id else None,
        "contactCount": mailing_list.contact_count,
        "creationDate": _millis(mailing_list.created_at),
        "lastModifiedDate": _millis(mailing_list.modified_at),
    }


def _transaction_out(row: Transaction) -> dict:
    return {
        "id": row.public_id,
        "contactId": row.contact.public_id,
        "mailingListId": row.mailing_list.public_id if row.mailing_list_id else None,
        "batchId": row.batch.public_id if row.batch_id else None,
        "transactionDate": row.transaction_date.strftime("%Y-%m-%d %H:%M:%S"),
        "data": row.data,
    }


def _dedup_criteria(directory: Directory) -> dict:
    fields = {field for rule in directory.dedup_rules for field in rule}
    return {
        "email": "email" in fields,
        "firstName": "firstName" in fields,
        "lastName": "lastName" in fields,
        "externalDataReference": "extRef" in fields,
        "phone": "phone" in fields,
        "embeddedData": sorted(fields - set(STANDARD_FIELDS)),
        "rules": directory.dedup_rules,
    }


# Directories -------------------------------------------------------------------------------


@router.get("", summary="List directories")
def list_directories(request):
    organization = _organization(request)
    actions.default_directory(organization)  # every organization has one, as in Qualtrics
    elements = [
        {
            "directoryId": directory.public_id,
            "name": directory.name,
            "contactCount": directory.contacts.count(),
            "isDefault": directory.is_default,
            "deduplicationCriteria": _dedup_criteria(directory),
        }
        for directory in queries.directories_of(organization)
    ]
    return qualtrics.ok({"elements": elements, "nextPage": None}, request=request)


# Contacts ----------------------------------------------------------------------------------


@router.post("/{directoryId}/contacts", summary="Create (or update, by dedup rules) a contact")
def create_contact(request, directoryId: str, body: ContactIn):
    directory = _directory(request, directoryId)
    fields, embedded = _fields(body)
    try:
        contact, _created = actions.upsert_contact(
            directory, fields, embedded, actor=token_of(request).user
        )
    except InvalidValue as error:
        raise _invalid(error) from None
    return qualtrics.ok({"id": contact.public_id}, request=request)


@router.get("/{directoryId}/contacts", summary="List contacts")
def list_contacts(request, directoryId: str):
    directory = _directory(request, directoryId)
    after, size = _paging(request)
    rows, cursor = queries.contacts_page(
        _organization(request), directory, after_id=after, limit=size
    )
    return qualtrics.ok(_page(request, rows, cursor, _contact_out, pageSize=size), request=request)


@router.post("/{directoryId}/contacts/search", summary="Search contacts")
def search_contacts(request, directoryId: str, body: SearchIn):
    directory = _directory(request, directoryId)
    after, size = _paging(request)
    try:
        condition = search.to_condition(body.filter, directory.default_phone_region)
    except InvalidValue as error:
        raise _invalid(error) from None
    rows, cursor = queries.filtered_contacts(
        _organization(request), directory, condition, after_id=after, limit=size
    )
    return qualtrics.ok(_page(request, rows, cursor, _search_out, pageSize=size), request=request)


@router.get("/{directoryId}/contacts/{contactId}", summary="Get a contact")
def get_contact(request, directoryId: str, contactId: str):
    directory = _directory(request, directoryId)
    contact = _contact(request, directory, contactId)
    result = _contact_out(contact)
    result["mailingListMembership"] = {
        membership.mailing_list.public_id: {
            "contactLookupId": membership.public_id,
            "name": membership.mailing_list.name,
            "ownerId": membership.mailing_list.owner.public_id
            if membership.mailing_list.owner_id
            else None,
            "unsubscribed": membership.unsubscribed,
            "unsubscribeDate": _millis(membership.unsubscribed_at),
        }
        for membership in queries.memberships_of(contact)
    }
    return qualtrics.ok(result, request=request)


@router.put("/{directoryId}/contacts/{contactId}", summary="Update a contact")
def update_contact(request, directoryId: str, contactId: str, body: ContactIn):
    directory = _directory(request, directoryId)
    contact = _contact(request, directory, contactId)
    fields, embedded = _fields(body)
    try:
        actions.update_contact(contact, fields, embedded, actor=token_of(request).user)
    except InvalidValue as error:
        raise _invalid(error) from None
    return _done(request)


@router.delete("/{directoryId}/contacts/{contactId}", summary="Delete a contact")
def delete_contact(request, directoryId: str, contactId: str):
    directory = _directory(request, directoryId)
    actions.delete_contact(_contact(request, directory, contactId), actor=token_of(request).user)
    return _done(request)


# Mailing lists -----------------------------------------------------------------------------


@router.post("/{directoryId}/mailinglists", summary="Create a mailing list")
def create_mailing_list(request, directoryId: str, body: MailingListIn):
    directory = _directory(request, directoryId)
    try:
        mailing_list = actions.create_mailing_list(
            directory, body.name, owner=token_of(request).user
        )
    except InvalidValue as error:
        raise _invalid(error) from None
    return qualtrics.ok({"id": mailing_list.public_id}, request=request)


@router.get("/{directoryId}/mailinglists", summary="List mailing lists")
def list_mailing_lists(request, directoryId: str):
    directory = _directory(request, directoryId)
    after, size = _paging(request)
    rows, cursor = queries.mailing_lists_page(
        _organization(request), directory, after_id=after, limit=size
    )
    return qualtrics.ok(_page(request, rows, cursor, _list_out, pageSize=size), request=request)


@router.get("/{directoryId}/mailinglists/{mailingListId}", summary="Get a mailing list")
def get_mailing_list(request, directoryId: str, mailingListId: str):
    directory = _directory(request, directoryId)
    return qualtrics.ok(
        _list_out(_mailing_list(request, directory, mailingListId)), request=request
    )


@router.put("/{directoryId}/mailinglists/{mailingListId}", summary="Rename a mailing list")
def update_mailing_list(request, directoryId: str, mailingListId: str, body: MailingListUpdate):
    directory = _directory(request, directoryId)
    mailing_list = _mailing_list(request, directory, mailingListId)
    try:
        actions.update_mailing_list(mailing_list, name=body.name)
    except InvalidValue as error:
        raise _invalid(error) from None
    return _done(request)


@router.delete("/{directoryId}/mailinglists/{mailingListId}", summary="Delete a mailing list")
def delete_mailing_list(request, directoryId: str, mailingListId: str):
    directory = _directory(request, directoryId)
    actions.delete_mailing_list(_mailing_list(request, directory, mailingListId))
    return _done(request)


@router.get(
    "/{directoryId}/mailinglists/{mailingListId}/contacts", summary="List a list's contacts"
)
def list_mailing_list_contacts(request, directoryId: str, mailingListId: str):
    directory = _directory(request, directoryId)
    mailing_list = _mailing_list(request, directory, mailingListId)
    after, size = _paging(request)
    rows, cursor = queries.contacts_page(
        _organization(request), directory, after_id=after, limit=size, mailing_list=mailing_list
    )
    memberships = _lookup_ids(mailing_list, rows)

    def shape(contact: Contact) -> dict:
        # A membership removed since the page was read shows as opted out of the list.
        return _list_contact_out(contact, *memberships.get(contact.pk, ("", True)))

    return qualtrics.ok(_page(request, rows, cursor, shape, pageSize=size), request=request)


@router.post(
    "/{directoryId}/mailinglists/{mailingListId}/contacts",
    summary="Create (or update, by dedup rules) a contact in a mailing list",
)
def create_mailing_list_contact(request, directoryId: str, mailingListId: str, body: ContactIn):
    directory = _directory(request, directoryId)
    mailing_list = _mailing_list(request, directory, mailingListId)
    fields, embedded = _fields(body)
    try:
        contact, _created = actions.upsert_contact(
            directory, fields, embedded, mailing_list=mailing_list, actor=token_of(request).user
        )
    except InvalidValue as error:
        raise _invalid(error) from None
    membership = queries.membership(mailing_list, contact)
    # Qualtrics answers {"id": "CID_…", "contactLookupId": "CGC_…"} (Create Contact in
    # Mailing List); QualtricsAPI's create_contact_in_list reads both.
    return qualtrics.ok(
        {"id": contact.public_id, "contactLookupId": membership.public_id}, request=request
    )


def _list_member(request, directory: Directory, mailing_list: MailingList, contact_id: str):
    contact = _contact(request, directory, contact_id)
    membership = queries.membership(mailing_list, contact)
    if membership is None:
        raise NotFound(f"Contact {contact_id} is not in mailing list {mailing_list.public_id}.")
    return contact, membership


@router.get(
    "/{directoryId}/mailinglists/{mailingListId}/contacts/{contactId}",
    summary="Get a contact in a mailing list",
)
def get_mailing_list_contact(request, directoryId: str, mailingListId: str, contactId: str):
    directory = _directory(request, directoryId)
    mailing_list = _mailing_list(request, directory, mailingListId)
    contact, membership = _list_member(request, directory, mailing_list, contactId)
    return qualtrics.ok(
        _list_contact_out(contact, membership.public_id, membership.unsubscribed),
        request=request,
    )


@router.put(
    "/{directoryId}/mailinglists/{mailingListId}/contacts/{contactId}",
    summary="Update a contact in a mailing list",
)
def update_mailing_list_contact(
    request, directoryId: str, mailingListId: str, contactId: str, body: ContactIn
):
    """The contact's fields, as PUT …/contacts/{contactId} sets them (one contact, seen from
    every list it is in; `unsubscribed` is the directory opt-out there too)."""
    directory = _directory(request, directoryId)
    mailing_list = _mailing_list(request, directory, mailingListId)
    contact, _membership = _list_member(request, directory, mailing_list, contactId)
    fields, embedded = _fields(body)
    try:
        actions.update_contact(contact, fields, embedded, actor=token_of(request).user)
    except InvalidValue as error:
        raise _invalid(error) from None
    return _done(request)


@router.delete(
    "/{directoryId}/mailinglists/{mailingListId}/contacts/{contactId}",
    summary="Remove a contact from a mailing list",
)
def remove_mailing_list_contact(request, directoryId: str, mailingListId: str, contactId: str):
    directory = _directory(request, directoryId)
    mailing_list = _mailing_list(request, directory, mailingListId)
    contact = _contact(request, directory, contactId)
    if not actions.remove_from_mailing_list(mailing_list, contact):
        raise NotFound(f"Contact {contactId} is not in mailing list {mailingListId}.")
    return _done(request)


# Transactions ------------------------------------------------------------------------------

MAX_TRANSACTIONS_PER_REQUEST = 1000


def _json_object(request) -> dict:
    try:
        body = json.loads(request.body or b"null")
    except RequestDataTooBig:
        raise PayloadTooLarge(
            "The request body is too large; send fewer transactions a request."
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody() from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object keyed by your transaction ids.")
    return body


@router.post("/{directoryId}/transactions", summary="Create transactions")
def create_transactions(request, directoryId: str):
    """Body: {"<client id>": {"contactId", "mailingListId", "transactionDate", "data"}, ...}.

    Each transaction is created or reported in unprocessedTransactions with the reason; a bad
    one never stops the good ones.
    """
    directory = _directory(request, directoryId)
    body = _json_object(request)
    if not body:
        raise InvalidRequest("No transactions in the body.")
    if len(body) > MAX_TRANSACTIONS_PER_REQUEST:
        raise InvalidRequest(f"At most {MAX_TRANSACTIONS_PER_REQUEST} transactions a request.")
    organization = _organization(request)
    created, unprocessed = {}, {}
    for client_id, item in body.items():
        try:
            parsed = TransactionIn.model_validate(item)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "transaction"
            unprocessed[client_id] = {
                "error": "INVALID_TRANSACTION",
                "errorMessage": f"{where}: {problem['msg']}",
            }
            continue
        contact = queries.contact(organization, parsed.contactId, directory)
        if contact is None:
            unprocessed[client_id] = {
                "error": "CONTACT_NOT_FOUND",
                "errorMessage": f"No contact {parsed.contactId} in directory {directoryId}.",
            }
            continue
        mailing_list = None
        if parsed.mailingListId:
            mailing_list = queries.mailing_list(organization, parsed.mailingListId, directory)
            if mailing_list is None:
                unprocessed[client_id] = {
                    "error": "MAILING_LIST_NOT_FOUND",
                    "errorMessage": f"No mailing list {parsed.mailingListId} in {directoryId}.",
                }
                continue
        try:
            row = actions.add_transaction(
                contact, parsed.transactionDate, parsed.data, mailing_list=mailing_list
            )
        except InvalidValue as error:
            unprocessed[client_id] = {"error": "INVALID_TRANSACTION", "errorMessage": str(error)}
            continue
        created[client_id] = {"id": row.public_id}
    return qualtrics.ok(
        {"createdTransactions": created, "unprocessedTransactions": unprocessed},
        request=request,
    )


@router.get("/{directoryId}/transactions/{transactionId}", summary="Get a transaction")
def get_transaction(request, directoryId: str, transactionId: str):
    directory = _directory(request, directoryId)
    row = queries.transaction(_organization(request), transactionId, directory)
    if row is None:
        raise NotFound(f"No transaction {transactionId} in directory {directoryId}.")
    return qualtrics.ok(_transaction_out(row), request=request)


def _transactions(request, directory: Directory, ids: list[str]) -> list[Transaction]:
    found = queries.transactions_by_public_ids(_organization(request), directory, ids)
    missing = [transaction_id for transaction_id in ids if transaction_id not in found]
    if missing:
        raise InvalidRequest(f"No transaction(s) {', '.join(missing[:5])} in this directory.")
    return list(found.values())


@router.post("/{directoryId}/transactionbatches", summary="Create a transaction batch")
def create_batch(request, directoryId: str, body: BatchIn):
    directory = _directory(request, directoryId)
    rows = _transactions(request, directory, body.transactionIds)
    batch = actions.create_transaction_batch(directory)
    if rows:
        actions.add_to_batch(batch, rows)
    return qualtrics.ok({"id": batch.public_id}, request=request)


@router.get("/{directoryId}/transactionbatches/{batchId}", summary="Get a transaction batch")
def get_batch(request, directoryId: str, batchId: str):
    directory = _directory(request, directoryId)
    batch = queries.transaction_batch(_organization(request), batchId, directory)
    if batch is None:
        raise NotFound(f"No transaction batch {batchId} in directory {directoryId}.")
    ids = list(batch.transactions.order_by("id").values_list("public_id", flat=True)[:10000])
    return qualtrics.ok(
        {"id": batch.public_id, "creationDate": _millis(batch.created_at), "transactionIds": ids},
        request=request,
    )


@router.post(
    "/{directoryId}/transactionbatches/{batchId}/transactions",
    summary="Add transactions to a batch",
)
def add_to_batch(request, directoryId: str, batchId: str, body: BatchIn):
    directory = _directory(request, directoryId)
    batch = queries.transaction_batch(_organization(request), batchId, directory)
    if batch is None:
        raise NotFound(f"No transaction batch {batchId} in directory {directoryId}.")
    if not body.transactionIds:
        raise InvalidRequest("transactionIds must list at least one transaction.")
    actions.add_to_batch(batch, _transactions(request, directory, body.transactionIds))
    return _done(request)
