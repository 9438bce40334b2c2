"""Linked Salesforce accounts through the fake Salesforce's real OAuth endpoints."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connection

from closeloop.accounts.models import Membership, Role, User
from closeloop.integrations.salesforce import actions
from closeloop.integrations.salesforce.models import AccountStatus, ConnectedAccount


def signed_in(client, user):
    client.force_login(user)
    return client


def approve_at_salesforce(authorize_url: str, decision: str = "allow") -> str:
    """What the person does on Salesforce's page; returns where Salesforce redirects back."""
    browser = requests.Session()
    page = browser.get(authorize_url)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    answer = browser.post(
        authorize_url.split("?")[0], data={**fields, "decision": decision}, allow_redirects=False
    )
    return answer.headers["Location"]


def link_account(client, name="Support org", environment="production"):
    started = client.post(
        "/extensions/salesforce/link/", {"environment": environment, "name": name}
    )
    assert started.status_code == 302, started.content
    back = approve_at_salesforce(started["Location"])
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}", follow=True)


def test_link_stores_the_org_and_user_with_tokens_encrypted(client, org_a, fake_salesforce):
    organization, user = org_a
    page = link_account(signed_in(client, user))
    assert b"Linked Support org" in page.content
    account = ConnectedAccount.objects.get()
    assert account.organization == organization and account.owner == user
    assert account.salesforce_organization_id == fake_salesforce.organization_id
    assert account.salesforce_user_id == fake_salesforce.user_id
    assert account.instance_url == fake_salesforce.base_url
    assert actions.access_token(account) in fake_salesforce.access_tokens
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token_encrypted, refresh_token_encrypted FROM salesforce_connectedaccount"
        )
        stored = " ".join(cursor.fetchone())
    assert not any(token in stored for token in fake_salesforce.access_tokens)
    assert not any(token in stored for token in fake_salesforce.refresh_tokens)
    assert b"Support org" in client.get("/extensions/salesforce/").content


