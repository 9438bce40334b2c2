"""The survey's ownership transfer page: who owns it, what moves with it (its workflows),
what stops working until re-pointed (workflows running with the old owner's linked
Salesforce account), the transfer itself (owner or admin), then the re-pointing (the new
owner). Plain POST + redirect."""

from __future__ import annotations

import copy

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


def _accounts_in_use(workflows) -> list[transfer.StaleUse]:
    """Every linked account the workflows use, as if their owner could use none: what the
    warning lists before a transfer."""
    unowned = []
    for workflow in workflows:
        shadow = copy.copy(workflow)
        shadow.owner = None
        unowned.append(shadow)
    return transfer.stale_uses(unowned)


def _context(request: HttpRequest, survey, **extra) -> dict:
    access = survey_permissions.access(survey, request.user)
    workflows = transfer.workflows_of_survey(survey)
    candidates = [
        membership.user
        for membership in account_queries.memberships_of(request.organization)
        if membership.user_id != survey.owner_id
    ]
    return {
        "active": "surveys",
        "survey": survey,
        "access": access,
        "why_not_share": access.why_not_share(),
        "workflows": workflows,
        "in_use": _accounts_in_use(workflows),
        "stale": transfer.stale_uses(workflows),
        "candidates": candidates,
        **extra,
    }


@organization_required
@require_http_methods(["GET", "POST"])
def transfer_page(request: HttpRequest, survey_id: str) -> HttpResponse:
    survey = _survey(request, survey_id)
    if request.method == "GET":
        return render(request, "workflows/transfer.html", _context(request, survey))
    operation = request.POST.get("op", "")
    try:
        if operation == "transfer":
            _transfer(request, survey)
        elif operation == "repoint":
            _repoint(request, survey)
        else:
            raise transfer.TransferError("Choose Transfer or Re-point.")
    except transfer.TransferError as error:
        context = _context(request, survey, errors=[str(error)])
        return render(request, "workflows/transfer.html", context, status=400)
    if not survey_permissions.access(survey, request.user).visible:
        return redirect("surveys:list")  # gave it away: the survey is no longer theirs to see
    return redirect(_url(survey))


def _transfer(request: HttpRequest, survey) -> None:
    survey_permissions.require_sharing(survey, request.user)
    member = account_queries.membership_by_user_id(
        request.organization, request.POST.get("new_owner", "")
    )
    if member is None:
        raise transfer.TransferError("Choose the member who becomes the owner.")
    if request.POST.get("confirm") != "yes":
        raise transfer.TransferError("Tick the box to confirm that you read what changes.")
    stale = transfer.transfer_survey(survey, member.user, request.user)
    messages.success(request, f"“{survey.name}” now belongs to {member.user.email}.")
    if stale:
        messages.warning(
            request,
            f"{len(stale)} linked account(s) must be re-pointed by {member.user.email} below.",
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
    if not replacements:
        raise transfer.TransferError("Choose the account that replaces the old one.")
    transfer.repoint_workflow(workflow, request.user, replacements)
    messages.success(request, f"“{workflow.name}” now runs with your account.")
