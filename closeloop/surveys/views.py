"""The survey builder at /surveys/: list, create, edit with HTMX partials, preview, publish.

Every view reads the survey through queries.survey_of(request.organization, …), so another
organization's survey is a 404, and asks closeloop.surveys.permissions for the permission it
needs (`@with_survey(Permission.EDIT)`). Without HTMX every form still works (full page
redirects).
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from closeloop.accounts.views import organization_required
from closeloop.api.errors import NotFound
from closeloop.surveys import actions, editing, forms, logic, permissions, presenter, queries
from closeloop.surveys import definition as schema
from closeloop.surveys.definition import DefinitionError
from closeloop.surveys.models import Survey
from closeloop.surveys.permission_rules import Permission
from closeloop.surveys.views_respondent import render_page


def with_survey(permission: Permission | None):
    """organization_required, then the survey of the URL in the user's organization, if the
    user may do `permission` with it (None: seeing it is enough). Not seen: 404; seen but not
    permitted: NotPermitted, a 403 page with the reason. The view finds the user's access in
    request.survey_access."""

    def decorate(view):
        @organization_required
        @wraps(view)
        def wrapper(request: HttpRequest, survey_id: str, *args, **kwargs):
            survey = queries.survey_of(request.organization, survey_id)
            if permission is None:
                found = permissions.access(survey, request.user) if survey else None
                if found is None or not found.visible:
                    raise NotFound("No such survey.")
            else:
                found = permissions.require(survey, request.user, permission)
            request.survey_access = found
            return view(request, survey, *args, **kwargs)

        return wrapper

    return decorate


def _edit_url(survey: Survey) -> str:
    return reverse("surveys:edit", args=[survey.public_id])


# List and create ------------------------------------------------------------------------------


def _list_context(request: HttpRequest, form) -> dict:
    surveys = list(queries.surveys_of(request.organization, visible_to=request.user)[:1000])
    found = permissions.accesses(request.organization.pk, surveys, request.user)
    rows = [{"survey": survey, "access": found[survey.pk]} for survey in surveys]
    return {"active": "surveys", "surveys": surveys, "rows": rows, "form": form}


@organization_required
def survey_list(request: HttpRequest) -> HttpResponse:
    context = _list_context(request, forms.CreateSurveyForm())
    return render(request, "surveys/list.html", context)


@require_POST
@organization_required
def create(request: HttpRequest) -> HttpResponse:
    form = forms.CreateSurveyForm(request.POST)
    if not form.is_valid():
        return render(request, "surveys/list.html", _list_context(request, form), status=400)
    survey = actions.create_survey(request.organization, request.user, form.cleaned_data["name"])
    return redirect(_edit_url(survey))


# The builder ---------------------------------------------------------------------------------


def _builder_context(survey: Survey, **extra) -> dict:
    definition = survey.definition
    blocks = []
    earlier: list[dict] = []
    for block in schema.ordered_blocks(definition):
        elements = []
        for index, element in enumerate(block["elements"]):
            if element.get("type") == schema.PAGE_BREAK:
                elements.append({"page_break": True, "index": index, "block": block["id"]})
                continue
            elements.append(
                {
                    "question": element,
                    "index": index,
                    "block": block["id"],
                    "summary": _display_summary(element),
                }
            )
            earlier.append(element)
        blocks.append({"block": block, "elements": elements})
    return {
        "survey": survey,
        "blocks": blocks,
        "question_types": schema.QUESTION_TYPES,
        "active": "surveys",
        "tab": "edit",
        "anonymous_url": actions.anonymous_url(survey),
        **extra,
    }


def _display_summary(question: dict) -> str:
    display = question.get("display")
    if not display:
        return ""
    parts = []
    for condition in display.get("conditions", []):
        subject = condition.get("question") or f"embedded data {condition.get('embedded')}"
        operator = schema.OPERATORS.get(condition.get("op"), condition.get("op"))
        value = condition.get("choice") or condition.get("value", "")
        parts.append(f"{subject} {operator} {value}".strip())
    joiner = " or " if display.get("conjunction") == "or" else " and "
    return "Shown if " + joiner.join(parts)


def _questions_partial(request: HttpRequest, survey: Survey, **extra) -> HttpResponse:
    if not request.htmx:
        return redirect(_edit_url(survey))
    context = _builder_context(survey, **extra)
    return render(request, "surveys/builder.html#questions", context)


@with_survey(None)
def edit(request: HttpRequest, survey: Survey) -> HttpResponse:
    """The survey's main page: the builder, or for someone who may not edit, what they may
    see (the results, else the sharing page that says what they may do)."""
    found = request.survey_access
    if not found.allows(Permission.EDIT):
        target = "surveys:results" if found.allows(Permission.VIEW_RESULTS) else "surveys:sharing"
        return redirect(reverse(target, args=[survey.public_id]))
    return render(request, "surveys/builder.html", _builder_context(survey))


@require_POST
@with_survey(Permission.EDIT)
def rename(request: HttpRequest, survey: Survey) -> HttpResponse:
    form = forms.RenameForm(request.POST)
    error = ""
    if form.is_valid():
        actions.rename_survey(survey, form.cleaned_data["name"])
    else:
        error = "A survey needs a name of at most 200 characters."
    if request.htmx:
        context = {"survey": survey, "rename_error": error}
        return render(request, "surveys/_survey_header.html#name", context)
    if error:
        messages.error(request, error)
    return redirect(_edit_url(survey))


@require_POST
@with_survey(Permission.EDIT)
def add_question(request: HttpRequest, survey: Survey) -> HttpResponse:
    qtype = request.POST.get("type", "")
    try:
        definition, qid = editing.add_question(survey.definition, qtype)
        actions.save_definition(survey, definition)
    except DefinitionError as error:
        return _questions_partial(request, survey, builder_error=error.problems[0])
    return _questions_partial(request, survey, editing_qid=qid)


@require_POST
@with_survey(Permission.EDIT)
def add_page_break(request: HttpRequest, survey: Survey) -> HttpResponse:
    actions.save_definition(survey, editing.add_page_break(survey.definition))
    return _questions_partial(request, survey)


@require_POST
@with_survey(Permission.EDIT)
def element_action(request: HttpRequest, survey: Survey, block_id: str, index: int) -> HttpResponse:
    operation = request.POST.get("op", "")
    try:
        if operation == "delete":
            definition = editing.delete_element(survey.definition, block_id, index)
        elif operation in ("up", "down"):
            offset = -1 if operation == "up" else 1
            definition = editing.move_element(survey.definition, block_id, index, offset)
        else:
            return HttpResponse("Unknown operation", status=400)
        problems = schema.validate(definition)
        if problems:
            # e.g. moving a question above the one its display logic or piped text uses
            raise DefinitionError(problems)
        actions.save_definition(survey, definition)
    except DefinitionError as error:
        return _questions_partial(request, survey, builder_error=error.problems[0])
    return _questions_partial(request, survey)


def _editor_context(
    survey: Survey, definition: dict, qid: str, *, condition_rows=None, **extra
) -> dict:
    question = schema.question_map(definition)[qid]
    earlier = []
    for other in schema.questions(definition):
        if other["id"] == qid:
            break
        earlier.append(other)
    display = question.get("display") or {}
    if condition_rows is None:
        condition_rows = forms.condition_rows(definition, display)
    rows = condition_rows or [forms.BLANK_CONDITION]
    return {
        "survey": survey,
        "q": question,
        "earlier": earlier,
        "embedded_names": schema.embedded_names(definition),
        "operators": schema.OPERATORS,
        "condition_rows": [dict(row, position=n) for n, row in enumerate(rows)],
        "conjunction": display.get("conjunction", "and"),
        "max_conditions": schema.MAX_CONDITIONS,
        "validations": schema.TEXT_VALIDATIONS,
        **extra,
    }


@with_survey(Permission.EDIT)
def question(request: HttpRequest, survey: Survey, qid: str) -> HttpResponse:
    """GET: the editor (or, with ?view=1, the card). POST: apply the editor's form."""
    if schema.find_question(survey.definition, qid) is None:
        raise Http404("No such question")
    if request.method == "GET":
        if request.GET.get("view"):
            element = _card(survey, qid)
            return render(request, "surveys/builder.html#question_card", element)
        context = _editor_context(survey, survey.definition, qid)
        return render(request, "surveys/_question_editor.html", context)
    try:
        definition, operation, error = forms.question_from_post(
            survey.definition, qid, request.POST
        )
    except DefinitionError as problem:
        return HttpResponse(problem.problems[0], status=400)
    problems = [error] if error else _problems_of(definition, qid)
    if not problems:
        actions.save_definition(survey, definition)
    if problems or operation != "save":
        if not request.htmx:
            for problem in problems:
                messages.error(request, problem)
            return redirect(_edit_url(survey))
        # Keep the display logic rows as typed (blank or invalid ones are not in the definition).
        rows = forms.condition_rows_from_post(request.POST)
        context = _editor_context(survey, definition, qid, condition_rows=rows, problems=problems)
        context["conjunction"] = request.POST.get("display_conjunction", "and")
        return render(request, "surveys/_question_editor.html", context, status=200)
    if not request.htmx:
        return redirect(_edit_url(survey))
    response = render(request, "surveys/builder.html#question_card", _card(survey, qid))
    response["HX-Trigger"] = "survey-changed"
    return response


