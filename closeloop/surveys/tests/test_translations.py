"""The builder's Translations tab: languages, side-by-side texts, untranslated texts, and the
respondent page in the contact's language after publishing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from closeloop.surveys import actions, editing
from closeloop.surveys.definition import DefinitionError
from closeloop.surveys.models import Survey
from closeloop.surveys.tests.conftest import make_contact, make_survey
from closeloop.surveys.tests.sample import sample

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def url(name, survey):
    return reverse(f"surveys:{name}", args=[survey.public_id])


def test_translatable_texts_list_every_text_with_its_translation():
    texts = {text.key: text for text in editing.translatable_texts(sample(), "FR")}
    assert texts["title"].original == "How did we do?"
    assert texts["QID1.lowLabel"].original == "Not at all likely"
    assert texts["QID2.choices.3"].original == "Other"
    assert texts["QID4.rows.2"].original == "Quick"
    assert texts["QID4.columns.1"].original == "Disagree"
    assert texts["end"].long and texts["QID1.text"].long
    translated = {key: text.translated for key, text in texts.items() if text.translated}
    assert translated == {"QID1.text": "Recommanderiez-vous ${e://Field/Store} ?"}
    keys = list(texts)
    assert keys[0] == "title" and keys[-1] == "end"


def test_set_translations_keeps_one_definition_format_and_drops_blanks():
    definition = editing.set_translations(
        sample(),
        "ES",
        {
            "title": "¿Qué tal lo hicimos?",
            "QID1.text": "¿Nos recomendaría?",
            "QID2.choices.3": "Otro",
            "QID4.rows.1": "Amable",
            "end": "¡Gracias ${m://FirstName}!",
            "QID1.lowLabel": "  ",
            "QID99.text": "ignored: not a text of the survey",
        },
    )
    assert definition["translations"]["ES"] == {
        "title": "¿Qué tal lo hicimos?",
        "end": "¡Gracias ${m://FirstName}!",
        "QID1": {"text": "¿Nos recomendaría?"},
        "QID2": {"choices": {"3": "Otro"}},
        "QID4": {"rows": {"1": "Amable"}},
    }
    assert "ES" not in editing.set_translations(definition, "ES", {})["translations"]


def test_languages_are_added_and_removed_through_actions(org_a):
    survey = make_survey(*org_a, publish=False)
    actions.add_language(survey, "es")
    assert survey.languages == ["EN", "FR", "ES"]
    with pytest.raises(DefinitionError):
        actions.add_language(survey, "ES")
    with pytest.raises(DefinitionError):
        actions.add_language(survey, "<script>")
    with pytest.raises(DefinitionError):
        actions.remove_language(survey, "EN")  # the default
    actions.remove_language(survey, "FR")
    survey.refresh_from_db()
    assert survey.languages == ["EN", "ES"] and "FR" not in survey.definition["translations"]


def test_translations_tab_side_by_side_with_htmx(logged_in_a, org_a):
    survey = make_survey(*org_a, publish=False)
    page = logged_in_a.get(url("translations", survey))
    html = page.content.decode()
    assert page.status_code == 200 and 'aria-current="page">Translations' in html
    assert "French" in html and "untranslated" in html
    added = logged_in_a.post(url("languages", survey), {"op": "add", "code": "es"}, **HX)
    html = added.content.decode()
    assert added["HX-Trigger"] == "survey-changed"
    assert "Spanish" in html and 'name="t:QID1.text"' in html
    survey.refresh_from_db()
    assert survey.languages == ["EN", "FR", "ES"] and survey.has_unpublished_changes

    editor = logged_in_a.get(url("translations", survey) + "?language=ES", **HX).content.decode()
    assert editor.lstrip().startswith('<section class="panel" id="translation-editor"')
    total = editor.count('class="untranslated"')
    saved = logged_in_a.post(
        url("translations", survey) + "?language=ES",
        {"t:QID1.text": "${m://FirstName}, ¿nos recomendaría?", "t:QID2.choices.1": "Rapidez"},
        **HX,
    )
    html = saved.content.decode()
    assert "Saved." in html and f"{total - 2} of {total} texts untranslated" in html
    survey.refresh_from_db()
    assert survey.definition["translations"]["ES"] == {
        "QID1": {"text": "${m://FirstName}, ¿nos recomendaría?"},
        "QID2": {"choices": {"1": "Rapidez"}},
    }


def test_too_long_translation_is_refused_and_kept_on_screen(logged_in_a, org_a):
    survey = make_survey(*org_a, publish=False)
    before = Survey.objects.get(pk=survey.pk).definition
    page = logged_in_a.post(
        url("translations", survey) + "?language=FR", {"t:title": "x" * 6000}, **HX
    )
    html = page.content.decode()
    assert 'role="alert"' in html and "x" * 6000 in html
    assert Survey.objects.get(pk=survey.pk).definition == before


def test_another_organizations_survey_is_not_found(logged_in_a, org_b):
    other = make_survey(*org_b, publish=False)
    assert logged_in_a.get(url("translations", other)).status_code == 404
    assert logged_in_a.post(url("languages", other), {"op": "add", "code": "ES"}).status_code == 404
    assert Survey.objects.get(pk=other.pk).languages == ["EN", "FR"]


def test_builder_to_spanish_page_for_a_spanish_contact(logged_in_a, client, org_a):
    survey = make_survey(*org_a, publish=False)
    logged_in_a.post(url("languages", survey), {"op": "add", "code": "ES"}, **HX)
    logged_in_a.post(
        url("translations", survey) + "?language=ES",
        {"t:QID1.text": "${m://FirstName}, ¿nos recomendaría ${e://Field/Store}?"},
        **HX,
    )
    logged_in_a.post(url("publish", survey), **HX)
    survey.refresh_from_db()
    contact = make_contact(org_a[0], email="ana@example.com", language="es", firstName="Ana")
    _link, link_url = actions.create_link(survey, contact)
    client.logout()
    html = client.get(link_url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])).content.decode()
    assert 'lang="es"' in html
    assert "Ana, ¿nos recomendaría Oslo?" in html


def test_every_builder_screen_is_linked_from_the_survey(logged_in_a, org_a):
    survey = make_survey(*org_a)
    for page in ("edit", "translations", "results"):
        html = logged_in_a.get(url(page, survey)).content.decode()
        for screen in ("edit", "translations", "results"):
            assert f'href="{url(screen, survey)}"' in html, (page, screen)
    edit = logged_in_a.get(url("edit", survey)).content.decode()
    for screen in ("preview", "flow", "options"):
        assert f'href="{url(screen, survey)}"' in edit, screen
    assert f'href="{reverse("distributions:survey", args=[survey.public_id])}"' in edit
