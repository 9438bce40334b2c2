"""Settings → Groups: everyone sees the organization's groups; owners and admins create,
rename and delete them and choose their members (members of the organization only)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponseForbidden
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from closeloop.accounts import actions, queries
from closeloop.accounts.forms import GroupForm, GroupMemberForm
from closeloop.accounts.models import MemberGroup, User
from closeloop.accounts.views import administrator_required, organization_required, settings_page

REFUSED = "Only owners and admins can change groups."


def _group_or_404(request, group_id: int) -> MemberGroup:
    group = queries.group_of(request.organization, group_id)
    if group is None:
        raise Http404("No such group")
    return group


def _candidates(request, group: MemberGroup) -> list[User]:
    """The organization's members not yet in the group."""
    inside = {user.pk for user in group.members.all()}
    return [
        membership.user
        for membership in queries.memberships_of(request.organization)
        if membership.user_id not in inside
    ]


@organization_required
def groups(request):
    can_manage = request.membership.can_administer
    if request.method == "POST" and not can_manage:
        return HttpResponseForbidden(REFUSED)
    form = GroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = actions.create_group(
                request.organization, form.cleaned_data["name"], request.user
            )
        except actions.AccountsError as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"The group {group.name} was created; add its members.")
            return redirect("accounts:group", group.pk)
    return settings_page(
        request,
        "accounts/groups.html",
        "groups",
        groups=queries.groups_of(request.organization),
        form=form if can_manage else None,
        can_manage=can_manage,
    )


def _group_page(request, group: MemberGroup, *, rename_form=None, member_form=None):
    can_manage = request.membership.can_administer
    if can_manage:
        rename_form = rename_form or GroupForm(initial={"name": group.name})
        member_form = member_form or GroupMemberForm(candidates=_candidates(request, group))
    return settings_page(
        request,
        "accounts/group.html",
        "groups",
        group=group,
        members=sorted(group.members.all(), key=lambda user: user.email),
        rename_form=rename_form,
        member_form=member_form,
        can_manage=can_manage,
    )


@organization_required
def group(request, group_id: int):
    return _group_page(request, _group_or_404(request, group_id))


@require_POST
@administrator_required
def rename_group(request, group_id: int):
    group = _group_or_404(request, group_id)
    form = GroupForm(request.POST)
    if form.is_valid():
        try:
            actions.rename_group(group, form.cleaned_data["name"], request.user)
        except actions.AccountsError as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"The group is now called {group.name}.")
            return redirect("accounts:group", group.pk)
    group.refresh_from_db()
    return _group_page(request, group, rename_form=form)


@require_POST
@administrator_required
def delete_group(request, group_id: int):
    group = _group_or_404(request, group_id)
    name = group.name
    actions.delete_group(group, request.user)
    messages.success(request, f"The group {name} was deleted.")
    return redirect("accounts:groups")


@require_POST
@administrator_required
def add_group_member(request, group_id: int):
    group = _group_or_404(request, group_id)
    form = GroupMemberForm(request.POST, candidates=_candidates(request, group))
    if form.is_valid():
        user = form.cleaned_data["user"]
        try:
            actions.add_group_member(group, user, request.user)
        except actions.AccountsError as error:
            form.add_error("user", str(error))
        else:
            messages.success(request, f"{user.email} was added to {group.name}.")
            return redirect("accounts:group", group.pk)
    return _group_page(request, group, member_form=form)


@require_POST
@administrator_required
def remove_group_member(request, group_id: int, user_id: str):
    group = _group_or_404(request, group_id)
    user = group.members.filter(public_id=user_id).first()
    if user is None:
        raise Http404("Not a member of this group")
    actions.remove_group_member(group, user, request.user)
    messages.success(request, f"{user.email} was removed from {group.name}.")
    return redirect("accounts:group", group.pk)
