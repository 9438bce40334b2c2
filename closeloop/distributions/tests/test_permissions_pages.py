"""The distributions pages obey the survey permissions: Distribute to create (an invitation or
a follow-up), Distribute or View results to see; a survey not shared is a 404, as is another
organization's."""

from __future__ import annotations

import pytest

from closeloop.accounts.models import AuditEvent
from closeloop.distributions import actions
from closeloop.distributions.models import Distribution, Kind
from closeloop.distributions.tests.conftest import make_survey
from closeloop.distributions.tests.permission_world import (
    SEE_SENTENCE,
    SENTENCE,
    World,
    in_page,
)
from closeloop.surveys import actions as survey_actions

pytestmark = pytest.mark.django_db

SEE = ("owner", "admin", "viewer", "distributor")
CREATE = ("owner", "admin", "distributor")
HIDDEN = ("stranger", "other")


def pages(world: World) -> dict[str, str]:
    distribution = world.distribution.public_id
    return {
        "survey's distributions": f"/distributions/survey/{world.survey.public_id}/",
        "detail": f"/distributions/{distribution}/",
        "history CSV": f"/distributions/{distribution}/history.csv",
        "new distribution": f"/distributions/new/?survey={world.survey.public_id}",
    }


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def create_form(world: World, **overrides) -> dict:
    data = {
        "survey": world.survey.public_id,
        "mailing_list": world.mailing_list.public_id,
        "channel": "email",
        "message": "",
        "subject": "Tell us",
        "text_body": "${l://SurveyLink?d=Go}",
        "when": "now",
    }
    data.update(overrides)
    return data


def followup_form() -> dict:
    return {"kind": "reminder:notFinished", "message": "", "subject": "Soon", "text_body": "Go"}


@pytest.mark.parametrize("role", SEE)
def test_those_who_may_see_get_every_read_page(client, world, role):
    client.force_login(world.users[role])
    for name, url in pages(world).items():
        if name == "new distribution":
            continue
        response = client.get(url)
        assert response.status_code == 200, (name, role, response.status_code)
    listing = client.get("/distributions/").content.decode()
    assert world.distribution.public_id in listing


@pytest.mark.parametrize("role", HIDDEN)
def test_a_survey_not_shared_or_of_another_organization_is_a_404_everywhere(client, world, role):
    client.force_login(world.users[role])
    for name, url in pages(world).items():
        response = client.get(url)
        assert response.status_code == 404, (name, role, response.status_code)
    posted = {
        "create": client.post("/distributions/new/", create_form(world)),
        "follow-up": client.post(
            f"/distributions/{world.distribution.public_id}/followup/", followup_form()
        ),
    }
    assert posted["follow-up"].status_code == 404
    # The form does not offer a survey it cannot see: refused as an invalid choice.
    assert posted["create"].status_code == 200
    assert "Select a valid choice" in posted["create"].content.decode()
    assert Distribution.objects.count() == 1
    listing = client.get("/distributions/")
    assert listing.status_code == 200
    assert world.distribution.public_id not in listing.content.decode()
    if role == "stranger":  # Globex's owner may distribute Globex's surveys
        assert "New distribution" not in listing.content.decode()


def test_view_results_sees_the_distributions_but_may_not_create(client, world):
    client.force_login(world.users["viewer"])
    tab = client.get(f"/distributions/survey/{world.survey.public_id}/").content.decode()
    assert "Acme asks" in tab
    # The button is shown disabled, with the reason as visible text.
    assert 'href="/distributions/new/' not in tab
    assert 'class="why-not' in tab and in_page(SENTENCE) in tab
    assert "disabled" in tab
    # On the organization's list there is nothing they may distribute: no button at all.
    listing = client.get("/distributions/").content.decode()
    assert "Acme asks" in listing and "New distribution" not in listing
    # The create page says why instead of showing the form.
    page = client.get(f"/distributions/new/?survey={world.survey.public_id}")
    assert page.status_code == 403
    assert in_page(SENTENCE) in page.content.decode()
    assert 'name="mailing_list"' not in page.content.decode()
    # Without ?survey= the form offers no survey (none they may distribute) and refuses it.
    blank = client.get("/distributions/new/").content.decode()
    assert f'value="{world.survey.public_id}"' not in blank
    assert "No active survey you may distribute" in blank
    refused = client.post("/distributions/new/", create_form(world))
    assert "Select a valid choice" in refused.content.decode()
    # The detail page offers no follow-up, and says why; posting one is a 403 with the reason.
    detail = client.get(f"/distributions/{world.distribution.public_id}/").content.decode()
    assert 'name="kind"' not in detail and in_page(SENTENCE) in detail
    followup = client.post(
        f"/distributions/{world.distribution.public_id}/followup/", followup_form()
    )
    assert followup.status_code == 403 and in_page(SENTENCE) in followup.content.decode()
    assert Distribution.objects.count() == 1


