"""The people of the distributions permission tests (test_permissions_*.py), and their survey.

Acme's owner owns the survey and sent one distribution of it. Ada is an admin of Acme, Bea a
plain member it was not shared with, Vic was given View results, Dora Distribute; Globex's
owner belongs to another organization.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils.html import escape

from closeloop.accounts import actions as accounts_actions
from closeloop.distributions import actions
from closeloop.distributions.tests.conftest import make_list, make_survey
from closeloop.distributions.tests.helpers import run_jobs
from closeloop.surveys import actions as survey_actions
from conftest import add_member

ROLES = ("owner", "admin", "stranger", "viewer", "distributor", "other")
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


@pytest.fixture
def world(org_a, org_b, member_a, settings) -> World:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    organization, owner = org_a
    users = {
        "owner": owner,
        "admin": add_member(organization, "ada@acme.test", role="admin"),
        "stranger": member_a,
        "viewer": add_member(organization, "vic@acme.test"),
        "distributor": add_member(organization, "dora@acme.test"),
        "other": org_b[1],
    }
    survey = make_survey(organization, owner)
    survey_actions.share_survey(survey, owner, user=users["viewer"], permissions=["view_results"])
    survey_actions.share_survey(
        survey, owner, user=users["distributor"], permissions=["distribute"]
    )
    mailing_list, contacts = make_list(organization, 2)
    distribution = actions.create_distribution(
        organization,
        survey,
        owner=owner,
        mailing_list=mailing_list,
        subject="Acme asks",
        text_body="${l://SurveyURL}",
    )
    run_jobs()
    tokens = {
        role: accounts_actions.create_api_token(
            org_b[0] if role == "other" else organization, user, "permissions"
        )[1]
        for role, user in users.items()
    }
    return World(organization, survey, mailing_list, contacts, distribution, users, tokens)
