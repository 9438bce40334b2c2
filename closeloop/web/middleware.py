"""Pages answer a permission refusal (closeloop.surveys.permissions) with a page that says
why and whom to ask, not a bare 403; an unseen resource is the ordinary 404."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.defaults import page_not_found

from closeloop.api.errors import NotFound, NotPermitted

# The APIs and receivers answer in their own protocol before an exception gets here.
PROTOCOL_PREFIXES = ("/API/", "/api/", "/inbound/")


class PermissionPagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if request.path.startswith(PROTOCOL_PREFIXES):
            return None
        if isinstance(exception, NotPermitted):
            context = {"reason": exception.message}
            return render(request, "web/not_permitted.html", context, status=403)
        if isinstance(exception, NotFound):
            return page_not_found(request, Http404(exception.message))
        return None