def test_the_history_download_is_audited(client, world):
    client.force_login(world.users["viewer"])
    response = client.get(f"/distributions/{world.distribution.public_id}/history.csv")
    assert response.status_code == 200
    lines = _body(response).splitlines()
    assert len(lines) == 3  # the header and two contacts
    event = AuditEvent.objects.get(action="export.downloaded")
    assert event.actor == world.users["viewer"]
    assert event.target_id == world.distribution.public_id


def test_a_refused_download_is_not_audited(client, world):
    client.force_login(world.users["stranger"])
    client.get(f"/distributions/{world.distribution.public_id}/history.csv")
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_other_permissions_are_a_403_that_says_whom_to_ask(client, world):
    editor = world.users["stranger"]
    survey_actions.share_survey(
        world.survey, world.users["owner"], user=editor, permissions=["edit"]
    )
    client.force_login(editor)
    for name, url in pages(world).items():
        response = client.get(url)
        assert response.status_code == 403, (name, response.status_code)
        expected = SENTENCE if name == "new distribution" else SEE_SENTENCE
        assert in_page(expected) in _body(response), name
    assert world.distribution.public_id not in client.get("/distributions/").content.decode()


@pytest.mark.parametrize("role", CREATE)
def test_distribute_creates_from_the_form_and_follows_up(client, world, role):
    client.force_login(world.users[role])
    page = client.get(f"/distributions/new/?survey={world.survey.public_id}")
    assert page.status_code == 200
    assert f'value="{world.survey.public_id}"' in page.content.decode()
    created = client.post("/distributions/new/", create_form(world))
    assert created.status_code == 302, created.content.decode()[:2000]
    distribution = Distribution.objects.exclude(pk=world.distribution.pk).get()
    assert distribution.owner == world.users[role]
    followup = client.post(
        f"/distributions/{world.distribution.public_id}/followup/", followup_form()
    )
    assert followup.status_code == 302
    assert Distribution.objects.filter(kind=Kind.REMINDER, parent=world.distribution).exists()
    tab = client.get(f"/distributions/survey/{world.survey.public_id}/").content.decode()
    assert f'href="/distributions/new/?survey={world.survey.public_id}"' in tab


def test_the_form_offers_only_the_surveys_one_may_distribute(client, world):
    owner = world.users["owner"]
    unshared = make_survey(world.organization, owner, name="Private pulse")
    client.force_login(world.users["distributor"])
    page = client.get("/distributions/new/").content.decode()
    assert f'value="{world.survey.public_id}"' in page
    assert f'value="{unshared.public_id}"' not in page and "Private pulse" not in page
    client.force_login(owner)
    page = client.get("/distributions/new/").content.decode()
    assert f'value="{unshared.public_id}"' in page


def test_the_list_shows_only_the_surveys_one_may_see_distributions_of(client, world):
    owner = world.users["owner"]
    unshared = make_survey(world.organization, owner, name="Private pulse")
    hidden = actions.create_distribution(
        world.organization,
        unshared,
        owner=owner,
        mailing_list=world.mailing_list,
        subject="Private asks",
        text_body="${l://SurveyURL}",
    )
    client.force_login(world.users["viewer"])
    listing = client.get("/distributions/").content.decode()
    assert world.distribution.public_id in listing and hidden.public_id not in listing
    client.force_login(world.users["admin"])
    listing = client.get("/distributions/").content.decode()
    assert world.distribution.public_id in listing and hidden.public_id in listing
    assert client.get(f"/distributions/survey/{unshared.public_id}/").status_code == 200
