"""Setup, sign-in, settings (profile, password, API tokens, members, organization), invitations."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from closeloop.accounts import actions, queries, retention
from closeloop.accounts.forms import (
    AcceptInvitationForm,
    InviteForm,
    LoginForm,
    OrganizationForm,
    ProfileForm,
    RetentionForm,
    RoleForm,
    SetupForm,
    SwitchOrganizationForm,
    TokenForm,
    TokenPolicyForm,
)
from closeloop.accounts.models import ApiToken, Invitation, Membership, Role

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def settings_page(request, template: str, tab: str, **context):
    context.update(active="settings", tab=tab)
    return render(request, template, context)


def organization_required(view):
    """Logged in and a member of an organization; request.organization is set by the middleware."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.organization is None:
            return render(
                request, "accounts/no_organization.html", {"active": "settings"}, status=403
            )
        return view(request, *args, **kwargs)

    return wrapper


def administrator_required(view):
    @organization_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.membership.can_administer:
            return HttpResponseForbidden("Only owners and admins can do this.")
        return view(request, *args, **kwargs)

    return wrapper


def _log_in(request, user, organization_id: int) -> None:
    login(request, user, backend=MODEL_BACKEND)
    request.session["organization_id"] = organization_id


# First run ---------------------------------------------------------------------------------


@never_cache
def setup(request):
    if not queries.needs_setup():
        return redirect("accounts:login")
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            organization, user = actions.setup_first_organization(
                data["organization_name"],
                data["email"],
                data["password"],
                data["first_name"],
                data["last_name"],
            )
        except actions.SetupAlreadyDone:
            return redirect("accounts:login")
        except actions.AccountsError as error:
            form.add_error(None, str(error))
        else:
            _log_in(request, user, organization.id)
            messages.success(request, f"{organization.name} is ready. Welcome to Closeloop.")
            return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/setup.html", {"form": form})


# Sign-in and passwords ---------------------------------------------------------------------

login_view = auth_views.LoginView.as_view(
    template_name="accounts/login.html",
    authentication_form=LoginForm,
    redirect_authenticated_user=True,
)
logout_view = auth_views.LogoutView.as_view()


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:password_change")
    extra_context = {"active": "settings", "tab": "password"}

    def form_valid(self, form):
        messages.success(self.request, "Your password was changed.")
        return super().form_valid(form)


password_reset = auth_views.PasswordResetView.as_view(
    template_name="accounts/password_reset_form.html",
    email_template_name="accounts/email/password_reset.txt",
    html_email_template_name="accounts/email/password_reset.html",
    subject_template_name="accounts/email/password_reset_subject.txt",
    success_url=reverse_lazy("accounts:password_reset_done"),
    extra_email_context={"base_url": settings.CLOSELOOP_BASE_URL},
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="accounts/password_reset_done.html"
)
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="accounts/password_reset_confirm.html",
    success_url=reverse_lazy("accounts:password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)


# Settings: profile and organization ----------------------------------------------------------


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        actions.update_profile(
            request.user, form.cleaned_data["first_name"], form.cleaned_data["last_name"]
        )
        messages.success(request, "Your profile was saved.")
        return redirect("accounts:settings")
    return settings_page(request, "accounts/profile.html", "profile", form=form)


@organization_required
def organization(request):
    form = OrganizationForm(request.POST or None, instance=request.organization)
    if request.method == "POST":
        if not request.membership.can_administer:
            return HttpResponseForbidden("Only owners and admins can rename the organization.")
        if form.is_valid():
            try:
                actions.rename_organization(
                    request.organization, form.cleaned_data["name"], request.user
                )
            except actions.AccountsError as error:
                form.add_error("name", str(error))
            else:
                messages.success(request, "The organization was renamed.")
                return redirect("accounts:organization")
    return _organization_page(request, form=form)


def _organization_page(request, *, form=None, retention_form=None, token_form=None):
    memberships = queries.memberships_of_user(request.user)
    switch_form = SwitchOrganizationForm(
        memberships=memberships, initial={"organization": request.organization.id}
    )
    return settings_page(
        request,
        "accounts/organization.html",
        "organization",
        form=form or OrganizationForm(instance=request.organization),
        retention_form=retention_form or RetentionForm(organization=request.organization),
        retention=retention.retention_of(request.organization),
        token_form=token_form or TokenPolicyForm(organization=request.organization),
        switch_form=switch_form,
        can_switch=len(memberships) > 1,
    )


@require_POST
@organization_required
def organization_token_policy(request):
    if not request.membership.can_administer:
        return HttpResponseForbidden("Only owners and admins can change the API token policy.")
    form = TokenPolicyForm(request.POST, organization=request.organization)
    if form.is_valid():
        try:
            actions.set_token_policy(
                request.organization,
                request.user,
                max_age_days=form.cleaned_data["max_age_days"],
                admins_only=form.cleaned_data["admins_only"],
            )
        except actions.AccountsError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "The API token policy was saved.")
            return redirect("accounts:organization")
    return _organization_page(request, token_form=form)


