"""Bad input to create_distribution: a clear error naming the rule, nothing written or sent."""

from __future__ import annotations

import pytest

from closeloop.directory import actions as directory_actions
from closeloop.distributions import actions
from closeloop.distributions.actions import DistributionError
from closeloop.distributions.models import Distribution, VerifiedDomain
from closeloop.distributions.tests.conftest import make_list, make_survey
from closeloop.jobs.models import Job

pytestmark = pytest.mark.django_db


def attempt(organization, survey, mailing_list, **kwargs):
    kwargs.setdefault("subject", "Hi")
    kwargs.setdefault("text_body", "${l://SurveyURL}")
    return actions.create_distribution(organization, survey, mailing_list=mailing_list, **kwargs)


def assert_nothing_written():
    assert Distribution.objects.count() == 0
    assert not Job.objects.filter(kind__startswith="distributions.").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"from_email": "news@unverified.example"}, "has not verified"),
        ({"from_email": "not an address"}, "is not a valid email address"),
        ({"reply_to": "nobody@"}, "reply-to address"),
        ({"subject": ""}, "needs a subject"),
        ({"text_body": "", "html_body": " "}, "message is empty"),
        ({"text_body": "${q://QID1/ChoiceGroup/SelectedChoices}"}, "cannot fill"),
        ({"link_type": "Forever"}, "link type"),
        ({"channel": "fax"}, "channel must be one of"),
    ],
)
def test_bad_input_names_the_rule_and_changes_nothing(org_a, survey_a, kwargs, message):
    organization, _user = org_a
    mailing_list, _ = make_list(organization, 2)
    with pytest.raises(DistributionError, match=message):
        attempt(organization, survey_a, mailing_list, **kwargs)
    assert_nothing_written()


def test_an_unpublished_survey_is_refused(org_a):
    organization, user = org_a
    draft = make_survey(organization, user, publish=False)
    mailing_list, _ = make_list(organization, 2)
    with pytest.raises(DistributionError, match="is not active: publish it first"):
        attempt(organization, draft, mailing_list)
    assert_nothing_written()


def test_an_empty_list_is_refused(org_a, survey_a):
    organization, _user = org_a
    directory = directory_actions.default_directory(organization)
    empty = directory_actions.create_mailing_list(directory, "Nobody")
    with pytest.raises(DistributionError, match="has no contacts"):
        attempt(organization, survey_a, empty)
    assert_nothing_written()


def test_no_recipients_is_refused(org_a, survey_a):
    organization, _user = org_a
    with pytest.raises(DistributionError, match="exactly one recipient"):
        attempt(organization, survey_a, None)
    assert_nothing_written()


def test_another_organizations_list_is_refused(org_a, org_b, survey_a):
    mailing_list_b, _ = make_list(org_b[0], 1)
    with pytest.raises(DistributionError, match="another organization"):
        attempt(org_a[0], survey_a, mailing_list_b)
    assert_nothing_written()


def test_a_verified_domain_and_the_default_sender_domain_are_allowed(org_a, survey_a, settings):
    settings.DEFAULT_FROM_EMAIL = "Closeloop <noreply@closeloop.example>"
    organization, _user = org_a
    mailing_list, _ = make_list(organization, 1)
    domain = actions.add_domain(organization, "Mail.Acme.TEST")
    assert domain.domain == "mail.acme.test"
    with pytest.raises(DistributionError, match="not verified"):
        attempt(organization, survey_a, mailing_list, from_email="cx@mail.acme.test")
    VerifiedDomain.objects.filter(pk=domain.pk).update(verified_at="2026-01-01T00:00Z")
    made = attempt(organization, survey_a, mailing_list, from_email="cx@mail.acme.test")
    assert made.from_email == "cx@mail.acme.test"
    default = actions.default_sender()[1]
    other = "surveys@" + default.rsplit("@", 1)[1]
    assert attempt(organization, survey_a, mailing_list, from_email=other).from_email == other


def test_a_domain_verified_by_another_organization_does_not_count(org_a, org_b, survey_a):
    domain = actions.add_domain(org_b[0], "acme.test")
    VerifiedDomain.objects.filter(pk=domain.pk).update(verified_at="2026-01-01T00:00Z")
    mailing_list, _ = make_list(org_a[0], 1)
    with pytest.raises(DistributionError, match="not verified"):
        attempt(org_a[0], survey_a, mailing_list, from_email="x@acme.test")