def test_the_authorize_request_uses_pkce_and_state(client, org_a, fake_salesforce):
    _, user = org_a
    started = signed_in(client, user).post(
        "/extensions/salesforce/link/", {"environment": "sandbox", "name": "Sandbox"}
    )
    query = parse_qs(urlsplit(started["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["client_id"] == [fake_salesforce.client_id]
    assert "refresh_token" in query["scope"][0]
    assert query["redirect_uri"][0].endswith("/extensions/salesforce/callback/")


def test_a_forged_or_replayed_callback_links_nothing(client, org_a, fake_salesforce):
    _, user = org_a
    signed_in(client, user)
    started = client.post(
        "/extensions/salesforce/link/", {"environment": "production", "name": "A"}
    )
    back = urlsplit(approve_at_salesforce(started["Location"]))
    code = parse_qs(back.query)["code"][0]
    forged = client.get(back.path, {"code": code, "state": "not-the-state"}, follow=True)
    assert b"was not started here" in forged.content
    assert not ConnectedAccount.objects.exists()
    client.get(f"{back.path}?{back.query}")
    replayed = client.get(f"{back.path}?{back.query}", follow=True)
    assert b"was not started here" in replayed.content
    assert ConnectedAccount.objects.count() == 1


def test_a_denied_sign_in_says_so(client, org_a, fake_salesforce):
    _, user = org_a
    started = signed_in(client, user).post(
        "/extensions/salesforce/link/", {"environment": "production", "name": "A"}
    )
    back = urlsplit(approve_at_salesforce(started["Location"], decision="deny"))
    page = client.get(f"{back.path}?{back.query}", follow=True)
    assert b"end-user denied authorization" in page.content
    assert not ConnectedAccount.objects.exists()


def test_at_most_five_accounts_and_unique_names(client, org_a, fake_salesforce):
    _, user = org_a
    signed_in(client, user)
    for number in range(5):
        link_account(client, name=f"Org {number}")
    assert ConnectedAccount.objects.filter(owner=user).count() == 5
    refused = client.post(
        "/extensions/salesforce/link/", {"environment": "production", "name": "Six"}
    )
    assert refused.status_code == 200 and b"the most a user may have" in refused.content
    client.post("/extensions/salesforce/" + ConnectedAccount.objects.first().public_id + "/remove/")
    duplicate = client.post(
        "/extensions/salesforce/link/", {"environment": "production", "name": "Org 2"}
    )
    assert b"already have a linked account named" in duplicate.content


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://acme.my.salesforce.com", True),
        ("https://acme--uat.sandbox.my.salesforce.com/", True),
        ("http://acme.my.salesforce.com", False),
        ("https://evil.example.com", False),
        ("https://salesforce.com.evil.example", False),
    ],
)
def test_my_domain_urls_must_be_salesforce_over_https(url, accepted):
    if accepted:
        assert actions.login_url_for("my_domain", url).startswith("https://acme")
    else:
        with pytest.raises(actions.LinkError, match="My Domain URL"):
            actions.login_url_for("my_domain", url)


def test_unconfigured_server_explains_what_to_set(client, org_a, settings):
    settings.CLOSELOOP_SALESFORCE_CLIENT_ID = ""
    _, user = org_a
    page = signed_in(client, user).post(
        "/extensions/salesforce/link/", {"environment": "production", "name": "A"}
    )
    assert b"CLOSELOOP_SALESFORCE_CLIENT_ID" in page.content


def test_rename_and_remove_revokes_at_salesforce(client, org_a, fake_salesforce):
    _, user = org_a
    link_account(signed_in(client, user))
    account = ConnectedAccount.objects.get()
    refresh_token = next(iter(fake_salesforce.refresh_tokens))
    client.post(f"/extensions/salesforce/{account.public_id}/rename/", {"name": "Renamed"})
    assert ConnectedAccount.objects.get().name == "Renamed"
    page = client.post(f"/extensions/salesforce/{account.public_id}/remove/", follow=True)
    assert b"revoked at Salesforce" in page.content
    assert refresh_token in fake_salesforce.revoked
    assert not ConnectedAccount.objects.exists()


def test_token_refresh_and_a_revoked_grant_needs_attention(client, org_a, fake_salesforce):
    _, user = org_a
    link_account(signed_in(client, user))
    account = ConnectedAccount.objects.get()
    old = actions.access_token(account)
    fake_salesforce.expire_access_tokens()
    new = actions.refresh_tokens(account)
    assert new != old and new in fake_salesforce.access_tokens
    assert actions.access_token(ConnectedAccount.objects.get()) == new
    fake_salesforce.revoke_refresh_tokens()
    with pytest.raises(actions.LinkError, match="invalid_grant"):
        actions.refresh_tokens(account)
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_ATTENTION
    assert "must reconnect" in account.status_message
    page = client.get("/extensions/salesforce/")
    assert b"Needs attention" in page.content


def test_reconnect_renews_the_grant_of_the_same_org(client, org_a, fake_salesforce):
    _, user = org_a
    link_account(signed_in(client, user))
    account = ConnectedAccount.objects.get()
    actions.mark_needs_attention(account, "reconnect please")
    started = client.post(f"/extensions/salesforce/{account.public_id}/reconnect/")
    back = urlsplit(approve_at_salesforce(started["Location"]))
    client.get(f"{back.path}?{back.query}")
    account.refresh_from_db()
    assert account.status == AccountStatus.CONNECTED and ConnectedAccount.objects.count() == 1
    fake_salesforce.organization_id = "00D000000000001EAA"  # now signing in to another org
    started = client.post(f"/extensions/salesforce/{account.public_id}/reconnect/")
    back = urlsplit(approve_at_salesforce(started["Location"]))
    page = client.get(f"{back.path}?{back.query}", follow=True)
    assert b"another Salesforce org" in page.content


def test_sharing_is_for_admins_and_accounts_stay_in_their_organization(
    client, org_a, org_b, fake_salesforce
):
    organization, owner = org_a
    _, outsider = org_b
    link_account(signed_in(client, owner))
    account = ConnectedAccount.objects.get()
    member = make_organization_member(organization)
    client.force_login(member)
    assert b"Support org" not in client.get("/extensions/salesforce/").content
    assert (
        client.post(
            f"/extensions/salesforce/{account.public_id}/share/", {"shared": "1"}
        ).status_code
        == 404
    )
    assert client.post(f"/extensions/salesforce/{account.public_id}/remove/").status_code == 404
    client.force_login(owner)
    client.post(f"/extensions/salesforce/{account.public_id}/share/", {"shared": "1"})
    client.force_login(member)
    assert b"Support org" in client.get("/extensions/salesforce/").content
    client.force_login(outsider)
    assert b"Support org" not in client.get("/extensions/salesforce/").content
    for action in ("rename", "remove", "reconnect", "share"):
        response = client.post(
            f"/extensions/salesforce/{account.public_id}/{action}/", {"shared": "0"}
        )
        assert response.status_code == 404
    assert ConnectedAccount.objects.get().shared_with_organization


def make_organization_member(organization):
    member = User.objects.create_user("member@acme.test", "pw-pw-pw-pw", first_name="Mo")
    Membership.objects.create(organization=organization, user=member, role=Role.MEMBER)
    return member


def test_linking_from_a_workflow_returns_to_it_and_never_off_site(client, org_a, fake_salesforce):
    _, user = org_a
    signed_in(client, user)
    page = client.get("/extensions/salesforce/?next=/workflows/WF_abc/").content.decode()
    assert 'name="next" value="/workflows/WF_abc/"' in page
    for where, expected in (
        ("/workflows/WF_abc/", "/workflows/WF_abc/"),
        ("https://evil.example/", "/extensions/salesforce/"),
    ):
        started = client.post(
            "/extensions/salesforce/link/",
            {"environment": "production", "name": f"Org {len(where)}", "next": where},
        )
        parts = urlsplit(approve_at_salesforce(started["Location"]))
        back = client.get(f"{parts.path}?{parts.query}")
        assert back.status_code == 302 and back["Location"] == expected
