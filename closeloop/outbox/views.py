from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from closeloop.accounts.middleware import organization_or_404
from closeloop.outbox import actions, queries
from closeloop.outbox.models import Channel, OutboxMessage


@login_required
def message_list(request):
    organization = organization_or_404(request)
    channel = request.GET.get("channel", "")
    if channel not in Channel.values:
        channel = ""
    search = request.GET.get("q", "").strip()[:200]
    found = queries.messages_for(organization, channel=channel, search=search)
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "channel": channel,
        "search": search,
        "active": "outbox",
        "channels": Channel,
    }
    if request.htmx and request.htmx.target == "outbox-rows":
        return render(request, "outbox/list.html#rows", context)
    return render(request, "outbox/list.html", context)


@login_required
def message_detail(request, message_id: int):
    organization = organization_or_404(request)
    try:
        message = queries.message_for(organization, message_id)
    except OutboxMessage.DoesNotExist:
        raise Http404("No such message in your outbox.") from None
    return render(request, "outbox/detail.html", {"message": message, "active": "outbox"})


@login_required
@require_POST
def clear(request):
    organization = organization_or_404(request)
    if request.membership is None or not request.membership.can_administer:
        messages.error(request, "Only owners and admins can clear the outbox.")
        return redirect("outbox:list")
    deleted = actions.clear(organization)
    messages.success(request, f"Deleted {deleted} message(s) from the outbox.")
    return redirect("outbox:list")
