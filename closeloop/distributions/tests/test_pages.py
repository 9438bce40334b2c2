"""Distributions pages, each read path tried from two organizations."""

from __future__ import annotations

import csv
import io

import pytest
from django.core import mail

from closeloop.distributions import actions
from closeloop.distributions.models import Distribution
from closeloop.distributions.tests.conftest import make_list
from closeloop.distributions.tests.helpers import run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_a(org_a, survey_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 3)
    from closeloop.directory import actions as directory_actions

    directory_actions.unsubscribe_contact(contacts[2])
    distribution = actions.create_distribution(
        organization,
        survey_a,
        owner=user,
        mailing_list=mailing_list,
        subject="Acme asks",
        text_body="${l://SurveyURL}",
    )
    run_jobs()
    return distribution


@pytest.fixture
def client_a(client, org_a):
    client.force_login(org_a[1])
    return client


@pytest.fixture
def client_b(client, org_b):
    client.force_login(org_b[1])
    return client


def test_the_list_shows_stats_and_a_funnel(client_a, sent_a):
    page = client_a.get("/distributions/").content.decode()
    assert "Acme asks" in page and 'class="bar-fill"' in page
    survey_tab = client_a.get(f"/distributions/survey/{sent_a.survey.public_id}/")
    assert "Acme asks" in survey_tab.content.decode()


def test_the_detail_shows_the_history_with_reasons(client_a, sent_a):
    page = client_a.get(f"/distributions/{sent_a.public_id}/").content.decode()
    assert page.count(">Success<") == 2
    assert "Opted out: the contact is unsubscribed from the directory." in page


def test_the_history_csv(client_a, sent_a):
    response = client_a.get(f"/distributions/{sent_a.public_id}/history.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(row["status"] for row in rows) == ["Skipped", "Success", "Success"]
    assert all(row["distributionId"] == sent_a.public_id for row in rows)


def test_another_organization_sees_none_of_it(client_b, sent_a):
    assert "Acme asks" not in client_b.get("/distributions/").content.decode()
    assert client_b.get(f"/distributions/{sent_a.public_id}/").status_code == 404
    assert client_b.get(f"/distributions/{sent_a.public_id}/history.csv").status_code == 404
    survey_tab = client_b.get(f"/distributions/survey/{sent_a.survey.public_id}/")
    assert survey_tab.status_code == 404


def test_create_from_the_form(client_a, org_a, survey_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mailing_list, _ = make_list(org_a[0], 2)
    form = {
        "survey": survey_a.public_id,
        "mailing_list": mailing_list.public_id,
        "subject": "Hi ${m://FirstName}",
        "text_body": "${l://SurveyLink?d=Go}",
        "when": "now",
    }
    bad = client_a.post("/distributions/new/", {**form, "reply_to": "nope@"})
    assert "reply-to address" in bad.content.decode()
    assert not Distribution.objects.exists()
    response = client_a.post("/distributions/new/", form)
    distribution = Distribution.objects.get()
    assert response.url == f"/distributions/{distribution.public_id}/"
    run_jobs()
    assert sorted(m.subject for m in mail.outbox) == ["Hi Person0", "Hi Person1"]


def test_domains_page_shows_the_record_to_publish(client_a, client, org_a, org_b):
    client_a.post("/distributions/domains/", {"domain": "mail.acme.test"})
    page = client_a.get("/distributions/domains/").content.decode()
    domain = actions.add_domain(org_a[0], "mail.acme.test")
    assert domain.record_name in page and domain.record_value in page
    client.force_login(org_b[1])
    assert "mail.acme.test" not in client.get("/distributions/domains/").content.decode()
    assert client.post(f"/distributions/domains/{domain.pk}/check/").status_code == 404
