"""Tenant-scoped reads of linked Salesforce accounts."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from closeloop.integrations.salesforce.models import ConnectedAccount


def usable_accounts(organization, user) -> QuerySet[ConnectedAccount]:
    """The accounts a user may choose for a workflow: their own, and those shared with the
    organization by an admin."""
    return (
        ConnectedAccount.objects.filter(organization=organization)
        .filter(Q(owner=user) | Q(shared_with_organization=True))
        .select_related("owner")
    )


def own_account(organization, user, public_id: str) -> ConnectedAccount | None:
    return (
        ConnectedAccount.objects.filter(organization=organization, owner=user, public_id=public_id)
        .select_related("owner")
        .first()
    )


def account_in(organization, public_id: str) -> ConnectedAccount | None:
    return (
        ConnectedAccount.objects.filter(organization=organization, public_id=public_id)
        .select_related("owner")
        .first()
    )


def accounts_named(organization, public_ids) -> QuerySet[ConnectedAccount]:
    return ConnectedAccount.objects.filter(organization=organization, public_id__in=public_ids)