@require_POST
@organization_required
def organization_retention(request):
    if not request.membership.can_administer:
        return HttpResponseForbidden("Only owners and admins can change how long data is kept.")
    form = RetentionForm(request.POST, organization=request.organization)
    if form.is_valid():
        try:
            actions.set_retention(
                request.organization,
                request.user,
                runs=form.cleaned_data["runs"],
                payloads=form.cleaned_data["payloads"],
                deliveries=form.cleaned_data["deliveries"],
                audit=form.cleaned_data["audit"],
                responses=form.cleaned_data["responses"],
            )
        except actions.AccountsError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Retention was saved; the next clean-up applies it.")
            return redirect("accounts:organization")
    return _organization_page(request, retention_form=form)


@require_POST
@login_required
def switch_organization(request):
    form = SwitchOrganizationForm(
        request.POST, memberships=queries.memberships_of_user(request.user)
    )
    if form.is_valid():
        chosen = actions.switch_organization(
            request.session, request.user, form.cleaned_data["organization"]
        )
        messages.success(request, f"You are now working in {chosen.name}.")
    return redirect("accounts:organization")


# Settings: API tokens --------------------------------------------------------------------


@never_cache
@organization_required
def tokens(request):
    may_create = actions.may_create_tokens(request.membership)
    if request.method == "POST" and not may_create:
        return HttpResponseForbidden(actions.TOKENS_ADMINS_ONLY)
    form = TokenForm(request.POST or None)
    new_token = new_secret = None
    if request.method == "POST" and form.is_valid():
        try:
            new_token, new_secret = actions.create_api_token(
                request.organization, request.user, form.cleaned_data["name"]
            )
        except actions.AccountsError as error:
            form.add_error("name", str(error))
        else:
            form = TokenForm()
    return settings_page(
        request,
        "accounts/tokens.html",
        "tokens",
        form=form if may_create else None,
        refusal=None if may_create else actions.TOKENS_ADMINS_ONLY,
        max_age_days=request.organization.api_token_max_age_days,
        tokens=queries.tokens_of(request.organization, request.user),
        new_token=new_token,
        new_secret=new_secret,
    )


@require_POST
@organization_required
def revoke_token(request, token_id: int):
    try:
        token = queries.token_of(request.organization, request.user, token_id)
    except ApiToken.DoesNotExist:
        raise Http404("No such token") from None
    actions.revoke_api_token(token, request.user)
    messages.success(request, f"The token “{token.name}” was revoked.")
    return redirect("accounts:tokens")


# Settings: members and invitations ---------------------------------------------------------


def _invite_form(request, data=None) -> InviteForm:
    return InviteForm(data, can_grant_owner=request.membership.role == Role.OWNER)


@organization_required
def members(request):
    can_manage = request.membership.can_administer
    return settings_page(
        request,
        "accounts/members.html",
        "members",
        memberships=queries.memberships_of(request.organization),
        invitations=queries.open_invitations(request.organization) if can_manage else [],
        invite_form=_invite_form(request) if can_manage else None,
        roles=Role.choices,
        can_manage=can_manage,
    )


