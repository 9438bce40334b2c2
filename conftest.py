"""Fixtures shared by every test: two organizations (tenant isolation), API clients, browsers."""

from __future__ import annotations

import os
import shutil

import pytest
from django.core.cache import cache

CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashing is deliberately slow; tests check behaviour, not key stretching."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def make_organization(name: str, email: str, password: str = "correct horse battery"):
    from closeloop.accounts.models import Membership, Organization, Role, User

    organization = Organization.objects.create(name=name, brand_id=name.lower().replace(" ", "-"))
    user = User.objects.create_user(email, password, first_name=name.split()[0], last_name="Owner")
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    return organization, user


@pytest.fixture
def org_a(db):
    return make_organization("Acme Corp", "owner@acme.test")


@pytest.fixture
def org_b(db):
    return make_organization("Globex Inc", "owner@globex.test")


def add_member(organization, email: str, role: str = "member", password="correct horse battery"):
    """Another user of `organization` (a plain member unless `role` says otherwise)."""
    from closeloop.accounts.models import Membership, User

    first = email.split("@")[0].capitalize()
    user = User.objects.create_user(email, password, first_name=first, last_name="Member")
    Membership.objects.create(organization=organization, user=user, role=role)
    return user


@pytest.fixture
def member_a(org_a):
    """A plain member of org_a: sees only the surveys shared with them."""
    return add_member(org_a[0], "bea@acme.test")


@pytest.fixture
def is_postgres():
    from django.db import connection

    return connection.vendor == "postgresql"


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium through Playwright; skipped with a reason locally, required in CI."""
    executable = chromium_path()
    if executable is None:
        if CI:
            pytest.fail("CI=true but Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("browser tests skipped: Debian's chromium is not installed")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
