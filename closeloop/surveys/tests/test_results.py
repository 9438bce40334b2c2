"""Results: summaries (NPS groups, means, choice counts), filters, exports, one response."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from closeloop.surveys import actions, results
from closeloop.surveys.tests.conftest import make_contact
from closeloop.surveys.tests.sample import sample
from closeloop.surveys.tests.test_lifecycle import answer_all

pytestmark = pytest.mark.django_db


def test_summaries():
    answers = [
        {"QID1": 10, "QID2": {"choices": ["1"]}, "QID3": 5, "QID4": {"1": "3"}, "QID5": "a"},
        {"QID1": 9, "QID3": 3, "QID4": {"1": "1", "2": "3"}},
        {"QID1": 7},
        {"QID1": 2, "QID2": {"choices": ["1", "2"]}, "QID6": "b"},
        {"QID99": 1},
    ]
    summary = {item["id"]: item for item in results.summarize(sample(), answers)}
    nps = summary["QID1"]
    assert nps["answered"] == 4 and nps["total"] == 5
    groups = {group["key"]: group["count"] for group in nps["groups"]}
    assert groups == {"promoter": 2, "passive": 1, "detractor": 1}
    assert nps["nps"] == 25  # 50% promoters - 25% detractors
    assert nps["mean"] == 7.0
    choices = {bar["label"]: bar["count"] for bar in summary["QID2"]["bars"]}
    assert choices == {"Speed": 2, "Price": 1, "Other": 0}
    assert summary["QID3"]["mean"] == 4.0
    friendly = summary["QID4"]["rows"][0]["bars"]
    assert [bar["count"] for bar in friendly] == [1, 0, 1]
    assert summary["QID5"]["latest"] == ["a"]


def test_summary_of_no_responses():
    summary = results.summarize(sample(), [])
    assert summary[0]["nps"] is None and summary[0]["mean"] is None


def test_results_page_and_filters(logged_in_a, survey_a, org_a):
    ann = make_contact(org_a[0], "ann@example.com")
    bo = make_contact(org_a[0], "bo@example.com", embedded={"Store": "Bergen"})
    first = answer_all(survey_a, ann, nps=10)
    second = answer_all(survey_a, bo, nps=3)
    in_progress = actions.start_response(survey_a, survey_a.current_version)
    results_url = reverse("surveys:results", args=[survey_a.public_id])
    html = logged_in_a.get(results_url).content.decode()
    assert first.public_id in html and second.public_id in html
    assert in_progress.public_id not in html
    assert "2 responses" in html and 'class="nps-score">0<' in html
    assert "bar-fill promoter" in html

    html = logged_in_a.get(results_url + "?status=in_progress").content.decode()
    assert in_progress.public_id in html and first.public_id not in html
    html = logged_in_a.get(results_url + "?q=bo@example.com").content.decode()
    assert second.public_id in html and first.public_id not in html
    html = logged_in_a.get(results_url + "?field=Store&value=Oslo").content.decode()
    assert first.public_id in html and second.public_id not in html
    html = logged_in_a.get(results_url + "?since=2999-01-01").content.decode()
    assert "No responses match." in html
    assert logged_in_a.get(results_url + "?since=garbage&status=bogus").status_code == 200


def test_exports_from_the_results_page(logged_in_a, survey_a, contact_a):
    response = answer_all(survey_a, contact_a, nps=3)
    base = reverse("surveys:export", args=[survey_a.public_id, "csv"])
    download = logged_in_a.get(base)
    assert download["Content-Disposition"] == 'attachment; filename="Customer feedback.csv"'
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[2][0] == response.public_id
    empty = logged_in_a.get(base + "?status=in_progress")
    assert len(list(csv.reader(io.StringIO(empty.content.decode("utf-8-sig"))))) == 2
    as_json = logged_in_a.get(reverse("surveys:export", args=[survey_a.public_id, "json"]))
    assert json.loads(as_json.content)["responses"][0]["responseId"] == response.public_id
    assert (
        logged_in_a.get(reverse("surveys:export", args=[survey_a.public_id, "xls"])).status_code
        == 404
    )


def test_response_detail(logged_in_a, survey_a, contact_a):
    response = answer_all(survey_a, contact_a, nps=3, store_text="<script>x</script>")
    page = logged_in_a.get(
        reverse("surveys:response", args=[survey_a.public_id, response.public_id])
    )
    html = page.content.decode()
    assert "Price, Other: &lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>x" not in html
    assert "Oslo" in html and contact_a.public_id in html


def test_other_organizations_responses_are_404(client, org_a, survey_a, survey_b, org_b):
    theirs = answer_all(survey_b, make_contact(org_b[0], "z@globex.test"))
    mine = answer_all(survey_a, make_contact(org_a[0]))
    client.force_login(org_a[1])
    assert client.get(reverse("surveys:results", args=[survey_b.public_id])).status_code == 404
    detail = reverse("surveys:response", args=[survey_a.public_id, theirs.public_id])
    assert client.get(detail).status_code == 404  # their response under my survey's URL
    html = client.get(reverse("surveys:results", args=[survey_a.public_id])).content.decode()
    assert mine.public_id in html and theirs.public_id not in html
    csv_text = client.get(reverse("surveys:export", args=[survey_a.public_id, "csv"])).content
    assert theirs.public_id.encode() not in csv_text
