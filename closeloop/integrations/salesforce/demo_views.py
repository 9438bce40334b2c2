"""Extensions → Salesforce → a demo account's recorded writes: what the demo org was asked to
write (instead of Salesforce) and the records it holds now."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from closeloop.accounts.middleware import organization_or_404
from closeloop.integrations.salesforce import demo_backend, queries


@login_required
def demo_writes(request, public_id: str):
    organization = organization_or_404(request)
    account = queries.usable_accounts(organization, request.user).filter(public_id=public_id)
    account = account.first()
    if account is None or not demo_backend.is_demo(account):
        raise Http404("No such demo Salesforce account.")
    return render(
        request,
        "salesforce/demo_writes.html",
        {
            "active": "extensions",
            "account": account,
            "writes": demo_backend.writes_of(account),
            "records": demo_backend.records_of(account),
            "demo_label": demo_backend.DEMO_LABEL,
        },
    )
