"""Respondent pages under /jfe/: the anonymous link, individual links, thank-you pages.

No login. Individual links are looked up by the hash of their token; anonymous respondents
resume through a signed cookie naming their response. Nothing here stores an IP address.
"""

from __future__ import annotations

from functools import partial

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import get_template
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from closeloop.surveys import actions, logic, presenter, published, queries, ratelimit
from closeloop.surveys import definition as schema
from closeloop.surveys.models import Response, Survey, SurveyStatus, SurveyVersion

COOKIE_SALT = "closeloop.surveys.resume"
MAX_USER_AGENT = 300

MESSAGES = {
    "closed": (
        "This survey is closed",
        "This survey is not accepting responses at the moment. Thank you for your interest.",
        200,
    ),
    "expired": (
        "This link has expired",
        "The link you followed is no longer valid. If you still want to answer, please ask "
        "the sender for a new invitation.",
        410,
    ),
    "used": (
        "You have already taken this survey",
        "Your response was recorded. Each invitation link can be used once. Thank you!",
        200,
    ),
    "rate_limited": (
        "Please slow down",
        "We received too many requests from your connection. Wait a minute and try again.",
        429,
    ),
}


def message(request: HttpRequest, kind: str, *, title: str = "") -> HttpResponse:
    heading, body, status = MESSAGES[kind]
    context = {"heading": heading, "body": body, "title": title or heading, "language": "en"}
    return render(request, "surveys/respondent/message.html", context, status=status)


def _metadata(request: HttpRequest, channel: str) -> dict:
    return {
        "channel": channel,
        "userAgent": request.META.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT],
    }


def _language(version: SurveyVersion, requested: str, contact=None) -> str:
    return actions.choose_language(version, requested, contact)


def render_page(
    request: HttpRequest,
    *,
    version_definition: dict,
    language: str,
    version: SurveyVersion | None = None,
    page: int,
    answers: dict,
    embedded: dict,
    contact=None,
    errors: dict | None = None,
    values: dict | None = None,
    preview: bool = False,
    extra: dict | None = None,
) -> HttpResponse:
    if version is not None:
        definition = published.translated(version, language)
    else:
        definition = schema.translated(version_definition, language)
    view = presenter.page_view(
        definition,
        page,
        answers=answers,
        embedded=embedded,
        contact_fields=actions.contact_fields(contact),
        errors=errors,
        values=values,
    )
    if version is not None:
        _render_static_questions(view["questions"], version, language)
    context = {**view, "language": language.lower(), "preview": preview, **(extra or {})}
    return render(request, "surveys/respondent/page.html", context, status=200)


def _render_static_questions(questions: list[dict], version: SurveyVersion, language: str) -> None:
    """Fill `html` of the questions whose markup is the same for everyone (cached)."""
    template = get_template("surveys/respondent/_question.html")
    for question in questions:
        if question["static"]:
            render_once = partial(template.render, {"q": question})
            question["html"] = published.fragment(version, language, question["id"], render_once)


def render_end(request: HttpRequest, response: Response, *, preview: bool = False) -> HttpResponse:
    definition = published.translated(response.version, response.language)
    body = presenter.end_message(
        definition,
        answers=response.answers,
        embedded=response.embedded_data,
        contact_fields=actions.contact_fields(response.contact),
    )
    context = {
        "title": definition.get("title") or "Thank you",
        "heading": definition.get("title") or "Thank you",
        "body_html": body,
        "language": (response.language or "en").lower(),
        "preview": preview,
    }
    return render(request, "surveys/respondent/message.html", context)


def _render_response(request: HttpRequest, response: Response, step=None) -> HttpResponse:
    return render_page(
        request,
        version_definition=response.version.definition,
        version=response.version,
        language=response.language,
        page=response.last_page,
        answers=response.answers,
        embedded=response.embedded_data,
        contact=response.contact,
        errors=step.errors if step else None,
        values=step.values if step else None,
    )


