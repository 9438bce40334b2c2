"""The audit log page for owners and admins, and its CSV export."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.utils import timezone

from closeloop.accounts import audit
from closeloop.accounts.forms import AuditFilterForm
from closeloop.accounts.views import administrator_required, settings_page

PAGE_SIZE = 50


def _filters(request) -> tuple[AuditFilterForm, audit.Filters]:
    form = AuditFilterForm(request.GET or None, actors=audit.actors(request.organization))
    if not form.is_valid():
        return form, audit.Filters()
    data = form.cleaned_data
    return form, audit.Filters(
        action=data["action"] or "",
        actor=data["actor"] or "",
        since=data["since"],
        until=data["until"],
        text=(data["text"] or "").strip(),
    )


@administrator_required
def audit_log(request):
    form, filters = _filters(request)
    page = Paginator(audit.events(request.organization, filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for event in page:
        event.label = audit.ACTIONS.get(event.action, event.action)
    query = request.GET.copy()
    query.pop("page", None)
    return settings_page(
        request,
        "accounts/audit.html",
        "audit",
        form=form,
        page=page,
        query=query.urlencode(),
    )


@administrator_required
def audit_export(request):
    _, filters = _filters(request)
    audit.record(
        request.organization,
        request.user,
        "audit.exported",
        summary="Audit log exported as CSV",
        filters={k: str(v) for k, v in vars(filters).items() if v},
    )
    found = audit.events(request.organization, filters).iterator(chunk_size=500)
    response = StreamingHttpResponse(audit.csv_lines(found), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
