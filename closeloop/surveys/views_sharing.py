"""The survey's Sharing tab: its owner, whom it is shared with and for what, and what the
signed-in user may do with it. The owner and the organization's admins add, change and remove
shares (plain POST + redirect); anyone else who sees the survey reads the page with the reason
they cannot change it."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from closeloop.accounts import queries as account_queries
from closeloop.surveys import actions, forms, permissions, queries
from closeloop.surveys.models import Survey
from closeloop.surveys.permission_rules import Permission
from closeloop.surveys.views import with_survey


def _url(survey: Survey) -> str:
    return reverse("surveys:sharing", args=[survey.public_id])


def _target(share) -> str:
    if share.group_id:
        return f"Group {share.group.name}"
    return share.user.get_full_name() or share.user.email


def _context(request: HttpRequest, survey: Survey, **extra) -> dict:
    found = permissions.access(survey, request.user)
    choices = [(item.value, item.label) for item in Permission]
    shares = [
        {
            "share": share,
            "target": _target(share),
            "kind": "group" if share.group_id else "user",
            "email": share.user.email if share.user_id else "",
            "checks": [
                {"value": value, "label": label, "checked": value in share.permission_names}
                for value, label in choices
            ],
        }
        for share in queries.shares_of(survey)
    ]
    mine = [
        {"label": item.label, "allowed": found.allows(item), "reason": found.why_not(item)}
        for item in Permission
    ]
    context = {
        "survey": survey,
        "active": "surveys",
        "tab": "sharing",
        "access": found,
        "owner": survey.owner,
        "shares": shares,
        "choices": choices,
        "mine": mine,
        "why_not_share": found.why_not_share(),
        "errors": [],
    }
    if found.can_share:
        context["members"] = [
            membership.user
            for membership in account_queries.memberships_of(request.organization)
            if membership.user_id != survey.owner_id
        ]
        context["groups"] = list(account_queries.groups_of(request.organization))
    return {**context, **extra}


def _change(request: HttpRequest, survey: Survey) -> str:
    """Apply the POST; the error to show, or "" when it was applied."""
    post = request.POST
    operation = post.get("op", "")
    if operation == "add":
        chosen = forms.share_from_post(post, request.organization)
        if chosen.error:
            return chosen.error
        actions.share_survey(
            survey,
            request.user,
            user=chosen.user,
            group=chosen.group,
            permissions=chosen.permissions,
        )
        return ""
    if operation not in ("save", "remove"):
        return "Unknown change."
    share = queries.share_of(survey, forms.share_id(post))
    if share is None:
        return "That share no longer exists."
    if operation == "remove":
        actions.unshare_survey(survey, request.user, user=share.user, group=share.group)
    else:  # no permission ticked removes the share
        chosen = forms.chosen_permissions(post)
        actions.share_survey(
            survey, request.user, user=share.user, group=share.group, permissions=chosen
        )
    return ""


@with_survey(None)
def sharing(request: HttpRequest, survey: Survey) -> HttpResponse:
    if request.method != "POST":
        return render(request, "surveys/sharing.html", _context(request, survey))
    permissions.require_sharing(survey, request.user)
    try:
        error = _change(request, survey)
    except actions.SharingError as problem:
        error = str(problem)
    if error:
        typed = {
            "posted_user": request.POST.get("user", ""),
            "posted_group": request.POST.get("group", ""),
            "posted_permissions": forms.chosen_permissions(request.POST),
        }
        context = _context(request, survey, errors=[error], **typed)
        return render(request, "surveys/sharing.html", context, status=400)
    messages.success(request, "Sharing saved.")
    return redirect(_url(survey))
