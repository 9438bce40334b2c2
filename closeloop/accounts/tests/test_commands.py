"""`closeloop setup` and `closeloop token create` (management commands)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from closeloop.accounts.models import ApiToken, Membership, Organization, Role, hash_secret

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_setup_command(monkeypatch):
    monkeypatch.setenv("CLOSELOOP_PASSWORD", "command line passphrase")
    output = run(
        "setup", "--organization", "Initech", "--email", "Bill@Initech.test", "--first-name", "Bill"
    )
    assert "Initech" in output
    membership = Membership.objects.get()
    assert membership.role == Role.OWNER
    assert membership.user.email == "bill@initech.test"
    assert membership.user.check_password("command line passphrase")


def test_setup_command_refuses_when_set_up(org_a, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_PASSWORD", "command line passphrase")
    with pytest.raises(CommandError, match="already set up"):
        run("setup", "--organization", "Again", "--email", "x@example.test")
    assert Organization.objects.count() == 1


def test_setup_command_refuses_weak_password(monkeypatch):
    monkeypatch.setenv("CLOSELOOP_PASSWORD", "123")
    with pytest.raises(CommandError, match="too weak"):
        run("setup", "--organization", "Initech", "--email", "x@example.test")
    assert not Organization.objects.exists()


def test_setup_command_without_password_or_terminal(monkeypatch):
    monkeypatch.delenv("CLOSELOOP_PASSWORD", raising=False)
    monkeypatch.setattr("os.isatty", lambda fd: False)
    with pytest.raises(CommandError, match="CLOSELOOP_PASSWORD"):
        run("setup", "--organization", "Initech", "--email", "x@example.test")


def test_token_create_prints_only_a_working_token(org_a, client):
    output = run("token", "create", "--email", "owner@acme.test", "--name", "deploy script")
    secret = output.strip()
    assert output == secret + "\n"
    assert len(secret) == 40
    assert ApiToken.objects.get().token_hash == hash_secret(secret)
    response = client.get("/API/v3/whoami", HTTP_X_API_TOKEN=secret)
    assert response.status_code == 200
    assert response.json()["result"]["email"] == "owner@acme.test"


def test_token_create_needs_organization_when_ambiguous(org_a, org_b):
    Membership.objects.create(organization=org_b[0], user=org_a[1])
    with pytest.raises(CommandError, match="several organizations"):
        run("token", "create", "--email", "owner@acme.test", "--name", "x")
    secret = run(
        "token",
        "create",
        "--email",
        "owner@acme.test",
        "--name",
        "x",
        "--organization",
        "globex-inc",
    ).strip()
    assert ApiToken.objects.get(token_hash=hash_secret(secret)).organization == org_b[0]


def test_token_create_unknown_user(org_a):
    with pytest.raises(CommandError, match="No user"):
        run("token", "create", "--email", "ghost@acme.test", "--name", "x")


def test_token_list_and_revoke(org_a):
    run("token", "create", "--email", "owner@acme.test", "--name", "ci")
    token = ApiToken.objects.get()
    assert "ci" in run("token", "list", "--email", "owner@acme.test")
    run("token", "revoke", "--email", "owner@acme.test", str(token.id))
    token.refresh_from_db()
    assert token.revoked_at is not None
