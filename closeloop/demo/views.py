"""The demo's pages: Try it (everyone in the organization), and creating or removing the demo
workspace (owners and admins)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from closeloop.accounts.views import organization_required
from closeloop.demo import actions, queries
from closeloop.demo import messages as demo_messages
from closeloop.integrations.salesforce import demo_backend

POLL_SECONDS = 1
POLL_SECONDS_FOR_AN_ANSWER = 3  # a person is reading the email and answering: no hurry


def _can_administer(request) -> bool:
    return bool(request.membership and request.membership.can_administer)


def _step_context(step, demo) -> dict:
    content_type = step.request_headers.get("Content-Type", "")
    progress = queries.progress_of(step, demo)
    waiting_for_a_person = progress.email is not None and progress.response is None
    return {
        "step": step,
        "progress": progress,
        "request_shown": demo_messages.pretty(step.request_body.encode("utf-8"), content_type)
        if "json" in content_type
        else step.request_body,
        "poll_seconds": POLL_SECONDS_FOR_AN_ANSWER if waiting_for_a_person else POLL_SECONDS,
    }


@organization_required
@require_GET
def try_it(request):
    workspace = queries.workspace_of(request.organization)
    context = {
        "active": "demo",
        "workspace": workspace,
        "can_administer": _can_administer(request),
        "demo_label": demo_backend.DEMO_LABEL,
    }
    if workspace is not None:
        demo = queries.demo_of(workspace)
        context.update(
            demo=demo,
            people=actions.PEOPLE,
            steps=[_step_context(step, demo) for step in queries.steps_of(request.organization)],
            writes=demo_backend.writes_of(demo.account, 5) if demo.account else [],
        )
    return render(request, "demo/try_it.html", context)


@organization_required
@require_POST
def create(request):
    if not _can_administer(request):
        messages.error(request, "Only owners and admins can create the demo workspace.")
        return redirect("demo:try-it")
    try:
        actions.create_demo_workspace(request.organization, request.user)
    except actions.DemoError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            "The demo workspace is ready: close a case or send a Segment event below.",
        )
    return redirect("demo:try-it")


@organization_required
@require_POST
def remove(request):
    if not _can_administer(request):
        messages.error(request, "Only owners and admins can remove the demo workspace.")
        return redirect("demo:try-it")
    try:
        removed = actions.remove_demo_workspace(request.organization, request.user)
    except actions.DemoError as error:
        messages.error(request, str(error))
        return redirect("demo:try-it")
    messages.success(
        request, f"The demo workspace is removed ({removed} demo items and what they made)."
    )
    return redirect("web:home")


def _started(request, step):
    """The new step's panel for HTMX (the page prepends it), else back to the page."""
    if request.htmx:
        demo = queries.demo_of(step.workspace)
        return render(request, "demo/_step.html", _step_context(step, demo))
    return redirect("demo:try-it")


def _start(request, send):
    try:
        step = send(request.organization, request.user, request.POST.get("email", ""))
    except actions.DemoError as error:
        messages.error(request, str(error))
        return redirect("demo:try-it")
    return _started(request, step)


@organization_required
@require_POST
def close_case(request):
    return _start(request, actions.close_a_case)


@organization_required
@require_POST
def segment_event(request):
    return _start(request, actions.send_segment_event)


@organization_required
@require_GET
def step(request, step_id: str):
    found = queries.step_of(request.organization, step_id)
    workspace = queries.workspace_of(request.organization)
    if found is None or workspace is None:
        raise Http404("No such Try it step.")
    return render(request, "demo/_step.html", _step_context(found, queries.demo_of(workspace)))
