"""Extensions → Twilio Segment: sources, their use-case workflows and recent events, and the
shared secret of a Segment-event workflow.

A source belongs to the organization; of its workflows, a page shows those the user may
manage (closeloop.workflows.permissions). A change to the whole source (its shared secret,
deleting it with its workflows) needs every one of them; a use case on a survey needs Manage
workflows on that survey (the survey pickers offer only those).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from closeloop.accounts.views import organization_required
from closeloop.api.errors import NotPermitted
from closeloop.integrations.segment import actions, queries
from closeloop.integrations.segment.forms import SecretForm, SourceForm, UseCaseForm
from closeloop.workflows import permissions, registry

WHOLE_SOURCE_REFUSAL = (
    "This source has {count} workflow(s) you can't manage: ask an administrator of the "
    "organization to change or delete the whole source."
)


def _source_or_404(request, source_id: str):
    source = queries.source_of(request.organization, source_id)
    if source is None:
        raise Http404("No such Segment source.")
    return source


def _whole_source(request, source_id: str):
    """The source, if the user may manage every one of its workflows (the 403 page with the
    reason otherwise)."""
    source = _source_or_404(request, source_id)
    hidden = queries.unmanageable_links(source, request.user)
    if hidden:
        raise NotPermitted(WHOLE_SOURCE_REFUSAL.format(count=hidden))
    return source


def _form(form_class, request, data=None):
    """A source or use-case form whose survey picker offers only the surveys whose workflows
    the user may manage (another survey's id is not a valid choice)."""
    form = form_class(request.organization, data)
    surveys = permissions.manageable_surveys(request.organization, request.user)
    form.fields["survey"].choices = [form.fields["survey"].choices[0]] + [
        (item.public_id, item.name) for item in surveys
    ]
    return form


def _checked_survey(request, survey):
    """The chosen survey, checked again (NotFound / NotPermitted) in case of a change since
    the form was shown."""
    return permissions.require_survey_choice(survey, request.user)


def _url_of(workflow) -> str:
    """The URL Segment posts to, on the server's public address (CLOSELOOP_BASE_URL), whatever
    host this page was opened on."""
    event_kind = registry.event_type(workflow.event_type)
    name = event_kind.trigger_url_name if event_kind else "segment-inbound:event"
    return settings.CLOSELOOP_BASE_URL.rstrip("/") + reverse(name, args=[workflow.trigger_token])


@organization_required
def sources(request, form: SourceForm | None = None):
    listed = list(queries.sources_of(request.organization))
    counts = {source.pk: len(queries.links_of(source, request.user)) for source in listed}
    context = {
        "active": "extensions",
        "sources": [(source, counts[source.pk]) for source in listed],
        "form": form or _form(SourceForm, request),
    }
    return render(request, "segment/sources.html", context, status=400 if form else 200)


@require_POST
@organization_required
def source_create(request):
    form = _form(SourceForm, request, request.POST)
    if not form.is_valid():
        return sources(request, form)
    data = form.cleaned_data
    _checked_survey(request, data["survey"])
    try:
        source = actions.create_source(
            request.organization,
            request.user,
            name=data["name"],
            directory=data["directory"],
            use_case_list=data["use_cases"],
            transaction_event=data["transaction_event"],
            workflow_event=data["workflow_event"],
            survey=data["survey"],
            secret=data["secret"],
        )
    except actions.SourceError as error:
        form.add_error(None, str(error))
        return sources(request, form)
    messages.success(request, f"Segment source “{source.name}” created.")
    return redirect("segment:source", source_id=source.public_id)


def _source_context(request, source, **extra) -> dict:
    links = queries.links_of(source, request.user)
    endpoints = queries.endpoints_of([link.workflow for link in links])
    rows = [
        {
            "link": link,
            "workflow": link.workflow,
            "url": _url_of(link.workflow),
            "endpoint": endpoints.get(link.workflow_id),
            "copy_id": f"url-{link.workflow.public_id}",
        }
        for link in links
    ]
    secrets = [row["endpoint"] for row in rows if row["endpoint"] and row["endpoint"].has_secret]
    return {
        "active": "extensions",
        "source": source,
        "rows": rows,
        "links": links,
        "events": queries.recent_events(source, links),
        "failed": queries.failed_runs(source, links),
        "refusals": [row for row in rows if row["endpoint"] and row["endpoint"].last_refusal_at],
        "secret_count": len(secrets),
        "secret_form": SecretForm(),
        "use_case_form": extra.pop("use_case_form", None) or _form(UseCaseForm, request),
        **extra,
    }


@organization_required
def source(request, source_id: str):
    found = _source_or_404(request, source_id)
    return render(request, "segment/source.html", _source_context(request, found))


@require_POST
@organization_required
def source_secret(request, source_id: str):
    found = _whole_source(request, source_id)
    if request.POST.get("action") == "remove":
        actions.clear_source_secret(found)
        messages.success(
            request, "Shared secret removed: requests are no longer signature-checked."
        )
        return redirect("segment:source", source_id=found.public_id)
    form = SecretForm(request.POST)
    if form.is_valid():
        try:
            count = actions.set_source_secret(found, form.cleaned_data["secret"])
        except actions.SourceError as error:
            form.add_error("secret", str(error))
        else:
            messages.success(request, f"Shared secret set on {count} workflow(s).")
            return redirect("segment:source", source_id=found.public_id)
    context = _source_context(request, found, secret_form=form)
    return render(request, "segment/source.html", context, status=400)


@require_POST
@organization_required
def source_use_case(request, source_id: str):
    found = _source_or_404(request, source_id)
    form = _form(UseCaseForm, request, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        _checked_survey(request, data["survey"])
        try:
            for use_case in data["use_cases"]:
                event_name = (
                    data["transaction_event"]
                    if use_case == "transactions"
                    else data["workflow_event"]
                )
                actions.add_use_case(
                    found, request.user, use_case, event_name=event_name, survey=data["survey"]
                )
        except actions.SourceError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Use case added.")
            return redirect("segment:source", source_id=found.public_id)
    context = _source_context(request, found, use_case_form=form)
    return render(request, "segment/source.html", context, status=400)


@organization_required
def source_delete(request, source_id: str):
    found = _whole_source(request, source_id)
    if request.method == "POST":
        count = actions.delete_source(found, request.user)
        messages.success(request, f"Source “{found.name}” deleted with its {count} workflow(s).")
        return redirect("segment:sources")
    links = queries.links_of(found, request.user)
    context = {"active": "extensions", "source": found, "links": links}
    return render(request, "segment/source_delete.html", context)


@require_POST
@organization_required
def workflow_secret(request, workflow_id: str):
    workflow = permissions.require_workflow(
        queries.segment_workflow(request.organization, workflow_id),
        request.user,
        not_found="No such Twilio Segment workflow.",
    )
    editor = reverse("workflows:edit", args=[workflow.public_id]) + "#section-event"
    if request.POST.get("action") == "remove":
        actions.clear_secret(workflow)
        messages.success(
            request, "Shared secret removed: requests are no longer signature-checked."
        )
        return redirect(editor)
    form = SecretForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Type the shared secret, as set in Segment.")
        return redirect(editor)
    try:
        actions.set_secret(workflow, form.cleaned_data["secret"])
    except actions.SourceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Shared secret set: only signed requests are accepted now.")
    return redirect(editor)
