"""Surveys test helpers: published surveys and contacts in two organizations."""

from __future__ import annotations

import pytest

from closeloop.directory import actions as directory_actions
from closeloop.surveys import actions
from closeloop.surveys.tests.sample import sample


@pytest.fixture(autouse=True)
def _surveys_urls(settings):
    # Mounts /surveys/ ahead of the shell's placeholder and the test API routers.
    settings.ROOT_URLCONF = "closeloop.surveys.tests.urls"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_survey(organization, user, definition=None, *, publish=True, name="Customer feedback"):
    survey = actions.create_survey(organization, user, name, definition or sample())
    if publish:
        actions.publish(survey, user)
    return survey


def make_contact(organization, email="ann@example.com", embedded=None, **fields):
    directory = directory_actions.default_directory(organization)
    values = {"firstName": "Ann", "lastName": "Lee", "email": email, **fields}
    contact, _ = directory_actions.upsert_contact(
        directory, values, embedded if embedded is not None else {"Store": "Oslo"}
    )
    return contact


@pytest.fixture
def survey_a(org_a):
    return make_survey(*org_a)


@pytest.fixture
def survey_b(org_b):
    return make_survey(*org_b, name="Globex feedback")


@pytest.fixture
def contact_a(org_a):
    return make_contact(org_a[0])


@pytest.fixture
def logged_in_a(client, org_a):
    client.force_login(org_a[1])
    return client