def _submit(request: HttpRequest, response: Response, done_url: str) -> HttpResponse:
    try:
        page = int(request.POST.get("page", ""))
    except ValueError:
        page = -1
    back = request.POST.get("action") == "back"
    step = actions.submit_page(response, page, request.POST.getlist, back=back)
    if step.finished:
        return redirect(done_url)
    if step.errors:
        return _render_response(request, response, step)
    return redirect(request.get_full_path())


def _cookie_name(survey: Survey) -> str:
    return f"clr_{survey.public_id}"


# Anonymous link -----------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def anonymous(request: HttpRequest, survey_id: str) -> HttpResponse:
    if not ratelimit.hit(request, f"form:{survey_id}"):
        return message(request, "rate_limited")
    survey = queries.survey_for_respondents(survey_id)
    if survey is None:
        raise Http404("No such survey")
    if survey.status != SurveyStatus.ACTIVE:
        return message(request, "closed")
    cookie = _cookie_name(survey)
    response = None
    response_id = request.get_signed_cookie(cookie, default=None, salt=COOKIE_SALT)
    if response_id:
        response = queries.anonymous_response(survey, response_id)
        if response is not None and response.finished_at is not None:
            response = None
    version = response.version if response is not None else survey.current_version
    requested_language = request.GET.get("Q_Language", "")
    if request.method == "POST":
        if response is None:
            response = actions.start_response(
                survey,
                version,
                query=request.GET,
                language=_language(version, requested_language),
                metadata=_metadata(request, "anonymous"),
            )
        done = reverse("respondent:form-done", args=[survey.public_id])
        http = _submit(request, response, done)
        http.set_signed_cookie(
            cookie,
            response.public_id,
            salt=COOKIE_SALT,
            max_age=survey.partial_close_hours * 3600,
            path="/jfe/",
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
        return http
    if response is not None:
        return _render_response(request, response)
    embedded = actions.resolve_embedded_data(version.definition, query=request.GET)
    return render_page(
        request,
        version_definition=version.definition,
        version=version,
        language=_language(version, requested_language),
        page=logic.first_page(version.definition, {}, embedded),
        answers={},
        embedded=embedded,
    )


@never_cache
def anonymous_done(request: HttpRequest, survey_id: str) -> HttpResponse:
    survey = queries.survey_for_respondents(survey_id)
    if survey is None:
        raise Http404("No such survey")
    response_id = request.get_signed_cookie(_cookie_name(survey), default=None, salt=COOKIE_SALT)
    response = queries.anonymous_response(survey, response_id) if response_id else None
    if response is None or not response.finished:
        return redirect("respondent:form", survey.public_id)
    return render_end(request, response)


# Individual links ---------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def individual(request: HttpRequest, token: str) -> HttpResponse:
    if not ratelimit.hit(request, f"link:{token[:64]}"):
        return message(request, "rate_limited")
    visit = queries.link_visit(token)
    if visit is None:
        raise Http404("No such link")
    link, response = visit.link, visit.response
    if response is not None and response.finished_at is not None:
        return message(request, "used")
    if link.is_expired:
        actions.report_invitation_progress(link.delivery_id, "expired")
        return message(request, "expired")
    if link.survey.status != SurveyStatus.ACTIVE or visit.version is None:
        return message(request, "closed")
    if response is None:
        response = actions.start_link_response(
            link,
            language=request.GET.get("Q_Language", ""),
            metadata=_metadata(request, "individual"),
            version=visit.version,
        )
    if request.method == "POST":
        return _submit(request, response, reverse("respondent:link-done", args=[token]))
    return _render_response(request, response)


@never_cache
def individual_done(request: HttpRequest, token: str) -> HttpResponse:
    visit = queries.link_visit(token)
    if visit is None:
        raise Http404("No such link")
    response = visit.response
    if response is None or not response.finished:
        return redirect("respondent:link", token)
    return render_end(request, response)
