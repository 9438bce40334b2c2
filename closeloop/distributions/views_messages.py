"""The message library: list and search, create, edit (with a preview that uses sample piped
values) and delete email and SMS messages. Organization messages are shared by its members;
personal ones are seen and changed by their owner only (queries.messages_of)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from closeloop.accounts.middleware import organization_or_404
from closeloop.distributions import actions, queries
from closeloop.distributions.forms import MessageForm
from closeloop.distributions.models import Message, MessageChannel
from closeloop.distributions.preview import render_preview


def _channel(value: str) -> str:
    return value if value in MessageChannel.values else ""


def _message_or_404(request, message_id: str) -> Message:
    found = queries.message_of(organization_or_404(request), message_id, request.user)
    if found is None:
        raise Http404("No such message in your library.")
    return found


@login_required
def message_list(request):
    organization = organization_or_404(request)
    search = request.GET.get("q", "").strip()[:200]
    channel = _channel(request.GET.get("channel", ""))
    found = queries.search_messages(organization, request.user, search=search, channel=channel)
    context = {
        "page": Paginator(found, 50).get_page(request.GET.get("page")),
        "search": search,
        "channel": channel,
        "channels": MessageChannel,
        "active": "distributions",
    }
    return render(request, "distributions/messages.html", context)


def _fields(form: MessageForm) -> dict:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "category": data["category"],
        "subject": data.get("subject", ""),
        "html_body": data.get("html_body", ""),
        "text_body": data.get("text_body", ""),
    }


def _preview(channel: str, fields: dict):
    return render_preview(
        channel=channel,
        subject=fields["subject"],
        html_body=fields["html_body"],
        text_body=fields["text_body"],
    )


def _editor(request, *, channel: str, message: Message | None):
    """Create (message None) or edit. "Preview" renders the form's text without saving."""
    initial = {}
    if message is not None:
        initial = {
            "name": message.name,
            "category": message.category,
            "subject": message.subject,
            "html_body": message.html_body,
            "text_body": message.text_body,
            "shared": message.owner_id is None,
        }
    form = MessageForm(request.POST or None, initial=initial, channel=channel)
    preview = _preview(channel, initial) if message is not None else None
    if request.method == "POST" and form.is_valid():
        fields = _fields(form)
        owner = None if form.cleaned_data["shared"] else request.user
        if "preview" in request.POST:
            preview = _preview(channel, fields)
        else:
            try:
                if message is None:
                    message = actions.create_message(
                        organization_or_404(request), channel=channel, owner=owner, **fields
                    )
                else:
                    actions.update_message(message, owner=owner, **fields)
            except actions.DistributionError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"Message {message.name!r} saved.")
                return redirect("distributions:message-edit", message.public_id)
    context = {
        "form": form,
        "message": message,
        "channel": channel,
        "channel_label": MessageChannel(channel).label,
        "preview": preview,
        "active": "distributions",
    }
    return render(request, "distributions/message_form.html", context)


@login_required
def message_create(request):
    organization_or_404(request)
    channel = _channel(request.GET.get("channel", "")) or MessageChannel.EMAIL
    return _editor(request, channel=channel, message=None)


@login_required
def message_edit(request, message_id: str):
    message = _message_or_404(request, message_id)
    return _editor(request, channel=message.channel, message=message)


@login_required
@require_POST
def message_delete(request, message_id: str):
    message = _message_or_404(request, message_id)
    actions.delete_message(message)
    messages.success(request, f"Message {message.name!r} deleted.")
    return redirect("distributions:messages")
