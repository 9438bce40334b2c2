"""Accounts test helpers: logged-in clients and extra members on top of org_a / org_b."""

from __future__ import annotations

import pytest

from closeloop.accounts.models import Membership, Role, User

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 at full strength costs ~0.3 s a hash; tests only need hashing to work."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def add_member(organization, email: str, role: str = Role.MEMBER, password: str = PASSWORD) -> User:
    user = User.objects.filter(email=email).first() or User.objects.create_user(
        email, password, first_name=email.split("@")[0].title(), last_name="Tester"
    )
    Membership.objects.create(organization=organization, user=user, role=role)
    return user


def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def owner_a(org_a, client):
    """A client logged in as org A's owner."""
    return logged_in(client, org_a[1])


@pytest.fixture
def member_a(org_a):
    return add_member(org_a[0], "member@acme.test")


@pytest.fixture
def admin_a(org_a):
    return add_member(org_a[0], "admin@acme.test", Role.ADMIN)
