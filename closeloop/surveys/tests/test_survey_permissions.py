"""The survey pages and APIs ask closeloop.surveys.permissions: the owner and admins do
everything, a member what the survey was shared for (directly or through a group), others
get a 404; and the pages say why an action is unavailable before it is clicked."""

from __future__ import annotations

import html as entities
import json
import re

import pytest
from django.urls import reverse

from closeloop.accounts import actions as accounts_actions
from closeloop.accounts.models import AuditEvent, MemberGroup
from closeloop.surveys import actions
from closeloop.surveys.permission_rules import Permission
from closeloop.surveys.tests.conftest import make_survey
from conftest import add_member

pytestmark = pytest.mark.django_db

REASON = "ask Ana Member (owner)"


@pytest.fixture
def ana(org_a):
    return add_member(org_a[0], "ana@acme.test")


@pytest.fixture
def survey(org_a, ana):
    """Owned by Ana, a plain member; org_a's owner is an admin."""
    return make_survey(org_a[0], ana, name="Support CSAT")


def url(name: str, survey, *extra) -> str:
    return reverse(f"surveys:{name}", args=[survey.public_id, *extra])


def share(survey, user=None, group=None, *names):
    return actions.share_survey(survey, survey.owner, user=user, group=group, permissions=names)


def disabled_button(html: str, action: str) -> str:
    """The disabled button of `action` and the reason shown next to it."""
    match = re.search(
        rf'<button[^>]*data-action="{action}"[^>]*disabled aria-disabled="true"'
        rf'[^>]*aria-describedby="([^"]+)"',
        html,
    )
    assert match, f"no disabled {action} button"
    reason = re.search(rf'id="{match.group(1)}" class="why-not[^"]*">([^<]*)<', html)
    assert reason, f"no reason for {action}"
    return entities.unescape(reason.group(1))


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_owner_and_admin_may_do_everything(client, org_a, ana, survey, who):
    client.force_login(ana if who == "owner" else org_a[1])
    page = client.get(url("edit", survey))
    assert page.status_code == 200
    html = page.content.decode()
    create = reverse("distributions:create")
    assert f'data-action="distribute" href="{create}?survey={survey.public_id}"' in html
    assert "why-not" not in html
    assert client.get(url("results", survey)).status_code == 200
    assert client.get(url("export", survey, "csv")).status_code == 200
    assert client.post(url("rename", survey), {"name": "Renamed"}).status_code == 302
    survey.refresh_from_db()
    assert survey.name == "Renamed"


def test_a_member_without_a_share_gets_404_everywhere(client, member_a, survey):
    client.force_login(member_a)
    for name in ("edit", "results", "sharing", "translations", "preview"):
        assert client.get(url(name, survey)).status_code == 404, name
    assert client.get(url("export", survey, "csv")).status_code == 404
    assert client.post(url("publish", survey)).status_code == 404
    assert client.post(url("delete", survey), {"confirm": survey.name}).status_code == 404
    assert survey.public_id not in client.get(reverse("surveys:list")).content.decode()


def test_view_results_only_sees_results_but_not_responses(client, member_a, survey):
    share(survey, member_a, None, Permission.VIEW_RESULTS)
    client.force_login(member_a)

    assert client.get(url("edit", survey))["Location"] == url("results", survey)
    results = client.get(url("results", survey))
    assert results.status_code == 200
    html = results.content.decode()
    assert REASON in disabled_button(html, "export")
    assert "View and export responses permission" in disabled_button(html, "export")
    assert REASON in disabled_button(html, "distribute")
    assert REASON in disabled_button(html, "publish")

    export = client.get(url("export", survey, "csv"))
    assert export.status_code == 403
    assert REASON in export.content.decode()
    assert "View and export responses" in export.content.decode()
    assert client.post(url("rename", survey), {"name": "Mine"}).status_code == 403
    assert client.post(url("publish", survey)).status_code == 403
    survey.refresh_from_db()
    assert survey.name == "Support CSAT"
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_edit_without_distribute_sees_why_before_clicking(client, member_a, survey):
    share(survey, member_a, None, Permission.EDIT)
    client.force_login(member_a)
    page = client.get(url("edit", survey))
    assert page.status_code == 200
    html = entities.unescape(page.content.decode())
    reason = disabled_button(html, "distribute")
    assert reason == (
        "You can't distribute this survey: ask Ana Member (owner) for the Distribute permission."
    )
    assert REASON in disabled_button(html, "delete")
    assert 'data-action="publish"' in html and "Results: You can't view the results" in html
    # the tabs it may not use are not links
    assert f'href="{url("results", survey)}"' not in html
    assert client.post(url("delete", survey), {"confirm": survey.name}).status_code == 403
    assert client.post(url("rename", survey), {"name": "Renamed"}).status_code == 302