def _problems_of(definition: dict, qid: str) -> list[str]:
    problems = schema.validate(definition)
    mine = [problem for problem in problems if problem.startswith(qid)]
    return [_humane(problem, qid) for problem in (mine or problems)]


def _humane(problem: str, qid: str) -> str:
    return problem.removeprefix(f"{qid}.").replace("text: ", "Question text ", 1)


def _card(survey: Survey, qid: str) -> dict:
    found = schema.find_question(survey.definition, qid)
    block, index = found
    question = block["elements"][index]
    return {
        "survey": survey,
        "element": {
            "question": question,
            "index": index,
            "block": block["id"],
            "summary": _display_summary(question),
        },
    }


# Survey flow, options, publishing ----------------------------------------------------------------


@with_survey(Permission.EDIT)
def flow(request: HttpRequest, survey: Survey) -> HttpResponse:
    rows = schema.embedded_fields(survey.definition)
    problems: list[str] = []
    if request.method == "POST":
        rows, operation = forms.embedded_fields_from_post(request.POST)
        if operation == "save":
            definition = editing.set_embedded_fields(survey.definition, rows)
            problems = [p for p in schema.validate(definition) if p.startswith("flow")]
            problems = problems or schema.validate(definition)
            if not problems:
                actions.save_definition(survey, definition)
                if not request.htmx:
                    messages.success(request, "Survey flow saved.")
                    return redirect(_edit_url(survey))
    context = {
        "survey": survey,
        "rows": [dict(row, position=n) for n, row in enumerate(rows)],
        "sources": schema.EMBEDDED_SOURCES,
        "problems": problems,
        "saved": request.method == "POST" and not problems,
    }
    template = "surveys/_flow.html" if request.htmx else "surveys/flow_page.html"
    return render(request, template, {**context, "active": "surveys", "tab": "edit"})


