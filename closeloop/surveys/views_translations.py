"""The builder's Translations tab: the survey's languages, and every text of the draft next
to its translation in one language. Saved into the definition's `translations` (the same
format as the JSON API); respondents see them once the survey is published again."""

from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language_info
from django.views.decorators.http import require_POST

from closeloop.surveys import actions, editing
from closeloop.surveys.definition import DefinitionError
from closeloop.surveys.models import Survey
from closeloop.surveys.permission_rules import Permission
from closeloop.surveys.views import with_survey

TEXT_FIELD_PREFIX = "t:"


def language_name(code: str) -> str:
    try:
        return get_language_info(code.lower())["name"]
    except KeyError:
        return code


def _chosen_language(survey: Survey, requested: str) -> str:
    others = survey.languages[1:]
    requested = (requested or "").upper()
    return requested if requested in others else (others[0] if others else "")


def _context(survey: Survey, language: str, *, typed: dict | None = None, **extra) -> dict:
    texts = editing.translatable_texts(survey.definition, language) if language else []
    if typed is not None:  # show what was typed again next to the problems
        texts = [replace(text, translated=typed.get(text.key, "")) for text in texts]
    return {
        "survey": survey,
        "active": "surveys",
        "tab": "translations",
        "language": language,
        "language_label": language_name(language) if language else "",
        "default_language": survey.default_language,
        "default_label": language_name(survey.default_language),
        "languages": [(code, language_name(code)) for code in survey.languages[1:]],
        "texts": texts,
        "untranslated": sum(1 for text in texts if not text.translated),
        "prefix": TEXT_FIELD_PREFIX,
        **extra,
    }


def _url(survey: Survey, language: str = "") -> str:
    url = reverse("surveys:translations", args=[survey.public_id])
    return f"{url}?language={language}" if language else url


@with_survey(Permission.EDIT)
def translations(request: HttpRequest, survey: Survey) -> HttpResponse:
    """GET: the tab (with HTMX, only the editor of ?language=). POST: save that language."""
    language = _chosen_language(survey, request.GET.get("language", ""))
    if request.method == "POST" and language:
        values = {
            key[len(TEXT_FIELD_PREFIX) :]: value
            for key, value in request.POST.items()
            if key.startswith(TEXT_FIELD_PREFIX)
        }
        try:
            actions.save_translations(survey, language, values)
        except DefinitionError as error:
            context = _context(survey, language, problems=error.problems, typed=values)
            return render(request, "surveys/translations.html#editor", context, status=200)
        if not request.htmx:
            messages.success(request, f"{language_name(language)} translations saved.")
            return redirect(_url(survey, language))
        context = _context(survey, language, saved=True)
        response = render(request, "surveys/translations.html#editor", context)
        response["HX-Trigger"] = "survey-changed"
        return response
    if request.htmx and request.GET.get("language"):
        return render(request, "surveys/translations.html#editor", _context(survey, language))
    return render(request, "surveys/translations.html", _context(survey, language))


@require_POST
@with_survey(Permission.EDIT)
def languages(request: HttpRequest, survey: Survey) -> HttpResponse:
    """op=add with `code`, or op=remove:<code>. The editor then shows the changed language."""
    operation = request.POST.get("op", "")
    language = ""
    try:
        if operation == "add":
            actions.add_language(survey, request.POST.get("code", ""))
            language = survey.languages[-1]
        elif operation.startswith("remove:"):
            actions.remove_language(survey, operation[7:])
        else:
            return HttpResponse("Unknown operation", status=400)
        problems: list[str] = []
    except DefinitionError as error:
        problems = error.problems
        survey.refresh_from_db()
    if not request.htmx:
        for problem in problems:
            messages.error(request, problem)
        return redirect(_url(survey, language))
    context = _context(survey, _chosen_language(survey, language), language_problems=problems)
    response = render(request, "surveys/translations.html#tab", context)
    if not problems:
        response["HX-Trigger"] = "survey-changed"
    return response