def test_without_edit_or_results_the_main_page_is_the_sharing_page(client, member_a, survey):
    share(survey, member_a, None, Permission.VIEW_RESPONSES)
    client.force_login(member_a)
    assert client.get(url("edit", survey))["Location"] == url("sharing", survey)
    assert client.get(url("results", survey)).status_code == 403
    assert client.get(url("export", survey, "json")).status_code == 200


def test_a_group_share_gives_its_members_access(client, org_a, member_a, survey):
    group = MemberGroup.objects.create(organization=org_a[0], name="Support")
    group.members.add(member_a)
    client.force_login(member_a)
    assert client.get(url("results", survey)).status_code == 404
    share(survey, None, group, Permission.VIEW_RESULTS, Permission.VIEW_RESPONSES)
    assert client.get(url("results", survey)).status_code == 200
    assert client.get(url("export", survey, "csv")).status_code == 200
    listed = client.get(reverse("surveys:list")).content.decode()
    assert survey.public_id in listed
    assert "Shared: View results, View and export responses" in listed


def test_another_organization_gets_404(client, org_b, survey):
    client.force_login(org_b[1])
    for name in ("edit", "results", "sharing"):
        assert client.get(url(name, survey)).status_code == 404
    token = accounts_actions.create_api_token(org_b[0], org_b[1], "b")[1]
    headers = {"HTTP_X_API_TOKEN": token}
    assert client.get(f"/api/v1/surveys/{survey.public_id}", **headers).status_code == 404
    assert client.get(f"/API/v3/surveys/{survey.public_id}", **headers).status_code == 404


def test_the_list_shows_each_users_access(client, org_a, ana, member_a, survey):
    own = make_survey(org_a[0], member_a, name="Bea's own", publish=False)
    hidden = make_survey(org_a[0], ana, name="Ana's private", publish=False)
    share(survey, member_a, None, Permission.EDIT, Permission.DISTRIBUTE)
    client.force_login(member_a)
    html = client.get(reverse("surveys:list")).content.decode()
    assert own.public_id in html and survey.public_id in html
    assert hidden.public_id not in html
    assert "Shared: Edit survey, Distribute" in html and ">Owner<" in html
    client.force_login(org_a[1])
    html = client.get(reverse("surveys:list")).content.decode()
    assert hidden.public_id in html and ">Admin<" in html


# The APIs --------------------------------------------------------------------------------


def _token(org_a, user) -> dict:
    return {"HTTP_X_API_TOKEN": accounts_actions.create_api_token(org_a[0], user, "t")[1]}


def test_the_apis_list_and_check_for_the_tokens_user(client, org_a, member_a, survey):
    headers = _token(org_a, member_a)
    assert client.get(f"/api/v1/surveys/{survey.public_id}", **headers).status_code == 404
    assert survey.public_id not in client.get("/api/v1/surveys", **headers).content.decode()
    assert survey.public_id not in client.get("/API/v3/surveys", **headers).content.decode()

    share(survey, member_a, None, Permission.VIEW_RESULTS)
    assert survey.public_id in client.get("/api/v1/surveys", **headers).content.decode()
    assert client.get(f"/API/v3/surveys/{survey.public_id}", **headers).status_code == 200
    put = client.put(
        f"/api/v1/surveys/{survey.public_id}",
        json.dumps({"name": "Renamed"}),
        content_type="application/json",
        **headers,
    )
    assert put.status_code == 403 and REASON in put.json()["detail"]
    started = client.post(
        f"/API/v3/surveys/{survey.public_id}/export-responses",
        json.dumps({"format": "csv"}),
        content_type="application/json",
        **headers,
    )
    assert started.status_code == 403
    assert REASON in started.json()["meta"]["error"]["errorMessage"]


def test_an_api_export_download_is_audited(client, org_a, member_a, survey):
    share(survey, member_a, None, Permission.VIEW_RESPONSES)
    export = actions.run_export(actions.request_export(survey, survey.owner))
    headers = _token(org_a, member_a)
    path = f"/API/v3/surveys/{survey.public_id}/export-responses/{export.file_id}/file"
    assert client.get(path, **headers).status_code == 200
    event = AuditEvent.objects.get(action="export.downloaded")
    assert event.actor == member_a and event.target_id == survey.public_id
    assert event.extra["format"] == "csv"