@with_survey(Permission.EDIT)
def options(request: HttpRequest, survey: Survey) -> HttpResponse:
    definition = survey.definition
    initial = {
        "title": definition.get("title", ""),
        "end_message": (definition.get("end") or {}).get("message", ""),
        "back_button": definition.get("options", {}).get("backButton", True),
        "progress_bar": definition.get("options", {}).get("progressBar", True),
        "link_expiry_days": survey.link_expiry_days,
        "partial_close_hours": survey.partial_close_hours,
    }
    form = forms.OptionsForm(request.POST or None, initial=initial)
    problems: list[str] = []
    saved = False
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changed = editing.set_title(definition, data["title"])
        changed = editing.set_end_message(changed, data["end_message"])
        changed["options"] = {
            "backButton": data["back_button"],
            "progressBar": data["progress_bar"],
        }
        problems = schema.validate(changed)
        if not problems:
            actions.save_definition(survey, changed)
            actions.update_settings(
                survey,
                link_expiry_days=data["link_expiry_days"],
                partial_close_hours=data["partial_close_hours"],
            )
            saved = True
            if not request.htmx:
                messages.success(request, "Options saved.")
                return redirect(_edit_url(survey))
    context = {"survey": survey, "form": form, "problems": problems, "saved": saved}
    template = "surveys/_options.html" if request.htmx else "surveys/options_page.html"
    return render(request, template, {**context, "active": "surveys", "tab": "edit"})


def _status_response(request: HttpRequest, survey: Survey) -> HttpResponse:
    if request.htmx:
        survey.refresh_from_db()
        return render(request, "surveys/_survey_header.html#status", {"survey": survey})
    return redirect(_edit_url(survey))


