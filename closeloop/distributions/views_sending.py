"""Settings → Sending: the organization's default sender (from name, from address, reply-to)
that new distributions start with, beside its verified sending domains.

The fields are the organization's (closeloop.accounts), saved by accounts.actions; whether the
organization may send from an address (the server's default sender's domain, or a domain it
has verified) is this app's rule, checked here before saving.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseForbidden
from django.shortcuts import redirect

from closeloop.accounts import actions as accounts_actions
from closeloop.accounts.forms import DefaultSenderForm
from closeloop.accounts.views import organization_required, settings_page
from closeloop.distributions import queries
from closeloop.distributions.actions import DistributionError, check_from_address, default_sender


def _current_problem(organization) -> str:
    """Why the saved default from address can no longer be used (its domain was removed or
    lost its verification), or ""."""
    if not organization.default_from_email:
        return ""
    try:
        check_from_address(organization, organization.default_from_email)
    except DistributionError as error:
        return str(error)
    return ""


def _checked(form: DefaultSenderForm, organization) -> str | None:
    """The from address if the organization may send from it; a form error otherwise."""
    try:
        return check_from_address(organization, form.cleaned_data["from_email"])
    except DistributionError as error:
        form.add_error("from_email", str(error))
        return None


@organization_required
def sending(request):
    organization = request.organization
    can_manage = request.membership.can_administer
    if request.method == "POST" and not can_manage:
        return HttpResponseForbidden("Only owners and admins can change the default sender.")
    form = DefaultSenderForm(request.POST or None, organization=organization)
    if request.method == "POST" and form.is_valid():
        from_email = _checked(form, organization)
        if from_email is not None:
            try:
                accounts_actions.set_default_sender(
                    organization,
                    request.user,
                    from_name=form.cleaned_data["from_name"],
                    from_email=from_email,
                    reply_to=form.cleaned_data["reply_to"],
                )
            except accounts_actions.AccountsError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, "The default sender was saved.")
                return redirect("distributions:sending")
    server_name, server_address = default_sender()
    return settings_page(
        request,
        "distributions/sending.html",
        "sending",
        form=form if can_manage else None,
        can_manage=can_manage,
        domains=queries.domains_of(organization),
        server_sender=server_address,
        server_sender_name=server_name,
        problem=_current_problem(organization),
    )
