"""The message library: pages, permissions (two organizations, personal messages), preview,
and the copy a distribution keeps of the message it used."""

from __future__ import annotations

import pytest
from django.test import Client

from closeloop.accounts.models import Membership, Role, User
from closeloop.distributions import actions
from closeloop.distributions.actions import DistributionError
from closeloop.distributions.models import Distribution, Message
from closeloop.distributions.tests.conftest import make_list
from closeloop.distributions.tests.test_sms_two_way import sms_survey

pytestmark = pytest.mark.django_db

EMAIL = {
    "name": "Spring invitation",
    "subject": "Hello ${m://FirstName}",
    "text_body": "Please answer: ${l://SurveyLink?d=Take the survey} (${e://Field/Store})",
}
SMS = {"name": "Short nudge", "text_body": "${m://FirstName}, tell us: ${l://SurveyURL}"}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def library_table(client, query: str = "") -> str:
    page = client.get(f"/distributions/messages/{query}").content.decode()
    return page[page.index('<table id="library">') : page.index("</table>")]


def colleague(organization) -> User:
    user = User.objects.create_user("member@acme.test", "correct horse battery")
    Membership.objects.create(organization=organization, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def library_a(org_a):
    organization, user = org_a
    shared = actions.create_message(organization, **EMAIL)
    mine = actions.create_message(organization, owner=user, channel="sms", **SMS)
    return shared, mine


def test_create_search_edit_and_delete_from_the_pages(org_a):
    organization, user = org_a
    client = logged_in(user)
    response = client.post(
        "/distributions/messages/new/?channel=email",
        {**EMAIL, "category": "invite", "html_body": "", "shared": "on"},
    )
    message = Message.objects.get(organization=organization)
    assert response.status_code == 302
    assert response["Location"] == f"/distributions/messages/{message.public_id}/"
    assert (message.channel, message.owner_id, message.subject) == ("email", None, EMAIL["subject"])

    response = client.post(
        "/distributions/messages/new/?channel=sms", {**SMS, "category": "reminder"}
    )
    sms = Message.objects.get(organization=organization, channel="sms")
    assert (sms.owner_id, sms.category, sms.subject) == (user.pk, "reminder", "")

    found = library_table(client, "?q=spring")
    assert "Spring invitation" in found and "Short nudge" not in found
    only_sms = library_table(client, "?channel=sms")
    assert "Short nudge" in only_sms and "Spring invitation" not in only_sms

    client.post(
        f"/distributions/messages/{message.public_id}/",
        {**EMAIL, "name": "Autumn invitation", "category": "invite", "shared": "on"},
    )
    message.refresh_from_db()
    assert message.name == "Autumn invitation"
    client.post(f"/distributions/messages/{message.public_id}/delete/")
    assert not Message.objects.filter(pk=message.pk).exists()


def test_bad_input_names_the_rule_and_stores_nothing(org_a):
    _organization, user = org_a
    client = logged_in(user)
    page = client.post(
        "/distributions/messages/new/?channel=email",
        {"name": "No subject", "category": "invite", "text_body": "hi", "shared": "on"},
    ).content.decode()
    assert "The message needs a subject." in page
    page = client.post(
        "/distributions/messages/new/?channel=sms",
        {"name": "Too long", "category": "invite", "text_body": "x" * 1601},
    ).content.decode()
    assert "An SMS message is at most 1600 characters." in page
    page = client.post(
        "/distributions/messages/new/?channel=email",
        {**EMAIL, "category": "invite", "subject": "Your ${q://QID1/ChoiceGroup/SelectedChoices}"},
    ).content.decode()
    assert "uses piped text that an invitation cannot fill" in page
    assert not Message.objects.exists()


def test_preview_uses_sample_values_and_counts_sms_segments(org_a, library_a):
    _organization, user = org_a
    shared, mine = library_a
    client = logged_in(user)
    page = client.get(f"/distributions/messages/{shared.public_id}/").content.decode()
    assert '<span id="preview-subject">Hello Alex</span>' in page
    assert "Please answer: https://example.com/jfe/l/SAMPLE-PERSONAL-LINK ([Store])" in page
    sms_page = client.post(
        f"/distributions/messages/{mine.public_id}/",
        {"name": "Short nudge", "category": "invite", "text_body": "ж" * 71, "preview": "1"},
    ).content.decode()
    assert "71 characters · 2 SMS segments" in sms_page
    mine.refresh_from_db()
    assert mine.text_body == SMS["text_body"]  # a preview saves nothing


def test_organizations_and_personal_messages_are_kept_apart(org_a, org_b, library_a):
    organization, _user = org_a
    _shared, mine = library_a
    outsider = logged_in(org_b[1])
    assert "Spring invitation" not in library_table(outsider)
    for message in library_a:
        assert outsider.get(f"/distributions/messages/{message.public_id}/").status_code == 404
        outsider.post(f"/distributions/messages/{message.public_id}/delete/")
    member = logged_in(colleague(organization))
    listing = library_table(member)
    assert "Spring invitation" in listing and "Short nudge" not in listing
    assert member.get(f"/distributions/messages/{mine.public_id}/").status_code == 404
    assert member.post(f"/distributions/messages/{mine.public_id}/delete/").status_code == 404
    assert Message.objects.count() == 2


def test_a_distribution_keeps_its_copy_when_the_library_changes(org_a, survey_a, library_a):
    organization, user = org_a
    shared, _mine = library_a
    mailing_list, _contacts = make_list(organization, 2)
    distribution = actions.create_distribution(
        organization, survey_a, owner=user, mailing_list=mailing_list, message=shared
    )
    actions.update_message(shared, name="Changed", subject="Other", text_body="Other text")
    actions.delete_message(shared)
    distribution.refresh_from_db()
    assert (distribution.subject, distribution.text_body) == (EMAIL["subject"], EMAIL["text_body"])
    assert distribution.library_message is None


def test_the_message_must_fit_the_channel_and_the_organization(org_a, org_b, survey_a, library_a):
    organization, user = org_a
    shared, mine = library_a
    mailing_list, _contacts = make_list(organization, 1)
    with pytest.raises(DistributionError, match="is an Email message: choose an SMS message"):
        actions.create_distribution(
            organization, survey_a, channel="sms", mailing_list=mailing_list, message=shared
        )
    with pytest.raises(DistributionError, match="is an SMS message: choose an Email message"):
        actions.create_distribution(organization, survey_a, mailing_list=mailing_list, message=mine)
    other = actions.create_message(org_b[0], **EMAIL)
    with pytest.raises(DistributionError, match="belongs to another organization"):
        actions.create_distribution(
            organization, survey_a, mailing_list=mailing_list, message=other
        )
    assert not Distribution.objects.exists()
    two_way = actions.create_distribution(
        organization,
        sms_survey(organization, user),
        channel="sms2way",
        mailing_list=mailing_list,
        message=mine,
    )
    assert two_way.text_body == SMS["text_body"]


def test_the_new_distribution_page_offers_the_library(org_a, org_b, survey_a, library_a):
    organization, user = org_a
    shared, mine = library_a
    actions.create_message(org_b[0], **{**EMAIL, "name": "Globex only"})
    mailing_list, _contacts = make_list(organization, 1)
    client = logged_in(user)
    page = client.get("/distributions/new/").content.decode()
    assert f'<option value="{shared.public_id}">Spring invitation</option>' in page
    assert f'<option value="{mine.public_id}">Short nudge</option>' in page
    assert "Globex only" not in page
    response = client.post(
        "/distributions/new/",
        {
            "survey": survey_a.public_id,
            "mailing_list": mailing_list.public_id,
            "channel": "email",
            "message": shared.public_id,
            "subject": "Prefilled subject",
            "text_body": "Prefilled text",
            "when": "now",
        },
    )
    assert response.status_code == 302
    distribution = Distribution.objects.get()
    assert distribution.library_message == shared
    assert distribution.subject == EMAIL["subject"]
