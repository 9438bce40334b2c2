"""The survey's ownership transfer page (/workflows/transfer/<survey id>/): who owns it, what
moves with it (its workflows), what stops working until re-pointed (workflows using a linked
account the new owner may not use), the transfer itself (the owner or an admin: choose a
member, review what changes for them, confirm), then the re-pointing (the new owner or an
admin). Plain GET (?new_owner=USR_… reviews) and POST + redirect."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from closeloop.accounts import queries as account_queries
from closeloop.accounts.views import organization_required
from closeloop.api.errors import NotFound
from closeloop.surveys import permissions as survey_permissions
from closeloop.surveys import queries as survey_queries
from closeloop.workflows import queries, transfer


def _url(survey) -> str:
    return reverse("workflows:transfer", args=[survey.public_id])


def _survey(request: HttpRequest, survey_id: str):
    survey = survey_queries.survey_of(request.organization, survey_id)
    if survey is None or not survey_permissions.access(survey, request.user).visible:
        raise NotFound("No such survey.")
    return survey


def _member(request: HttpRequest, survey, public_id: str):
    """The member chosen as the new owner (not the current one), or None."""
    membership = account_queries.membership_by_user_id(request.organization, public_id or "")
    if membership is None or membership.user_id == survey.owner_id:
        return None
    return membership.user


def _context(request: HttpRequest, survey, chosen=None, **extra) -> dict:
    access = survey_permissions.access(survey, request.user)
    workflows = transfer.workflows_of_survey(survey)
    candidates = [
        membership.user
        for membership in account_queries.memberships_of(request.organization)
        if membership.user_id != survey.owner_id
    ]
    stale = transfer.stale_uses(workflows)
    return {
        "active": "surveys",
        "survey": survey,
        "access": access,
        "why_not_share": access.why_not_share(),
        "workflows": workflows,
        "chosen": chosen,
        # What would stop working: for the chosen member, or every account in use.
        "preview": transfer.stale_uses(workflows, owner=chosen),
        "repoints": [(use, transfer.may_repoint(use.workflow, request.user)) for use in stale],
        "candidates": candidates,
        **extra,
    }


@organization_required
@require_http_methods(["GET", "POST"])
def transfer_page(request: HttpRequest, survey_id: str) -> HttpResponse:
    survey = _survey(request, survey_id)
    if request.method == "GET":
        chosen = _member(request, survey, request.GET.get("new_owner", ""))
        return render(request, "workflows/transfer.html", _context(request, survey, chosen))
    operation = request.POST.get("op", "")
    chosen = None
    try:
        if operation == "transfer":
            survey_permissions.require_sharing(survey, request.user)
            chosen = _member(request, survey, request.POST.get("new_owner", ""))
            _transfer(request, survey, chosen)
        elif operation == "repoint":
            _repoint(request, survey)
        else:
            raise transfer.TransferError("Choose Transfer or Re-point.")
    except transfer.TransferError as error:
        context = _context(request, survey, chosen, errors=[str(error)])
        return render(request, "workflows/transfer.html", context, status=400)
    if not survey_permissions.access(survey, request.user).visible:
        return redirect("surveys:list")  # gave it away: the survey is no longer theirs to see
    return redirect(_url(survey) + ("#repoint" if operation == "transfer" else ""))


def _transfer(request: HttpRequest, survey, new_owner) -> None:
    if new_owner is None:
        raise transfer.TransferError("Choose the member who becomes the owner.")
    if request.POST.get("confirm") != "yes":
        raise transfer.TransferError("Tick the box to confirm that you read what changes.")
    stale = transfer.transfer_survey(survey, new_owner, request.user)
    messages.success(request, f"“{survey.name}” now belongs to {new_owner.email}.")
    if stale:
        workflows = {use.workflow.pk for use in stale}
        messages.warning(
            request,
            f"{len(workflows)} workflow(s) use an account {new_owner.email} may not use: "
            f"{new_owner.email} or an admin must re-point them on this page.",
        )


def _repoint(request: HttpRequest, survey) -> None:
    workflow = queries.workflow(request.organization, request.POST.get("workflow", ""))
    if workflow is None or workflow.survey_id != survey.pk:
        raise transfer.TransferError("That workflow is not one of this survey's.")
    replacements = {
        key.removeprefix("account:"): value
        for key, value in request.POST.items()
        if key.startswith("account:")
    }
    workflow = transfer.repoint_workflow(workflow, request.user, replacements)
    messages.success(
        request, f"“{workflow.name}” now runs with {transfer.user_name(workflow.owner)}'s account."
    )