@require_POST
@with_survey(Permission.EDIT)
def publish(request: HttpRequest, survey: Survey) -> HttpResponse:
    try:
        version = actions.publish(survey, request.user)
    except DefinitionError as error:
        if request.htmx:
            context = {"survey": survey, "publish_problems": error.problems[:10]}
            return render(request, "surveys/_survey_header.html#status", context)
        for problem in error.problems[:10]:
            messages.error(request, problem)
        return redirect(_edit_url(survey))
    if not request.htmx:
        messages.success(request, f"Published version {version.number}.")
    return _status_response(request, survey)


@require_POST
@with_survey(Permission.EDIT)
def close(request: HttpRequest, survey: Survey) -> HttpResponse:
    actions.close_survey(survey)
    return _status_response(request, survey)


@require_POST
@with_survey(Permission.EDIT)
def reopen(request: HttpRequest, survey: Survey) -> HttpResponse:
    try:
        actions.reopen_survey(survey)
    except actions.SurveyNotActive as error:
        messages.error(request, str(error))
    return _status_response(request, survey)


@require_POST
@with_survey(Permission.DELETE)
def delete(request: HttpRequest, survey: Survey) -> HttpResponse:
    if request.POST.get("confirm") != survey.name:
        messages.error(request, "Type the survey's name to delete it.")
        return redirect(_edit_url(survey))
    name = survey.name
    actions.delete_survey(survey)
    messages.success(request, f"Deleted {name}.")
    return redirect("surveys:list")


@with_survey(None)
def status_header(request: HttpRequest, survey: Survey) -> HttpResponse:
    return render(request, "surveys/_survey_header.html#status", {"survey": survey})


# Preview ---------------------------------------------------------------------------------------


def _preview_key(survey: Survey) -> str:
    return f"surveys:preview:{survey.public_id}"


@with_survey(None)
def preview(request: HttpRequest, survey: Survey) -> HttpResponse:
    """The draft as a respondent sees it. Answers live in the session, never in responses."""
    definition = survey.definition
    if not schema.pages(definition):
        messages.error(request, "Add a question to preview the survey.")
        return redirect(_edit_url(survey))
    key = _preview_key(survey)
    state = request.session.get(key)
    if state is None or (request.method == "POST" and request.POST.get("action") == "restart"):
        embedded = actions.resolve_embedded_data(definition, query=request.GET)
        embedded.update(
            {name: request.GET[name][:1024] for name in embedded if request.GET.get(name)}
        )
        state = {
            "answers": {},
            "embedded": embedded,
            "page": logic.first_page(definition, {}, embedded),
            "finished": False,
        }
        request.session[key] = state
        if request.method == "POST":
            return redirect(reverse("surveys:preview", args=[survey.public_id]))
    language = request.GET.get("Q_Language", "").upper() or survey.default_language
    common = {
        "preview": True,
        "preview_back_url": _edit_url(survey),
        "form_action": reverse("surveys:preview", args=[survey.public_id]),
        "restart_url": reverse("surveys:preview", args=[survey.public_id]),
    }
    errors = values = None
    if request.method == "POST" and not state["finished"]:
        try:
            submitted = int(request.POST.get("page", ""))
        except ValueError:
            submitted = -1
        step = logic.advance(
            definition,
            state["answers"],
            state["embedded"],
            state["page"],
            submitted,
            request.POST.getlist,
            back=request.POST.get("action") == "back",
        )
        if step.errors:
            errors, values = step.errors, step.values
        else:
            state = {**state, "answers": step.answers, "page": step.page, "finished": step.finished}
            request.session[key] = state
            return redirect(reverse("surveys:preview", args=[survey.public_id]))
    if state["finished"]:
        translated = schema.translated(definition, language)
        body = presenter.end_message(
            translated, answers=state["answers"], embedded=state["embedded"], contact_fields={}
        )
        context = {
            "heading": translated.get("title") or survey.name,
            "title": "Preview",
            "body_html": body,
            "language": language.lower(),
            **common,
        }
        return render(request, "surveys/respondent/message.html", context)
    response = render_page(
        request,
        version_definition=definition,
        language=language,
        page=state["page"],
        answers=state["answers"],
        embedded=state["embedded"],
        errors=errors,
        values=values,
        preview=True,
        extra=common,
    )
    return response
