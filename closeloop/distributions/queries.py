"""Organization-scoped reads of distributions, deliveries, library messages and domains
(`distributions_seen_by`: only those of the surveys the user may see distributions of)."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet, Sum

from closeloop.distributions import permissions
from closeloop.distributions.costs import describe_cost, total_cost
from closeloop.distributions.models import (
    Delivery,
    DeliveryStatus,
    Distribution,
    Message,
    VerifiedDomain,
)
from closeloop.surveys.models import Survey

STAT_FILTERS = {
    "sent": Q(deliveries__sent_at__isnull=False),
    "failed": Q(deliveries__status=DeliveryStatus.FAILURE),
    "opened": Q(deliveries__opened_at__isnull=False),
    "started": Q(deliveries__started_at__isnull=False),
    "finished": Q(deliveries__finished_at__isnull=False),
    "bounced": Q(deliveries__bounced_at__isnull=False),
    "skipped": Q(deliveries__status=DeliveryStatus.SKIPPED),
    "blocked": Q(deliveries__status=DeliveryStatus.BLOCKED),
    "complaints": Q(deliveries__complained_at__isnull=False),
    "pending": Q(deliveries__status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
}
STATS = tuple(STAT_FILTERS)


def with_stats(distributions: QuerySet) -> QuerySet:
    return distributions.annotate(
        **{
            f"stat_{name}": Count("deliveries", filter=condition)
            for name, condition in STAT_FILTERS.items()
        },
        stat_total=Count("deliveries"),
    )


def stats_of(distribution: Distribution) -> dict[str, int]:
    found = with_stats(Distribution.objects.filter(pk=distribution.pk)).get()
    return {name: getattr(found, f"stat_{name}") for name in (*STATS, "total")}


def sms_totals(distribution: Distribution) -> dict:
    """Segments and cost of the SMS sent (prices arrive with the send or a status callback)."""
    sent = Delivery.objects.filter(distribution=distribution, sent_at__isnull=False)
    segments = sent.aggregate(total=Sum("segments"))["total"] or 0
    prices = list(sent.exclude(price="").values_list("price", flat=True).iterator(chunk_size=2000))
    return {"segments": segments, "cost": describe_cost(total_cost(prices)), "priced": len(prices)}


def distributions_of(organization, *, survey=None) -> QuerySet:
    found = Distribution.objects.filter(organization=organization)
    if survey is not None:
        found = found.filter(survey=survey)
    return found.select_related(
        "survey", "mailing_list", "contact", "owner", "library_message"
    ).order_by("-created_at", "-id")


def distributions_seen_by(organization, user, *, survey=None) -> QuerySet:
    """The distributions of the surveys on which `user` has Distribute or View results,
    filtered in SQL (no filter at all for the organization's owners and admins)."""
    found = distributions_of(organization, survey=survey)
    if permissions.sees_everything(organization.pk, user):
        return found
    surveys = Survey.objects.filter(permissions.seeing_filter(organization.pk, user))
    return found.filter(survey__in=surveys.values("pk"))


def distribution_of(organization, public_id: str) -> Distribution | None:
    return (
        Distribution.objects.filter(organization=organization, public_id=public_id)
        .select_related("survey", "mailing_list", "contact", "parent", "library_message")
        .first()
    )


def deliveries_of(distribution: Distribution, *, status: str = "") -> QuerySet:
    found = Delivery.objects.filter(distribution=distribution)
    if status:
        found = found.filter(status=status)
    return found.select_related("contact").order_by("id")


def deliveries_of_contact(organization, contact) -> QuerySet:
    return (
        Delivery.objects.filter(organization=organization, contact=contact)
        .select_related("distribution", "distribution__survey")
        .order_by("-created_at", "-id")
    )


def delivery_for_tracking(public_id: str) -> Delivery | None:
    """Public endpoints: the token was signed by us, so no organization scope is needed."""
    return Delivery.objects.select_related("contact").filter(public_id=public_id).first()


def messages_of(organization, user=None) -> QuerySet:
    """The organization's library and the user's own messages."""
    visible = Q(owner__isnull=True)
    if user is not None:
        visible |= Q(owner=user)
    return Message.objects.filter(organization=organization).filter(visible)


def search_messages(organization, user, *, search: str = "", channel: str = "") -> QuerySet:
    """The library page: visible messages, by name/subject/body text and channel."""
    found = messages_of(organization, user).select_related("owner")
    if channel:
        found = found.filter(channel=channel)
    if search:
        found = found.filter(
            Q(name__icontains=search)
            | Q(subject__icontains=search)
            | Q(text_body__icontains=search)
            | Q(html_body__icontains=search)
        )
    return found


def message_of(organization, public_id: str, user=None) -> Message | None:
    return messages_of(organization, user).filter(public_id=public_id).first()


def domains_of(organization) -> QuerySet:
    return VerifiedDomain.objects.filter(organization=organization)


def domain_of(organization, domain_id: int) -> VerifiedDomain | None:
    return VerifiedDomain.objects.filter(organization=organization, pk=domain_id).first()
