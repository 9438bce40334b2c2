"""The Sharing page: the owner and admins share a survey with members and groups of its
organization, change and remove shares; everyone else who sees it reads the page with the
reason; hostile input stores nothing."""

from __future__ import annotations

import html as entities

import pytest
from django.urls import NoReverseMatch, reverse

from closeloop.accounts.models import AuditEvent, MemberGroup
from closeloop.surveys import actions
from closeloop.surveys.models import SurveyShare
from closeloop.surveys.permission_rules import Permission
from closeloop.surveys.tests.conftest import make_survey
from conftest import add_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(org_a):
    return add_member(org_a[0], "ana@acme.test")


@pytest.fixture
def survey(org_a, ana):
    return make_survey(org_a[0], ana, name="Support CSAT")


@pytest.fixture
def sharing_url(survey):
    return reverse("surveys:sharing", args=[survey.public_id])


@pytest.fixture
def group(org_a, member_a):
    group = MemberGroup.objects.create(organization=org_a[0], name="Support")
    group.members.add(member_a)
    return group


def text(response) -> str:
    return entities.unescape(response.content.decode())


def test_the_owner_shares_with_a_member(client, ana, member_a, survey, sharing_url):
    client.force_login(ana)
    page = client.get(sharing_url)
    assert page.status_code == 200
    body = text(page)
    assert "Not shared with anyone yet." in body and member_a.public_id in body
    for permission in Permission:
        assert f'name="permissions" value="{permission.value}"' in body
        assert permission.label in body

    added = client.post(
        sharing_url,
        {"op": "add", "user": member_a.public_id, "permissions": ["view_results", "edit"]},
    )
    assert added.status_code == 302 and added["Location"] == sharing_url
    share = SurveyShare.objects.get(survey=survey, user=member_a)
    assert share.permission_names == ["view_results", "edit"]
    event = AuditEvent.objects.get(action="survey.shared")
    assert event.actor == ana and event.target_id == survey.public_id

    body = text(client.get(sharing_url))
    assert f'data-share="{share.pk}"' in body and "Bea Member" in body


def test_edit_and_remove_a_share(client, ana, member_a, survey, sharing_url):
    share = actions.share_survey(survey, ana, user=member_a, permissions=["view_results"])
    client.force_login(ana)
    saved = client.post(
        sharing_url, {"op": "save", "share": share.pk, "permissions": ["distribute", "delete"]}
    )
    assert saved.status_code == 302
    share.refresh_from_db()
    assert share.permission_names == ["distribute", "delete"]

    removed = client.post(sharing_url, {"op": "remove", "share": share.pk})
    assert removed.status_code == 302
    assert not SurveyShare.objects.filter(survey=survey).exists()
    assert AuditEvent.objects.filter(action="survey.unshared").count() == 1


def test_saving_a_share_with_nothing_ticked_removes_it(client, ana, member_a, survey, sharing_url):
    share = actions.share_survey(survey, ana, user=member_a, permissions=["edit"])
    client.force_login(ana)
    assert client.post(sharing_url, {"op": "save", "share": share.pk}).status_code == 302
    assert not SurveyShare.objects.exists()


def test_an_admin_shares_with_a_group(client, org_a, member_a, group, survey, sharing_url):
    client.force_login(org_a[1])
    added = client.post(
        sharing_url, {"op": "add", "group": str(group.pk), "permissions": ["view_results"]}
    )
    assert added.status_code == 302
    share = SurveyShare.objects.get(survey=survey)
    assert share.group == group and share.user is None
    client.force_login(member_a)
    results = reverse("surveys:results", args=[survey.public_id])
    assert client.get(results).status_code == 200


