"""The builder at /surveys/: list, create, HTMX edits, flow, options, publish, preview."""

from __future__ import annotations

import pytest
from django.urls import reverse

from closeloop.surveys import definition as schema
from closeloop.surveys import editing
from closeloop.surveys.models import Response, Survey, SurveyStatus
from closeloop.surveys.tests.sample import sample

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def url(name, survey, *args):
    return reverse(f"surveys:{name}", args=[survey.public_id, *args])


def test_list_and_create(logged_in_a, survey_a):
    page = logged_in_a.get(reverse("surveys:list"))
    assert page.status_code == 200
    assert "Customer feedback" in page.content.decode()
    created = logged_in_a.post(reverse("surveys:create"), {"name": "Onboarding"})
    survey = Survey.objects.get(name="Onboarding")
    assert created["Location"] == url("edit", survey)
    assert survey.status == SurveyStatus.DRAFT and survey.owner.email == "owner@acme.test"
    assert logged_in_a.post(reverse("surveys:create"), {"name": ""}).status_code == 400


def test_builder_requires_login(client, survey_a):
    page = client.get(url("edit", survey_a))
    assert page.status_code == 302 and "/login" in page["Location"]


def test_add_every_question_type_with_htmx(logged_in_a, org_a):
    logged_in_a.post(reverse("surveys:create"), {"name": "Types"})
    survey = Survey.objects.get(name="Types")
    for qtype in schema.QUESTION_TYPES:
        page = logged_in_a.post(url("add-question", survey), {"type": qtype}, **HX)
        assert page.status_code == 200
        assert page.content.decode().lstrip().startswith('<div id="questions">')
    survey.refresh_from_db()
    assert [q["type"] for q in schema.questions(survey.definition)] == list(schema.QUESTION_TYPES)
    assert [q["id"] for q in schema.questions(survey.definition)] == [
        "QID1",
        "QID2",
        "QID3",
        "QID4",
        "QID5",
    ]
    page = logged_in_a.post(url("add-question", survey), {"type": "slider"}, **HX)
    assert "Unknown question type" in page.content.decode()


def test_question_ids_are_never_reused(org_a):
    definition = schema.new_definition()
    definition, first = editing.add_question(definition, "nps")
    definition, second = editing.add_question(definition, "nps")
    definition = editing.delete_question(definition, second)
    definition, third = editing.add_question(definition, "nps")
    assert (first, second, third) == ("QID1", "QID2", "QID3")


def test_edit_a_multiple_choice_question(logged_in_a, org_a):
    logged_in_a.post(reverse("surveys:create"), {"name": "Edit"})
    survey = Survey.objects.get(name="Edit")
    logged_in_a.post(url("add-question", survey), {"type": "mc"}, **HX)
    editor = logged_in_a.get(url("question", survey, "QID1"), **HX).content.decode()
    assert 'name="choice_text_1"' in editor and "<legend>Display logic</legend>" in editor

    form = {
        "text": "Which colour?",
        "required": "on",
        "multiple": "on",
        "choice_id": ["1", "2"],
        "choice_text_1": "Red",
        "choice_recode_1": "10",
        "choice_text_2": "Other",
        "choice_recode_2": "99",
        "choice_other_2": "on",
    }
    added = logged_in_a.post(url("question", survey, "QID1"), {**form, "op": "add_choices"}, **HX)
    assert 'name="choice_text_3"' in added.content.decode()  # the editor stays open
    survey.refresh_from_db()
    question = schema.question_map(survey.definition)["QID1"]
    assert [c["text"] for c in question["choices"]] == ["Red", "Other", "Option 3"]
    assert question["multiple"] and question["required"]
    assert question["choices"][1]["textEntry"] is True

    form = {**form, "choice_id": ["1", "2", "3"], "choice_text_3": "Blue", "choice_recode_3": "3"}
    removed = logged_in_a.post(
        url("question", survey, "QID1"), {**form, "op": "delete_choices:1"}, **HX
    )
    assert 'name="choice_text_1"' not in removed.content.decode()
    saved = logged_in_a.post(
        url("question", survey, "QID1"), {**form, "choice_id": ["2", "3"]}, **HX
    )
    assert saved["HX-Trigger"] == "survey-changed"
    assert 'class="panel question-card"' in saved.content.decode()
    survey.refresh_from_db()
    question = schema.question_map(survey.definition)["QID1"]
    assert [c["text"] for c in question["choices"]] == ["Other", "Blue"]


