"""Who may do what with a survey: the rules, without Django (closeloop.surveys.permissions
reads the facts from the database and asks these).

The survey's owner and the organization's owners and admins may do everything. Anyone else
may do what the survey was shared with them for, directly or through a group; a member with
no permission at all does not see the survey (it is a 404, not a 403). Sharing and
transferring are the owner's and the admins' only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    VIEW_RESULTS = "view_results"
    EDIT = "edit"
    DISTRIBUTE = "distribute"
    MANAGE_WORKFLOWS = "manage_workflows"
    VIEW_RESPONSES = "view_responses"
    DELETE = "delete"

    @property
    def label(self) -> str:
        return LABELS[self]

    @property
    def verb(self) -> str:
        return VERBS[self]


LABELS = {
    Permission.VIEW_RESULTS: "View results",
    Permission.EDIT: "Edit survey",
    Permission.DISTRIBUTE: "Distribute",
    Permission.MANAGE_WORKFLOWS: "Manage workflows",
    Permission.VIEW_RESPONSES: "View and export responses",
    Permission.DELETE: "Delete",
}
# "You can't <verb> this survey"
VERBS = {
    Permission.VIEW_RESULTS: "view the results of",
    Permission.EDIT: "edit",
    Permission.DISTRIBUTE: "distribute",
    Permission.MANAGE_WORKFLOWS: "manage the workflows of",
    Permission.VIEW_RESPONSES: "view or export the responses of",
    Permission.DELETE: "delete",
}
ALL = frozenset(Permission)


def parse_permissions(names: Iterable[str]) -> frozenset[Permission]:
    """The known permissions among `names` (unknown ones, say from an older version, drop)."""
    known = {item.value for item in Permission}
    return frozenset(Permission(name) for name in names if name in known)


class Basis(StrEnum):
    OWNER = "owner"  # the survey's owner
    ADMIN = "admin"  # an owner or admin of the organization
    SHARED = "shared"  # shared with the user or one of their groups
    NONE = "none"


@dataclass(frozen=True)
class Access:
    """What one user may do with one survey, and how to say why not."""

    permissions: frozenset[Permission]
    basis: Basis
    owner_name: str

    @property
    def visible(self) -> bool:
        return bool(self.permissions)

    @property
    def can_share(self) -> bool:
        """Share, change shares, transfer ownership."""
        return self.basis in (Basis.OWNER, Basis.ADMIN)

    def allows(self, permission: Permission) -> bool:
        return permission in self.permissions

    def why_not(self, permission: Permission) -> str:
        """Empty when allowed; otherwise the sentence the UI and the APIs show."""
        if self.allows(permission):
            return ""
        return (
            f"You can't {permission.verb} this survey: ask {self.owner_name} (owner) "
            f"for the {permission.label} permission."
        )

    def why_not_share(self) -> str:
        if self.can_share:
            return ""
        return (
            f"Only {self.owner_name} (owner) or an administrator of the organization can "
            "share this survey or transfer it."
        )


def decide(*, is_admin: bool, is_owner: bool, granted: Iterable[str], owner_name: str) -> Access:
    if is_owner:
        return Access(ALL, Basis.OWNER, owner_name)
    if is_admin:
        return Access(ALL, Basis.ADMIN, owner_name)
    permissions = parse_permissions(granted)
    return Access(permissions, Basis.SHARED if permissions else Basis.NONE, owner_name)
