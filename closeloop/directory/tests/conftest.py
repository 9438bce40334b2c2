import pytest

from closeloop.accounts import actions as accounts_actions


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def token_a(org_a) -> str:
    return accounts_actions.create_api_token(*org_a, "tests")[1]


@pytest.fixture
def token_b(org_b) -> str:
    return accounts_actions.create_api_token(*org_b, "tests")[1]
