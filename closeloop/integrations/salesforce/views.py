"""Extensions → Salesforce: the linked accounts a user has, and the OAuth round trip."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from closeloop.accounts.middleware import organization_or_404
from closeloop.integrations.salesforce import actions, queries
from closeloop.integrations.salesforce.forms import LinkAccountForm, RenameAccountForm
from closeloop.integrations.salesforce.models import MAX_ACCOUNTS_PER_USER

SESSION_KEY = "salesforce_pending_links"


def back_to(request, where: str) -> str:
    """A local page to return to after linking (the workflow editor it was started from)."""
    if where and url_has_allowed_host_and_scheme(where, allowed_hosts={request.get_host()}):
        return where
    return ""


def is_admin(request) -> bool:
    return bool(request.membership and request.membership.can_administer)


@login_required
def accounts(request, form: LinkAccountForm | None = None):
    organization = organization_or_404(request)
    listed = queries.usable_accounts(organization, request.user)
    own = [account for account in listed if account.owner_id == request.user.pk]
    return render(
        request,
        "salesforce/accounts.html",
        {
            "active": "extensions",
            "own_accounts": own,
            "shared_accounts": [a for a in listed if a.owner_id != request.user.pk],
            "form": form or LinkAccountForm(),
            "rename_form": RenameAccountForm(),
            "can_add": len(own) < MAX_ACCOUNTS_PER_USER,
            "max_accounts": MAX_ACCOUNTS_PER_USER,
            "is_admin": is_admin(request),
            "next": back_to(request, request.GET.get("next") or request.POST.get("next", "")),
        },
    )


def redirect_to_salesforce(request, authorize_url: str, kept: dict) -> HttpResponseRedirect:
    pending = request.session.get(SESSION_KEY, {})
    pending[kept["state"]] = kept
    request.session[SESSION_KEY] = dict(list(pending.items())[-5:])  # a few tabs at most
    return redirect(authorize_url)


@login_required
@require_POST
def link(request):
    organization_or_404(request)
    form = LinkAccountForm(request.POST)
    if not form.is_valid():
        return accounts(request, form)
    try:
        authorize_url, kept = actions.start_linking(
            request.user,
            form.cleaned_data["environment"],
            form.cleaned_data["name"],
            form.cleaned_data["my_domain_url"],
        )
    except actions.LinkError as error:
        form.add_error(None, str(error))
        return accounts(request, form)
    kept["next"] = back_to(request, request.POST.get("next", ""))
    return redirect_to_salesforce(request, authorize_url, kept)


@login_required
def callback(request):
    organization = organization_or_404(request)
    state = request.GET.get("state", "")
    kept = request.session.get(SESSION_KEY, {}).pop(state, None)
    request.session.modified = True
    if "error" in request.GET:
        description = request.GET.get("error_description") or request.GET["error"]
        messages.error(request, f"Salesforce did not link the account: {description}.")
        return redirect("salesforce:accounts")
    try:
        account = actions.finish_linking(
            request.user, organization, kept, state=state, code=request.GET.get("code", "")
        )
    except actions.LinkError as error:
        messages.error(request, str(error))
        return redirect("salesforce:accounts")
    messages.success(
        request,
        f"Linked {account.name}: {account.username} in org {account.salesforce_organization_id}.",
    )
    return redirect(back_to(request, kept.get("next", "")) or "salesforce:accounts")


def own_account_or_404(request, public_id: str):
    account = queries.own_account(organization_or_404(request), request.user, public_id)
    if account is None:
        raise Http404("No such linked account of yours.")
    return account


@login_required
@require_POST
def rename(request, public_id: str):
    account = own_account_or_404(request, public_id)
    form = RenameAccountForm(request.POST)
    try:
        if not form.is_valid():
            raise actions.LinkError("Enter a name.")
        actions.rename(account, form.cleaned_data["name"])
    except actions.LinkError as error:
        messages.error(request, str(error))
    return redirect("salesforce:accounts")


@login_required
@require_POST
def reconnect(request, public_id: str):
    account = own_account_or_404(request, public_id)
    try:
        authorize_url, kept = actions.start_linking(
            request.user, account.environment, account.name, account=account
        )
    except actions.LinkError as error:
        messages.error(request, str(error))
        return redirect("salesforce:accounts")
    return redirect_to_salesforce(request, authorize_url, kept)


@login_required
@require_POST
def share(request, public_id: str):
    """Admins share their own accounts with the organization, and may stop any sharing."""
    account = queries.account_in(organization_or_404(request), public_id)
    shared = request.POST.get("shared") == "1"
    allowed = (
        is_admin(request)
        and (account is not None)
        and (account.owner_id == request.user.pk or not shared)
    )
    if not allowed:
        raise Http404("Only an admin shares their own linked accounts with the organization.")
    actions.set_shared(account, shared)
    return redirect("salesforce:accounts")


@login_required
@require_POST
def remove(request, public_id: str):
    account = own_account_or_404(request, public_id)
    name = account.name
    warning = actions.remove(account, request.user)
    if warning:
        messages.warning(request, f"Removed {name}. {warning}")
    else:
        messages.success(request, f"Removed {name}; its token is revoked at Salesforce.")
    return redirect("salesforce:accounts")