def test_editor_shows_problems_and_keeps_what_was_typed(logged_in_a, org_a):
    logged_in_a.post(reverse("surveys:create"), {"name": "Problems"})
    survey = Survey.objects.get(name="Problems")
    logged_in_a.post(url("add-question", survey), {"type": "text"}, **HX)
    page = logged_in_a.post(
        url("question", survey, "QID1"),
        {"text": "Hi ${e://Field/Store}", "validation": "email"},
        **HX,
    )
    html = page.content.decode()
    assert 'role="alert"' in html and "unknown piped text ${e://Field/Store}" in html
    assert "Hi ${e://Field/Store}" in html
    survey.refresh_from_db()
    assert schema.question_map(survey.definition)["QID1"]["text"] == "Tell us more."


def test_display_logic_from_the_editor(logged_in_a, org_a):
    logged_in_a.post(reverse("surveys:create"), {"name": "Logic"})
    survey = Survey.objects.get(name="Logic")
    logged_in_a.post(url("add-question", survey), {"type": "mc"}, **HX)
    logged_in_a.post(url("add-question", survey), {"type": "text"}, **HX)
    form = {
        "text": "Why?",
        "validation": "",
        "display_source": "QID1",
        "display_op": "selected",
        "display_value": "option 2",
    }
    logged_in_a.post(url("question", survey, "QID2"), form, **HX)
    survey.refresh_from_db()
    display = schema.question_map(survey.definition)["QID2"]["display"]
    assert display == {
        "conjunction": "and",
        "conditions": [{"question": "QID1", "op": "selected", "choice": "2"}],
    }
    page = logged_in_a.post(
        url("question", survey, "QID2"), {**form, "display_value": "nope"}, **HX
    )
    assert "is not a choice of QID1" in page.content.decode()


def _logic_survey(client):
    client.post(reverse("surveys:create"), {"name": "Several conditions"})
    survey = Survey.objects.get(name="Several conditions")
    client.post(
        url("flow", survey),
        {"field_name": ["Store"], "field_source": ["contact"], "field_value": [""]},
        **HX,
    )
    for qtype in ("mc", "matrix", "text"):
        client.post(url("add-question", survey), {"type": qtype}, **HX)
    return survey


def test_display_logic_with_several_conditions_joined_by_or(logged_in_a, org_a):
    survey = _logic_survey(logged_in_a)
    form = {
        "text": "Why?",
        "validation": "",
        "display_conjunction": "or",
        "display_source": ["QID1", "e:Store", "", "QID2"],
        "display_op": ["selected", "=", "=", "selected"],
        "display_value": ["option 2", "Oslo", "ignored", "Statement 2: agree"],
    }
    saved = logged_in_a.post(url("question", survey, "QID3"), form, **HX)
    assert saved["HX-Trigger"] == "survey-changed"
    survey.refresh_from_db()
    display = schema.question_map(survey.definition)["QID3"]["display"]
    assert display == {
        "conjunction": "or",
        "conditions": [
            {"question": "QID1", "op": "selected", "choice": "2"},
            {"embedded": "Store", "op": "=", "value": "Oslo"},
            {"question": "QID2", "op": "selected", "choice": "4", "row": "2"},
        ],
    }
    editor = logged_in_a.get(url("question", survey, "QID3")).content.decode()
    assert editor.count("<legend>Condition ") == 3
    assert 'value="Statement 2: Agree"' in editor
    assert '<option value="or" selected>' in editor


def test_adding_and_removing_conditions_keeps_the_editor_open(logged_in_a, org_a):
    survey = _logic_survey(logged_in_a)
    form = {
        "text": "Why?",
        "validation": "",
        "display_conjunction": "and",
        "display_source": ["e:Store"],
        "display_op": ["!="],
        "display_value": ["Oslo"],
    }
    added = logged_in_a.post(url("question", survey, "QID3"), {**form, "op": "add_condition"}, **HX)
    html = added.content.decode()
    assert "HX-Trigger" not in added and html.count("<legend>Condition ") == 2
    survey.refresh_from_db()  # the complete condition is saved, the blank one is not
    assert schema.question_map(survey.definition)["QID3"]["display"]["conditions"] == [
        {"embedded": "Store", "op": "!=", "value": "Oslo"}
    ]
    two = {
        **form,
        "display_source": ["e:Store", "QID1"],
        "display_op": ["!=", "not_empty"],
        "display_value": ["Oslo", ""],
    }
    logged_in_a.post(url("question", survey, "QID3"), two, **HX)
    survey.refresh_from_db()
    assert len(schema.question_map(survey.definition)["QID3"]["display"]["conditions"]) == 2
    removed = logged_in_a.post(
        url("question", survey, "QID3"), {**two, "op": "remove_condition:0"}, **HX
    )
    assert removed.content.decode().count("<legend>Condition ") == 1
    survey.refresh_from_db()
    assert schema.question_map(survey.definition)["QID3"]["display"] == {
        "conjunction": "and",
        "conditions": [{"question": "QID1", "op": "not_empty"}],
    }