@require_POST
@administrator_required
def invite(request):
    form = _invite_form(request, request.POST)
    if form.is_valid():
        try:
            invitation = actions.invite_member(
                request.organization,
                form.cleaned_data["email"],
                form.cleaned_data["role"],
                request.user,
            )
        except actions.AccountsError as error:
            form.add_error("email", str(error))
        else:
            messages.success(request, f"An invitation was emailed to {invitation.email}.")
            return redirect("accounts:members")
    return settings_page(
        request,
        "accounts/members.html",
        "members",
        memberships=queries.memberships_of(request.organization),
        invitations=queries.open_invitations(request.organization),
        invite_form=form,
        roles=Role.choices,
        can_manage=True,
    )


def _member_or_404(request, membership_id: int) -> Membership:
    try:
        return queries.membership(request.organization, membership_id)
    except Membership.DoesNotExist:
        raise Http404("No such member") from None


@require_POST
@administrator_required
def change_role(request, membership_id: int):
    membership = _member_or_404(request, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed roles.")
        return redirect("accounts:members")
    try:
        actions.change_role(membership, form.cleaned_data["role"], request.user)
    except actions.AccountsError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, f"{membership.user.email} is now {membership.get_role_display()}."
        )
    return redirect("accounts:members")


@require_POST
@administrator_required
def remove_member(request, membership_id: int):
    membership = _member_or_404(request, membership_id)
    try:
        actions.remove_member(membership, request.user)
    except actions.AccountsError as error:
        messages.error(request, str(error))
        return redirect("accounts:members")
    messages.success(
        request, f"{membership.user.email} was removed from {request.organization.name}."
    )
    if membership.user_id == request.user.id:
        return redirect(settings.LOGIN_REDIRECT_URL)
    return redirect("accounts:members")


@require_POST
@administrator_required
def revoke_invitation(request, invitation_id: int):
    try:
        invitation = queries.open_invitation(request.organization, invitation_id)
    except Invitation.DoesNotExist:
        raise Http404("No such invitation") from None
    actions.revoke_invitation(invitation, request.user)
    messages.success(request, f"The invitation for {invitation.email} was withdrawn.")
    return redirect("accounts:members")


# Accepting an invitation -----------------------------------------------------------------


def _invitation_unusable(request, problem: str):
    return render(request, "accounts/invitation_unusable.html", {"problem": problem}, status=404)


def _join_as_current_user(request, secret: str, invitation: Invitation):
    if request.user.email != invitation.email:
        context = {"invitation": invitation}
        return render(request, "accounts/invitation_other_user.html", context, status=403)
    if request.method == "POST":
        try:
            membership = actions.accept_invitation_as(secret, request.user)
        except actions.InvitationNotUsable as error:
            return _invitation_unusable(request, str(error))
        request.session["organization_id"] = membership.organization_id
        messages.success(request, f"You joined {membership.organization.name}.")
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/invitation_join.html", {"invitation": invitation})


def _join_as_new_user(request, secret: str, invitation: Invitation):
    form = AcceptInvitationForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            membership = actions.accept_invitation(
                secret, data["password"], data["first_name"], data["last_name"]
            )
        except actions.AccountsError as error:
            return _invitation_unusable(request, str(error))
        except ValidationError as error:
            form.add_error("password", error)
        else:
            _log_in(request, membership.user, membership.organization_id)
            messages.success(request, f"Welcome to {membership.organization.name}.")
            return redirect(settings.LOGIN_REDIRECT_URL)
    return render(
        request, "accounts/invitation_accept.html", {"invitation": invitation, "form": form}
    )


@never_cache
def accept_invitation(request, secret: str):
    invitation = queries.invitation_by_secret(secret)
    problem = actions.invitation_problem(invitation)
    if problem:
        return _invitation_unusable(request, problem)
    if request.user.is_authenticated:
        return _join_as_current_user(request, secret, invitation)
    if queries.user_exists(invitation.email):
        return render(request, "accounts/invitation_login_first.html", {"invitation": invitation})
    return _join_as_new_user(request, secret, invitation)