def test_a_member_reads_the_page_but_cannot_share(client, ana, member_a, survey, sharing_url):
    actions.share_survey(survey, ana, user=member_a, permissions=["edit", "view_results"])
    client.force_login(member_a)
    page = client.get(sharing_url)
    assert page.status_code == 200
    body = text(page)
    reason = "Only Ana Member (owner) or an administrator of the organization can share"
    assert reason in body
    assert 'name="op" value="add"' not in body and 'id="your-access"' in body
    assert "You can't distribute this survey: ask Ana Member (owner)" in body
    assert 'data-allowed="true"><span class="badge ok">Yes</span> Edit survey' in body

    other = add_member(survey.organization, "cara@acme.test")
    refused = client.post(
        sharing_url, {"op": "add", "user": other.public_id, "permissions": ["edit"]}
    )
    assert refused.status_code == 403
    assert reason in text(refused)
    share = SurveyShare.objects.get(user=member_a)
    removed = client.post(sharing_url, {"op": "remove", "share": share.pk})
    assert removed.status_code == 403
    assert SurveyShare.objects.count() == 1 and not SurveyShare.objects.filter(user=other)


def test_unknown_permission_names_are_ignored(client, ana, member_a, survey, sharing_url):
    client.force_login(ana)
    posted = client.post(
        sharing_url,
        {"op": "add", "user": member_a.public_id, "permissions": ["edit", "superuser", "can_x"]},
    )
    assert posted.status_code == 302
    assert SurveyShare.objects.get().permission_names == ["edit"]

    only_unknown = client.post(
        sharing_url, {"op": "add", "user": member_a.public_id, "permissions": ["root"]}
    )
    assert only_unknown.status_code == 400
    assert "Tick at least one permission" in text(only_unknown)
    assert SurveyShare.objects.get().permission_names == ["edit"]


@pytest.mark.parametrize(
    "posted",
    [
        {"user": "other-org"},
        {"group": "other-org"},
        {"user": "US_doesnotexist"},
        {"group": "99999999"},
        {"group": "١٢"},  # digits, but not ASCII
        {"user": "owner"},
        {},
    ],
    ids=[
        "user of another org",
        "group of another org",
        "unknown user",
        "unknown group",
        "non-ascii digits",
        "the owner",
        "nobody",
    ],
)
def test_hostile_targets_are_refused_and_nothing_is_stored(
    client, org_b, ana, survey, sharing_url, posted
):
    foreign_group = MemberGroup.objects.create(organization=org_b[0], name="Globex")
    values = {
        "other-org": org_b[1].public_id if "user" in posted else str(foreign_group.pk),
        "owner": ana.public_id,
    }
    data = {key: values.get(value, value) for key, value in posted.items()}
    client.force_login(ana)
    response = client.post(sharing_url, {"op": "add", "permissions": ["edit"], **data})
    assert response.status_code == 400
    assert 'class="flash flash-error errorlist"' in response.content.decode()
    assert not SurveyShare.objects.exists()
    assert not AuditEvent.objects.filter(action="survey.shared").exists()


def test_a_share_of_another_survey_cannot_be_changed(client, org_a, ana, member_a, sharing_url):
    other = make_survey(org_a[0], org_a[1], name="Admin's survey", publish=False)
    foreign = actions.share_survey(other, org_a[1], user=member_a, permissions=["edit"])
    client.force_login(ana)
    for op in ("save", "remove"):
        response = client.post(sharing_url, {"op": op, "share": foreign.pk})
        assert response.status_code == 400
        assert "That share no longer exists." in text(response)
    assert client.post(sharing_url, {"op": "save", "share": "1 OR 1=1"}).status_code == 400
    foreign.refresh_from_db()
    assert foreign.permission_names == ["edit"]


def test_the_transfer_link_shows_only_when_the_page_exists(client, ana, sharing_url):
    client.force_login(ana)
    body = text(client.get(sharing_url))
    try:
        transfer = reverse("workflows:transfer", args=["x"])
    except NoReverseMatch:
        assert 'data-action="transfer"' not in body
    else:
        assert transfer and 'data-action="transfer"' in body
