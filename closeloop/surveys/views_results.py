"""Results: per-question summaries, the response table with filters, exports, one response."""

from __future__ import annotations

from datetime import date

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from closeloop.accounts import audit
from closeloop.surveys import definition as schema
from closeloop.surveys import exports, logic, queries
from closeloop.surveys import results as summaries
from closeloop.surveys.models import Survey
from closeloop.surveys.permission_rules import Permission
from closeloop.surveys.views import with_survey

PAGE_SIZE = 50
STATUSES = {
    "": "Recorded (finished and partial)",
    "finished": "Finished",
    "partial": "Partial",
    "in_progress": "In progress",
    "all": "All",
}


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def filters_from(request: HttpRequest) -> queries.ResponseFilter:
    get = request.GET
    status = get.get("status", "")
    return queries.ResponseFilter(
        status=status if status in STATUSES else "",
        since=_date(get.get("since", "")),
        until=_date(get.get("until", "")),
        search=get.get("q", "").strip()[:200],
        embedded_name=get.get("field", "")[:200],
        embedded_value=get.get("value", "")[:1000],
    )


def filtered(survey: Survey, filters: queries.ResponseFilter):
    responses = queries.responses_of(survey, filters)
    if filters.status == "":
        responses = responses.filter(finished_at__isnull=False)
    return responses


@with_survey(Permission.VIEW_RESULTS)
def results(request: HttpRequest, survey: Survey) -> HttpResponse:
    filters = filters_from(request)
    responses = filtered(survey, filters)
    definition = exports.definition_for(survey)
    summary = summaries.summarize(
        definition, responses.values_list("answers", flat=True).iterator(chunk_size=2000)
    )
    page = Paginator(responses, PAGE_SIZE).get_page(request.GET.get("page"))
    questions = list(schema.questions(definition))[:4]
    # The response table is individual answers: only with View and export responses.
    may_see_responses = request.survey_access.allows(Permission.VIEW_RESPONSES)
    rows = [
        {
            "response": response,
            "cells": [logic.answer_text(q, response.answers.get(q["id"])) for q in questions],
        }
        for response in (page if may_see_responses else ())
    ]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "survey": survey,
        "active": "surveys",
        "tab": "results",
        "summary": summary,
        "page": page,
        "rows": rows,
        "columns": questions,
        "statuses": STATUSES,
        "filters": filters,
        "raw": request.GET,
        "embedded_names": schema.embedded_names(definition),
        "query": query.urlencode(),
        "may_see_responses": may_see_responses,
        "responses_why_not": request.survey_access.why_not(Permission.VIEW_RESPONSES),
    }
    return render(request, "surveys/results.html", context)


@with_survey(Permission.VIEW_RESPONSES)
def export(request: HttpRequest, survey: Survey, fmt: str) -> HttpResponse:
    if fmt not in ("csv", "json"):
        raise Http404("Unknown export format")
    responses = filtered(survey, filters_from(request)).order_by("started_at", "id")
    if fmt == "csv":
        body = "\ufeff" + exports.to_csv(survey, responses.iterator(chunk_size=2000))
        content_type = "text/csv; charset=utf-8"
    else:
        body = exports.to_json(survey, responses.iterator(chunk_size=2000))
        content_type = "application/json"
    audit.record(
        survey.organization,
        request.user,
        "export.downloaded",
        target=survey,
        summary=f"Responses of {survey.name} ({fmt.upper()})",
        format=fmt,
    )
    response = HttpResponse(body, content_type=content_type)
    name = exports.filename(survey)
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@with_survey(Permission.VIEW_RESPONSES)
def response_detail(request: HttpRequest, survey: Survey, response_id: str) -> HttpResponse:
    response = queries.response_of(survey, response_id)
    if response is None:
        raise Http404("No such response")
    definition = response.version.definition
    answers = [
        {
            "question": question,
            "text": logic.answer_text(question, response.answers.get(question["id"])),
        }
        for question in schema.questions(definition)
    ]
    context = {
        "survey": survey,
        "response": response,
        "answers": answers,
        "active": "surveys",
        "tab": "results",
    }
    return render(request, "surveys/response.html", context)
