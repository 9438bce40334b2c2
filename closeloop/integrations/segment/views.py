"""Extensions → Twilio Segment: sources, their use-case workflows and recent events, and the
shared secret of a Segment-event workflow."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from closeloop.accounts.views import organization_required
from closeloop.integrations.segment import actions, queries
from closeloop.integrations.segment.forms import SecretForm, SourceForm, UseCaseForm
from closeloop.workflows import registry


def _source_or_404(request, source_id: str):
    source = queries.source_of(request.organization, source_id)
    if source is None:
        raise Http404("No such Segment source.")
    return source


def _url_of(workflow) -> str:
    """The URL Segment posts to, on the server's public address (CLOSELOOP_BASE_URL), whatever
    host this page was opened on."""
    event_kind = registry.event_type(workflow.event_type)
    name = event_kind.trigger_url_name if event_kind else "segment-inbound:event"
    return settings.CLOSELOOP_BASE_URL.rstrip("/") + reverse(name, args=[workflow.trigger_token])


@organization_required
def sources(request, form: SourceForm | None = None):
    listed = list(queries.sources_of(request.organization))
    counts = {source.pk: len(queries.links_of(source)) for source in listed}
    context = {
        "active": "extensions",
        "sources": [(source, counts[source.pk]) for source in listed],
        "form": form or SourceForm(request.organization),
    }
    return render(request, "segment/sources.html", context, status=400 if form else 200)


@require_POST
@organization_required
def source_create(request):
    form = SourceForm(request.organization, request.POST)
    if not form.is_valid():
        return sources(request, form)
    data = form.cleaned_data
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
    links = queries.links_of(source)
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
        "use_case_form": extra.pop("use_case_form", None) or UseCaseForm(request.organization),
        **extra,
    }


@organization_required
def source(request, source_id: str):
    found = _source_or_404(request, source_id)
    return render(request, "segment/source.html", _source_context(request, found))


@require_POST
@organization_required
def source_secret(request, source_id: str):
    found = _source_or_404(request, source_id)
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
    form = UseCaseForm(request.organization, request.POST)
    if form.is_valid():
        data = form.cleaned_data
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
    found = _source_or_404(request, source_id)
    if request.method == "POST":
        count = actions.delete_source(found, request.user)
        messages.success(request, f"Source “{found.name}” deleted with its {count} workflow(s).")
        return redirect("segment:sources")
    context = {"active": "extensions", "source": found, "links": queries.links_of(found)}
    return render(request, "segment/source_delete.html", context)


@require_POST
@organization_required
def workflow_secret(request, workflow_id: str):
    workflow = queries.segment_workflow(request.organization, workflow_id)
    if workflow is None:
        raise Http404("No such Twilio Segment workflow.")
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
