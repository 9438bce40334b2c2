"""The people of the distributions permission tests (test_permissions_*.py), and their survey
(the `world` fixture is in this folder's conftest).

Acme's owner owns the survey and sent one distribution of it. Ada is an admin of Acme, Bea a
plain member it was not shared with, Vic was given View results, Dora Distribute; Globex's
owner belongs to another organization.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import escape

SENTENCE = "You can't distribute this survey: ask Acme Owner (owner) for the Distribute permission."
SEE_SENTENCE = (
    "You can't view the results of this survey: ask Acme Owner (owner) for the View results "
    "permission."
)


def in_page(sentence: str) -> str:
    """The sentence as a page shows it (HTML-escaped)."""
    return escape(sentence)


@dataclass
class World:
    organization: object
    survey: object
    mailing_list: object
    contacts: list
    distribution: object
    users: dict
    tokens: dict

    def token(self, role: str) -> dict:
        return {"HTTP_X_API_TOKEN": self.tokens[role]}
