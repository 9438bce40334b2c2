"""Publishing, require_active, partial responses closing, the ledger jobs, and exports."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from closeloop.jobs import schedule
from closeloop.jobs.models import Job, JobStatus
from closeloop.jobs.registry import handler_for
from closeloop.jobs.worker import Worker
from closeloop.surveys import actions, exports
from closeloop.surveys import jobs as survey_jobs  # noqa: F401 - registers the handlers
from closeloop.surveys.definition import DefinitionError
from closeloop.surveys.models import ExportStatus, Response, SurveyStatus
from closeloop.surveys.tests.conftest import make_contact, make_survey
from closeloop.surveys.tests.sample import sample

pytestmark = pytest.mark.django_db


def answer_all(survey, contact=None, *, nps=10, store_text="fine"):
    """A finished response through the actions, as the respondent pages make it."""
    link = None
    if contact is not None:
        link, _ = actions.create_link(survey, contact)
        response = actions.start_link_response(link)
    else:
        response = actions.start_response(survey, survey.current_version)
    pages = [
        {"QID1": [str(nps)]},
        {"QID2": ["2", "3"], "QID2_TEXT_3": [store_text]},
        {"QID3": ["4"], "QID4_ROW_1": ["1"], "QID4_ROW_2": ["3"]},
        {"QID5": ["a@b.co"], "QID6": [store_text]},
    ]
    for _ in range(6):
        response.refresh_from_db()
        if response.finished_at is not None:
            break
        data = pages[response.last_page]
        actions.submit_page(response, response.last_page, lambda name, d=data: d.get(name, []))
    response.refresh_from_db()
    return response


def test_publish_freezes_versions(org_a):
    organization, user = org_a
    survey = make_survey(organization, user, publish=False)
    assert survey.status == SurveyStatus.DRAFT and survey.has_unpublished_changes
    first = actions.publish(survey, user)
    assert first.number == 1 and survey.status == SurveyStatus.ACTIVE
    assert survey.current_version == first and not survey.has_unpublished_changes

    changed = sample()
    changed["title"] = "Changed"
    actions.save_definition(survey, changed)
    survey.refresh_from_db()
    assert survey.has_unpublished_changes
    assert survey.current_version.definition["title"] == "How did we do?"
    second = actions.publish(survey, user)
    assert second.number == 2 and second.definition["title"] == "Changed"
    first.refresh_from_db()
    assert first.definition["title"] == "How did we do?"


def test_publish_refuses_invalid_or_empty_definitions(org_a):
    organization, user = org_a
    empty = actions.create_survey(organization, user, "Empty")
    with pytest.raises(DefinitionError, match="at least one question"):
        actions.publish(empty)
    with pytest.raises(DefinitionError):
        actions.save_definition(empty, {"blocks": []})
    with pytest.raises(DefinitionError, match="name"):
        actions.create_survey(organization, user, "   ")


def test_require_active_messages(org_a):
    organization, user = org_a
    survey = make_survey(organization, user, publish=False)
    with pytest.raises(actions.SurveyNotActive) as error:
        actions.require_active(survey)
    assert str(error.value) == f"Survey {survey.public_id} is not active: publish it first."
    version = actions.publish(survey)
    assert actions.require_active(survey) == version
    actions.close_survey(survey)
    with pytest.raises(actions.SurveyNotActive, match="is closed"):
        actions.require_active(survey)
    actions.reopen_survey(survey)
    assert actions.require_active(survey) == version


def test_links_refuse_contacts_of_another_organization(survey_a, org_b):
    with pytest.raises(ValueError, match="another organization"):
        actions.create_link(survey_a, make_contact(org_b[0]))


def test_partial_responses_close_after_inactivity(survey_a, contact_a):
    link, _ = actions.create_link(survey_a, contact_a)
    response = actions.start_link_response(link)
    actions.submit_page(response, 0, lambda name: ["9"] if name == "QID1" else [])
    fresh = actions.start_response(survey_a, survey_a.current_version)
    assert actions.close_stale_responses() == 0

    week_later = timezone.now() + timedelta(hours=7 * 24, minutes=1)
    Response.objects.filter(pk=fresh.pk).update(last_activity_at=week_later)
    assert actions.close_stale_responses(now=week_later) == 1
    response.refresh_from_db()
    assert response.status == "partial" and not response.finished
    assert response.answers == {"QID1": 9} and response.finished_at == week_later
    fresh.refresh_from_db()
    assert fresh.status == "in_progress"
    job = Job.objects.get(kind="surveys.response_finished")
    assert job.payload["finished"] is False
    link.refresh_from_db()
    assert link.used_at is None


def test_partial_close_respects_each_surveys_setting(org_a):
    short = make_survey(*org_a, name="Short")
    actions.update_settings(short, partial_close_hours=1)
    long = make_survey(*org_a, name="Long")
    quick = actions.start_response(short, short.current_version)
    slow = actions.start_response(long, long.current_version)
    later = timezone.now() + timedelta(hours=2)
    assert actions.close_stale_responses(now=later) == 1
    quick.refresh_from_db()
    slow.refresh_from_db()
    assert quick.status == "partial" and slow.status == "in_progress"


def test_partial_close_is_a_recurring_job(survey_a):
    names = {entry.name: entry for entry in schedule.recurring_jobs()}
    assert names["surveys.close_partial_responses"].every == timedelta(minutes=15)
    response = actions.start_response(survey_a, survey_a.current_version)
    Response.objects.filter(pk=response.pk).update(
        last_activity_at=timezone.now() - timedelta(days=8)
    )
    schedule.tick()
    Worker().run_once()
    job = Job.objects.get(kind="surveys.close_partial_responses")
    assert job.status == JobStatus.SUCCEEDED
    response.refresh_from_db()
    assert response.status == "partial"


def test_response_finished_job_runs_once_per_response(survey_a, contact_a, monkeypatch):
    from closeloop.workflows import actions as workflow_actions

    started = []
    monkeypatch.setattr(workflow_actions, "survey_response_finished", started.append)
    response = answer_all(survey_a, contact_a)
    assert response.finished
    assert handler_for("surveys.response_finished") is not None
    job = Job.objects.get(kind="surveys.response_finished")
    Worker().run_once()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert [r.public_id for r in started] == [response.public_id]  # the survey response event
    # Recording again (it cannot happen, but the key guarantees it) adds nothing.
    actions.record_response(response, timezone.now(), finished=True)
    assert Job.objects.filter(kind="surveys.response_finished").count() == 1


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_export(survey_a, contact_a):
    answer_all(survey_a, contact_a, nps=3, store_text='=HYPERLINK("http://evil")')
    actions.start_response(survey_a, survey_a.current_version)  # in progress: not exported
    rows = read_csv(exports.to_csv(survey_a, survey_a.responses.filter(finished=True)))
    header, labels, row = rows[0], rows[1], rows[2]
    assert len(rows) == 3
    assert header[:3] == ["ResponseId", "StartDate", "EndDate"]
    for column in ("QID1", "QID2", "QID2_3_TEXT", "QID4_1", "QID4_2", "QID5", "QID6", "Store"):
        assert column in header
    values = dict(zip(header, row, strict=True))
    assert values["QID1"] == "3"
    assert values["QID2"] == "Price,Other"
    assert values["QID2_3_TEXT"] == '\'=HYPERLINK("http://evil")'  # no formula
    assert values["QID4_1"] == "Disagree" and values["QID4_2"] == "Agree"
    assert values["Store"] == "Oslo"
    assert values["RecipientEmail"] == "ann@example.com"
    assert values["Finished"] == "True" and values["Status"] == "finished"
    assert dict(zip(header, labels, strict=True))["QID4_1"] == "How much do you agree? - Friendly"


def test_json_export(survey_a, contact_a):
    response = answer_all(survey_a, contact_a, nps=5)
    body = json.loads(exports.to_json(survey_a, [response]))
    [item] = body["responses"]
    assert item["responseId"] == response.public_id
    assert item["values"]["QID1"] == 5
    assert item["values"]["QID2"] == {"choices": ["2", "3"], "text": {"3": "fine"}}
    assert item["labels"]["QID2"] == "Price, Other: fine"
    assert item["embeddedData"] == {"Store": "Oslo"}
    assert item["values"]["contactId"] == contact_a.public_id


def test_export_job_builds_a_zip(survey_a, contact_a, org_a):
    answer_all(survey_a, contact_a)
    export = actions.request_export(survey_a, org_a[1], format="csv")
    assert export.status == ExportStatus.IN_PROGRESS
    Worker().run_once()
    export.refresh_from_db()
    assert export.status == ExportStatus.COMPLETE and export.percent_complete == 100.0
    archive = zipfile.ZipFile(io.BytesIO(bytes(export.content)))
    [name] = archive.namelist()
    assert name == "Customer feedback.csv"
    text = archive.read(name).decode("utf-8-sig")
    assert len(read_csv(text)) == 3
    with pytest.raises(ValueError):
        actions.request_export(survey_a, format="xlsx")


def test_deleting_a_survey_deletes_its_versions_links_and_responses(survey_a, contact_a):
    answer_all(survey_a, contact_a)
    actions.request_export(survey_a)
    actions.delete_survey(survey_a)
    assert Response.objects.count() == 0
    assert not type(survey_a).objects.filter(pk=survey_a.pk).exists()
