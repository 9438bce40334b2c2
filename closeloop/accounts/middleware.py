"""Attach the current organization and membership to each request; send a fresh install to setup."""

from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse

from closeloop.accounts import queries

# Machines, not people, call these: they answer in their own protocol, set up or not.
SETUP_EXEMPT_PREFIXES = ("/setup", "/static/", "/healthz", "/readyz", "/API/", "/api/", "/inbound/")


class OrganizationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = None
        request.membership = None
        if request.user.is_authenticated:
            membership = queries.current_membership(
                request.user, request.session.get("organization_id")
            )
            if membership is not None:
                request.membership = membership
                request.organization = membership.organization
        elif not request.path.startswith(SETUP_EXEMPT_PREFIXES) and queries.needs_setup():
            return redirect(reverse("accounts:setup"))
        return self.get_response(request)


def organization_or_404(request):
    """The organization of the signed-in member, as this middleware attached it (404 for a
    user in none): what every organization page starts with."""
    if request.organization is None:
        raise Http404("You are not a member of any organization.")
    return request.organization