def test_a_bad_condition_among_several_saves_nothing(logged_in_a, org_a):
    survey = _logic_survey(logged_in_a)
    form = {
        "text": "Why?",
        "validation": "",
        "display_source": ["e:Store", "QID1"],
        "display_op": ["=", "selected"],
        "display_value": ["Oslo", "not a choice"],
    }
    page = logged_in_a.post(url("question", survey, "QID3"), form, **HX)
    html = page.content.decode()
    assert "is not a choice of QID1" in html and 'value="not a choice"' in html
    survey.refresh_from_db()
    assert schema.question_map(survey.definition)["QID3"].get("display") is None


def test_move_and_delete_questions_and_page_breaks(logged_in_a, org_a):
    logged_in_a.post(reverse("surveys:create"), {"name": "Order"})
    survey = Survey.objects.get(name="Order")
    for qtype in ("nps", "text"):
        logged_in_a.post(url("add-question", survey), {"type": qtype}, **HX)
    logged_in_a.post(url("add-page-break", survey), **HX)
    logged_in_a.post(url("element", survey, "BL_1", 1), {"op": "up"}, **HX)
    survey.refresh_from_db()
    elements = survey.definition["blocks"][0]["elements"]
    assert [e.get("id", e["type"]) for e in elements] == ["QID2", "QID1", "page_break"]
    logged_in_a.post(url("element", survey, "BL_1", 2), {"op": "delete"}, **HX)
    logged_in_a.post(url("element", survey, "BL_1", 0), {"op": "delete"}, **HX)
    survey.refresh_from_db()
    assert [e.get("id") for e in survey.definition["blocks"][0]["elements"]] == ["QID1"]
    assert logged_in_a.post(url("element", survey, "BL_1", 0), {"op": "x"}).status_code == 400


def test_moving_a_question_above_its_display_logic_source_is_refused(logged_in_a, survey_a):
    logged_in_a.post(url("element", survey_a, "BL_1", 2), {"op": "up"}, **HX)  # above the break
    page = logged_in_a.post(url("element", survey_a, "BL_1", 1), {"op": "up"}, **HX)
    assert "not an earlier question" in page.content.decode()
    survey_a.refresh_from_db()
    assert [q["id"] for q in schema.questions(survey_a.definition)][:2] == ["QID1", "QID2"]


def test_deleting_a_question_drops_conditions_that_used_it():
    definition = editing.delete_question(sample(), "QID1")
    assert schema.question_map(definition)["QID2"]["display"] is None
    assert "QID1" not in definition["translations"]["FR"]


def test_survey_flow_embedded_data(logged_in_a, survey_a):
    page = logged_in_a.get(url("flow", survey_a), **HX).content.decode()
    assert 'value="Store"' in page
    form = {
        "field_name": ["Store", "Case Id"],
        "field_source": ["contact", "transaction"],
        "field_value": ["", ""],
    }
    added = logged_in_a.post(url("flow", survey_a), {**form, "op": "add"}, **HX)
    assert 'id="field-name-2"' in added.content.decode()
    saved = logged_in_a.post(url("flow", survey_a), {**form, "op": "save"}, **HX)
    assert "Survey flow saved." in saved.content.decode()
    survey_a.refresh_from_db()
    assert schema.embedded_fields(survey_a.definition) == [
        {"name": "Store", "source": "contact", "value": ""},
        {"name": "Case Id", "source": "transaction", "value": ""},
    ]
    assert survey_a.has_unpublished_changes
    bad = {**form, "field_source": ["contact", "cookie"]}
    page = logged_in_a.post(url("flow", survey_a), bad, **HX).content.decode()
    assert "source: must be one of" in page
    removed = {**form, "field_name": ["Shop", "Case Id"]}
    page = logged_in_a.post(url("flow", survey_a), removed, **HX).content.decode()
    assert "unknown piped text ${e://Field/Store}" in page  # questions still pipe Store


