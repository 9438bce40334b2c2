"""The contact's touchpoint timeline: transactions, deliveries and responses, newest first, each
organization seeing only its own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from closeloop.directory import actions, touchpoints
from closeloop.distributions import actions as distribution_actions
from closeloop.distributions import sending
from closeloop.distributions.models import Delivery
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.tests.sample import simple

pytestmark = [pytest.mark.django_db, pytest.mark.urls("closeloop.directory.tests.urls")]


def make_contact(organization, email="ann@example.com"):
    directory = actions.default_directory(organization)
    contact, _ = actions.upsert_contact(directory, {"firstName": "Ann", "email": email})
    return contact


def make_survey(organization, user, name):
    survey = survey_actions.create_survey(organization, user, name, simple("nps"))
    survey_actions.publish(survey, user)
    return survey


def deliver(organization, survey, contact) -> Delivery:
    """A distribution to one contact, prepared as its job does (the delivery row exists)."""
    distribution = distribution_actions.create_distribution(
        organization,
        survey,
        contact=contact,
        subject="How did we do?",
        text_body="${l://SurveyURL}",
    )
    sending.prepare(distribution)
    return Delivery.objects.get(distribution=distribution, contact=contact)


def respond(survey, contact, *, finish: bool):
    link, _ = survey_actions.create_link(survey, contact)
    response = survey_actions.start_link_response(link)
    if finish:
        survey_actions.submit_page(response, response.last_page, lambda name: ["9"])
    response.refresh_from_db()
    return response


def test_the_three_providers_are_discovered():
    assert {"transaction", "delivery", "response"} <= set(touchpoints.providers())


def test_transactions_on_the_timeline(org_a):
    organization, _user = org_a
    contact = make_contact(organization)
    actions.add_transaction(contact, "2026-11-01 10:00:00", {"order": "A-1", "amount": 12})
    entries = touchpoints.timeline(organization, contact)
    assert [(entry.kind, entry.title) for entry in entries] == [("transaction", "Transaction")]
    assert "order: A-1" in entries[0].detail and "amount: 12" in entries[0].detail
    assert entries[0].at.isoformat() == "2026-11-01T10:00:00+00:00"


def test_delivery_provider_shows_survey_channel_status_and_history_link(org_a):
    organization, user = org_a
    contact = make_contact(organization)
    survey = make_survey(organization, user, "Onboarding check")
    delivery = deliver(organization, survey, contact)
    [entry] = touchpoints.providers()["delivery"](organization, contact, 10)
    assert entry.kind == "delivery" and entry.title == "Onboarding check"
    assert entry.detail.startswith("Email · ") and delivery.get_status_display() in entry.detail
    assert entry.link == f"/distributions/{delivery.distribution.public_id}/"
    assert entry.at == delivery.created_at


def test_response_provider_shows_finished_and_partial(org_a):
    organization, user = org_a
    contact = make_contact(organization)
    survey = make_survey(organization, user, "Support follow-up")
    finished = respond(survey, contact, finish=True)
    assert finished.status == "finished"
    started = respond(make_survey(organization, user, "Second survey"), contact, finish=False)
    entries = touchpoints.providers()["response"](organization, contact, 10)
    by_title = {entry.title: entry for entry in entries}
    assert by_title["Support follow-up"].detail == "Finished"
    assert by_title["Support follow-up"].link == (
        f"/surveys/{survey.public_id}/responses/{finished.public_id}"
    )
    assert by_title["Support follow-up"].at == finished.finished_at
    assert by_title["Second survey"].detail == "In progress · 0% answered"
    assert by_title["Second survey"].at == started.started_at


def test_timeline_merges_newest_first_and_caps(org_a):
    organization, user = org_a
    contact = make_contact(organization)
    now = timezone.now()
    actions.add_transaction(contact, now - timedelta(days=3), {"step": "oldest"})
    survey = make_survey(organization, user, "Checkout")
    deliver(organization, survey, contact)
    actions.add_transaction(contact, now + timedelta(days=1), {"step": "newest"})
    respond(survey, contact, finish=True)
    entries = touchpoints.timeline(organization, contact)
    assert [entry.kind for entry in entries] == [
        "transaction",
        "response",
        "delivery",
        "transaction",
    ]
    assert entries == sorted(entries, key=lambda entry: entry.at, reverse=True)
    assert [entry.kind for entry in touchpoints.timeline(organization, contact, limit=2)] == [
        "transaction",
        "response",
    ]


def test_a_contact_never_shows_another_organizations_items(org_a, org_b):
    organization_a, user_a = org_a
    organization_b, user_b = org_b
    contact_a = make_contact(organization_a, "shared@example.com")
    contact_b = make_contact(organization_b, "shared@example.com")
    survey_a = make_survey(organization_a, user_a, "Acme survey")
    deliver(organization_a, survey_a, contact_a)
    respond(survey_a, contact_a, finish=True)
    actions.add_transaction(contact_a, "2026-11-01 10:00:00", {"org": "A"})
    survey_b = make_survey(organization_b, user_b, "Globex survey")
    deliver(organization_b, survey_b, contact_b)

    seen_by_b = touchpoints.timeline(organization_b, contact_b)
    assert [(entry.kind, entry.title) for entry in seen_by_b] == [("delivery", "Globex survey")]
    assert len(touchpoints.timeline(organization_a, contact_a)) == 3
    # Asked with the wrong organization, a contact's items stay hidden.
    assert touchpoints.timeline(organization_b, contact_a) == []


def test_a_member_sees_only_the_touchpoints_of_surveys_shared_with_them(org_a, member_a):
    organization, owner = org_a
    contact = make_contact(organization)
    shared = make_survey(organization, owner, "Shared CSAT")
    private = make_survey(organization, owner, "Private NPS")
    for survey in (shared, private):
        deliver(organization, survey, contact)
        respond(survey, contact, finish=True)
    survey_actions.share_survey(
        shared, owner, user=member_a, permissions=["view_results", "view_responses"]
    )

    seen = touchpoints.timeline(organization, contact, viewer=member_a)
    assert {(entry.kind, entry.title) for entry in seen} == {
        ("delivery", "Shared CSAT"),
        ("response", "Shared CSAT"),
    }
    everything = touchpoints.timeline(organization, contact, viewer=owner)
    assert {entry.title for entry in everything} == {"Shared CSAT", "Private NPS"}
