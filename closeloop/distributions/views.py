"""Distributions pages: the list (all, or one survey's tab), a distribution's stats, funnel
and per-contact history (CSV too), creating a distribution, and sending domains. (The SMS
settings and the SMS simulator belong to closeloop.integrations.twilio.)

Seeing a survey's distributions needs Distribute or View results on it, creating one (or a
follow-up) Distribute (closeloop.distributions.permissions); a refusal raises NotFound or
NotPermitted, which closeloop.web.middleware renders as the 404 or a 403 page with the
reason."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from closeloop.accounts import audit
from closeloop.accounts.middleware import organization_or_404
from closeloop.api.errors import NotFound
from closeloop.directory import queries as directory_queries
from closeloop.distributions import actions, permissions, queries
from closeloop.distributions.forms import DistributionForm, DomainForm, FollowUpForm
from closeloop.distributions.models import DeliveryStatus, Distribution, Kind, LinkType
from closeloop.surveys import permissions as survey_permissions
from closeloop.surveys.permission_rules import Access
from closeloop.surveys.queries import survey_of

FUNNEL = (
    ("sent", "Sent"),
    ("opened", "Opened"),
    ("started", "Started"),
    ("finished", "Finished"),
)
OTHER_STATS = (
    ("failed", "Failed"),
    ("bounced", "Bounced"),
    ("skipped", "Skipped"),
    ("blocked", "Blocked"),
    ("complaints", "Complaints"),
    ("pending", "Pending"),
)


def _funnel(stats: dict) -> list[tuple[str, int, int]]:
    top = max(stats.get("total", 0), 1)
    return [(label, stats[key], round(100 * stats[key] / top)) for key, label in FUNNEL]


def _rows(distributions) -> list[dict]:
    rows = []
    for item in distributions:
        stats = {name: getattr(item, f"stat_{name}") for name in (*queries.STATS, "total")}
        rows.append({"distribution": item, "stats": stats, "funnel": _funnel(stats)})
    return rows


def _seen_distribution(request, distribution_id: str) -> tuple[Distribution, Access]:
    """The distribution and the user's access to its survey, if it lets them see the survey's
    distributions (404 / 403 if not)."""
    distribution = queries.distribution_of(organization_or_404(request), distribution_id)
    access = permissions.require_seeing(
        distribution.survey if distribution else None,
        request.user,
        missing="No such distribution.",
    )
    return distribution, access


@login_required
def distribution_list(request, survey_id: str = ""):
    organization = organization_or_404(request)
    survey = None
    create_why_not = ""
    if survey_id:
        survey = survey_of(organization, survey_id)
        access = permissions.require_seeing(survey, request.user)
        may_create = access.allows(permissions.DISTRIBUTE)
        create_why_not = access.why_not(permissions.DISTRIBUTE)
    else:
        may_create = permissions.may_distribute_any(organization, request.user)
    found = queries.distributions_seen_by(organization, request.user, survey=survey)
    page = Paginator(queries.with_stats(found), 25).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "rows": _rows(page),
        "survey": survey,
        "may_create": may_create,
        "create_why_not": create_why_not,
        "active": "distributions",
        "other_stats": OTHER_STATS,
    }
    return render(request, "distributions/list.html", context)


@login_required
def distribution_detail(request, distribution_id: str):
    distribution, access = _seen_distribution(request, distribution_id)
    may_follow_up = access.allows(permissions.DISTRIBUTE)
    actions.sync_survey_progress(distribution)
    stats = queries.stats_of(distribution)
    status = request.GET.get("status", "")
    if status not in DeliveryStatus.values:
        status = ""
    deliveries = queries.deliveries_of(distribution, status=status)
    page = Paginator(deliveries, 100).get_page(request.GET.get("page"))
    context = {
        "distribution": distribution,
        "sms": queries.sms_totals(distribution) if distribution.channel != "email" else None,
        "followup_form": _followup_form(request, distribution) if may_follow_up else None,
        "followup_why_not": access.why_not(permissions.DISTRIBUTE),
        "may_follow_up": may_follow_up,
        "can_follow_up": _takes_followups(distribution),
        "stats": stats,
        "funnel": _funnel(stats),
        "other_stats": [(label, stats[key]) for key, label in OTHER_STATS],
        "page": page,
        "status": status,
        "statuses": DeliveryStatus,
        "active": "distributions",
    }
    return render(request, "distributions/detail.html", context)


def _takes_followups(distribution) -> bool:
    """Reminders and thank-yous follow an invitation sent with individual links."""
    return distribution.kind == Kind.INVITE and distribution.link_type == LinkType.INDIVIDUAL


def _followup_form(request, distribution, data=None):
    if not _takes_followups(distribution):
        return None
    library = list(queries.messages_of(distribution.organization_id, request.user)[:500])
    return FollowUpForm(data, library=library, channel=distribution.channel)


@login_required
@require_POST
def followup_create(request, distribution_id: str):
    organization = organization_or_404(request)
    distribution = queries.distribution_of(organization, distribution_id)
    permissions.require_distributing(
        distribution.survey if distribution else None,
        request.user,
        missing="No such distribution.",
    )
    form = _followup_form(request, distribution, request.POST)
    if form is None or not form.is_valid():
        messages.error(request, "Choose who gets the follow-up and write or pick its message.")
        return redirect("distributions:detail", distribution.public_id)
    data = form.cleaned_data
    kind, recipient_filter = data["kind"].split(":")
    message = queries.message_of(organization, data["message"], request.user)
    inline = {} if message else {"subject": data.get("subject", ""), "text_body": data["text_body"]}
    try:
        followup = actions.create_followup(
            distribution,
            kind,
            owner=request.user,
            recipient_filter=recipient_filter,
            message=message,
            send_at=data["send_at"],
            **inline,
        )
    except actions.DistributionError as error:
        messages.error(request, str(error))
        return redirect("distributions:detail", distribution.public_id)
    messages.success(request, f"{followup.get_kind_display()} {followup.public_id} is on its way.")
    return redirect("distributions:detail", followup.public_id)


class _Echo:
    def write(self, value):
        return value


HISTORY_COLUMNS = [
    "distributionId",
    "contactId",
    "firstName",
    "lastName",
    "email",
    "status",
    "reason",
    "messageId",
    "responseId",
    "sentDate",
    "openedDate",
    "surveyStartedDate",
    "surveyFinishedDate",
    "bouncedDate",
    "complainedDate",
    "phone",
    "smsSegments",
    "smsCost",
]


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment else ""


def history_rows(distribution):
    for delivery in queries.deliveries_of(distribution).iterator(chunk_size=2000):
        contact = delivery.contact
        yield [
            distribution.public_id,
            contact.public_id,
            contact.first_name,
            contact.last_name,
            delivery.email,
            delivery.status,
            delivery.reason or delivery.error,
            delivery.message_id,
            delivery.response_id,
            _iso(delivery.sent_at),
            _iso(delivery.opened_at),
            _iso(delivery.started_at),
            _iso(delivery.finished_at),
            _iso(delivery.bounced_at),
            _iso(delivery.complained_at),
            delivery.phone,
            delivery.segments or "",
            delivery.price,
        ]


@login_required
def history_csv(request, distribution_id: str):
    organization = organization_or_404(request)
    distribution, _access = _seen_distribution(request, distribution_id)
    actions.sync_survey_progress(distribution)
    audit.record(
        organization,
        request.user,
        "export.downloaded",
        target=distribution,
        summary=f"Distribution history of {distribution.public_id} (CSV)",
    )
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(HISTORY_COLUMNS)
        for row in history_rows(distribution):
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    name = f"distribution-history-{distribution.public_id}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _refusal(organization, user, survey_id: str) -> str:
    """Why the user may not distribute the survey `?survey=` names ("" when they may, or when
    it names none); NotFound for a survey they do not see."""
    if not survey_id:
        return ""
    survey = survey_of(organization, survey_id)
    if survey is None:
        raise NotFound("No such survey.")
    access = survey_permissions.access(survey, user)
    if not access.visible:
        raise NotFound("No such survey.")
    return access.why_not(permissions.DISTRIBUTE)


@login_required
def distribution_create(request):
    organization = organization_or_404(request)
    why_not = _refusal(organization, request.user, request.GET.get("survey", ""))
    if why_not:
        context = {"why_not": why_not, "active": "distributions"}
        return render(request, "distributions/create.html", context, status=403)
    surveys = list(permissions.distributable_surveys(organization, request.user)[:500])
    directory = directory_queries.default_directory(organization)
    lists = list(directory_queries.mailing_lists_of(organization, directory)) if directory else []
    library = list(queries.messages_of(organization, request.user)[:500])
    initial = {"survey": request.GET.get("survey", ""), "message": request.GET.get("message", "")}
    form = DistributionForm(
        request.POST or None,
        surveys=surveys,
        mailing_lists=lists,
        library=library,
        initial=initial,
        organization=organization,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        survey = survey_of(organization, data["survey"])
        permissions.require_distributing(survey, request.user)
        mailing_list = directory_queries.mailing_list(organization, data["mailing_list"], directory)
        send_at = data["send_at"] if data["when"] == "later" else None
        message = queries.message_of(organization, data["message"], request.user)
        # A library message replaces what the form prefilled (inline text would win otherwise).
        inline = {} if message else {"subject": data["subject"], "text_body": data["text_body"]}
        try:
            distribution = actions.create_distribution(
                organization,
                survey,
                owner=request.user,
                mailing_list=mailing_list,
                channel=data["channel"] or "email",
                message=message,
                **inline,
                from_name=data["from_name"],
                from_email=data["from_email"],
                reply_to=data["reply_to"],
                send_at=send_at,
            )
        except actions.DistributionError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Distribution {distribution.public_id} is on its way.")
            return redirect("distributions:detail", distribution.public_id)
    context = {"form": form, "active": "distributions", "has_surveys": bool(surveys)}
    return render(request, "distributions/create.html", context)


@login_required
def domains(request):
    organization = organization_or_404(request)
    form = DomainForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            domain = actions.add_domain(organization, form.cleaned_data["domain"])
        except actions.DistributionError as error:
            form.add_error("domain", str(error))
        else:
            messages.success(request, f"Publish the TXT record below for {domain.domain}.")
            return redirect("distributions:domains")
    context = {
        "form": form,
        "domains": queries.domains_of(organization),
        "active": "distributions",
    }
    return render(request, "distributions/domains.html", context)


@login_required
@require_POST
def domain_check(request, domain_id: int):
    domain = queries.domain_of(organization_or_404(request), domain_id)
    if domain is None:
        raise Http404("No such domain.")
    if actions.verify_domain(domain):
        messages.success(request, f"{domain.domain} is verified.")
    else:
        messages.error(request, domain.last_error)
    return redirect("distributions:domains")


@login_required
@require_POST
def domain_delete(request, domain_id: int):
    domain = queries.domain_of(organization_or_404(request), domain_id)
    if domain is None:
        raise Http404("No such domain.")
    actions.delete_domain(domain)
    messages.success(request, f"{domain.domain} removed.")
    return redirect("distributions:domains")