def test_options(logged_in_a, survey_a):
    form = {
        "title": "Tell us",
        "end_message": "Thanks ${m://FirstName}",
        "back_button": "on",
        "link_expiry_days": "30",
        "partial_close_hours": "48",
    }
    page = logged_in_a.post(url("options", survey_a), form, **HX)
    assert "Options saved." in page.content.decode()
    survey_a.refresh_from_db()
    assert survey_a.definition["title"] == "Tell us"
    assert survey_a.definition["options"] == {"backButton": True, "progressBar": False}
    assert survey_a.definition["end"]["message"] == "Thanks ${m://FirstName}"
    assert (survey_a.link_expiry_days, survey_a.partial_close_hours) == (30, 48)


def test_publish_close_reopen_with_htmx(logged_in_a, org_a):
    logged_in_a.post(reverse("surveys:create"), {"name": "Lifecycle"})
    survey = Survey.objects.get(name="Lifecycle")
    page = logged_in_a.post(url("publish", survey), **HX).content.decode()
    assert "Not published" in page and "at least one question" in page
    logged_in_a.post(url("add-question", survey), {"type": "nps"}, **HX)
    page = logged_in_a.post(url("publish", survey), **HX).content.decode()
    assert "Version 1 published" in page and "Active" in page
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.ACTIVE
    assert "Closed" in logged_in_a.post(url("close", survey), **HX).content.decode()
    assert "Active" in logged_in_a.post(url("reopen", survey), **HX).content.decode()
    html = logged_in_a.get(url("edit", survey)).content.decode()
    assert f"/jfe/form/{survey.public_id}" in html


def test_rename(logged_in_a, survey_a):
    page = logged_in_a.post(url("rename", survey_a), {"name": "Renamed"}, **HX)
    assert 'value="Renamed"' in page.content.decode()
    page = logged_in_a.post(url("rename", survey_a), {"name": ""}, **HX)
    assert "needs a name" in page.content.decode()
    survey_a.refresh_from_db()
    assert survey_a.name == "Renamed"


def test_delete_needs_the_name(logged_in_a, survey_a):
    logged_in_a.post(url("delete", survey_a), {"confirm": "nope"})
    assert Survey.objects.filter(pk=survey_a.pk).exists()
    logged_in_a.post(url("delete", survey_a), {"confirm": survey_a.name})
    assert not Survey.objects.filter(pk=survey_a.pk).exists()


def test_preview_runs_the_draft_without_saving(logged_in_a, survey_a):
    definition = sample()
    definition["blocks"][0]["elements"][0]["text"] = "Draft question for ${e://Field/Store}"
    survey_a.definition = definition
    survey_a.save()
    preview = url("preview", survey_a)
    page = logged_in_a.get(preview + "?Store=Oslo").content.decode()
    assert "Draft question for Oslo" in page and "Preview" in page
    assert logged_in_a.post(preview, {"page": 0, "QID1": "11"}).status_code == 200
    logged_in_a.post(preview, {"page": 0, "QID1": "10"})
    assert "Rate the staff" in logged_in_a.get(preview).content.decode()
    logged_in_a.post(preview, {"page": 2, "QID3": "5"})
    logged_in_a.post(preview, {"page": 3})
    assert "Thank you" in logged_in_a.get(preview).content.decode()
    assert Response.objects.count() == 0
    logged_in_a.post(preview, {"action": "restart"})
    assert "Draft question" in logged_in_a.get(preview).content.decode()


BUILDER_GETS = ["edit", "flow", "options", "preview", "results", "status"]
BUILDER_POSTS = [
    ("rename", {"name": "Stolen"}),
    ("add-question", {"type": "nps"}),
    ("add-page-break", {}),
    ("publish", {}),
    ("close", {}),
    ("reopen", {}),
    ("delete", {"confirm": "Globex feedback"}),
    ("flow", {"op": "save"}),
    ("options", {}),
]


def test_another_organizations_survey_is_404_everywhere(client, org_a, survey_b):
    client.force_login(org_a[1])
    for name in BUILDER_GETS:
        assert client.get(url(name, survey_b)).status_code == 404, name
    for name, data in BUILDER_POSTS:
        assert client.post(url(name, survey_b), data).status_code == 404, name
    assert client.get(url("question", survey_b, "QID1")).status_code == 404
    assert client.post(url("element", survey_b, "BL_1", 0), {"op": "delete"}).status_code == 404
    assert client.get(url("export", survey_b, "csv")).status_code == 404
    assert "Globex" not in client.get(reverse("surveys:list")).content.decode()
    survey_b.refresh_from_db()
    assert survey_b.name == "Globex feedback" and survey_b.status == SurveyStatus.ACTIVE
