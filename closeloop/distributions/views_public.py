"""Endpoints a recipient's mail client reaches without logging in. Tokens are signed delivery
ids (closeloop.distributions.core.tracking_token)."""

from __future__ import annotations

import base64

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from closeloop.distributions import actions, queries
from closeloop.distributions.core import read_tracking_token

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@never_cache
def open_pixel(request, token: str):
    delivery_id = read_tracking_token(token)
    if delivery_id is not None:
        actions.record_open(delivery_id)
    return HttpResponse(PIXEL, content_type="image/gif")


@csrf_exempt
@never_cache
def unsubscribe(request, token: str):
    """GET shows a confirmation button; POST (the button, or a mail client's RFC 8058
    one-click `List-Unsubscribe=One-Click`) opts the contact out of the directory."""
    delivery_id = read_tracking_token(token)
    delivery = queries.delivery_for_tracking(delivery_id) if delivery_id else None
    if delivery is None:
        raise Http404("This unsubscribe link is not valid.")
    if request.method == "POST":
        actions.unsubscribe_delivery(delivery)
        if request.POST.get("List-Unsubscribe") == "One-Click":
            return HttpResponse("Unsubscribed.", content_type="text/plain")
        return render(request, "distributions/unsubscribed.html", {"done": True})
    return render(request, "distributions/unsubscribed.html", {"done": False, "token": token})
