"""Reads for the surveys app. Builder, results and API reads are scoped by organization;
respondent reads are by unguessable id or token (the survey id names its organization)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Count, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from closeloop.accounts.models import hash_secret
from closeloop.surveys.models import (
    Response,
    ResponseExport,
    Survey,
    SurveyLink,
    SurveyStatus,
)

MAX_TOKEN_LENGTH = 100


# Builder and API (organization-scoped) -------------------------------------------------------


def surveys_of(organization) -> QuerySet[Survey]:
    return (
        Survey.objects.filter(organization=organization)
        .annotate(response_count=Count("responses", filter=Q(responses__finished_at__isnull=False)))
        .order_by("-modified_at", "-id")
    )


def survey_of(organization, public_id: str) -> Survey | None:
    if organization is None:
        return None
    return (
        Survey.objects.select_related("current_version", "owner")
        .filter(organization=organization, public_id=public_id)
        .first()
    )


def surveys_after(organization, after_id: int, limit: int) -> list[Survey]:
    return list(
        Survey.objects.select_related("owner")
        .filter(organization=organization, id__gt=after_id)
        .order_by("id")[:limit]
    )


def versions_of(survey: Survey):
    return survey.versions.select_related("published_by").order_by("-number")


@dataclass(frozen=True)
class ResponseFilter:
    status: str = ""  # "", finished, partial, in_progress
    since: date | None = None
    until: date | None = None
    search: str = ""  # a response id, a contact's email or name
    embedded_name: str = ""
    embedded_value: str = ""


def responses_of(survey: Survey, filters: ResponseFilter | None = None) -> QuerySet[Response]:
    """A survey's responses (the survey was already read with its organization)."""
    filters = filters or ResponseFilter()
    responses = (
        Response.objects.filter(survey=survey, organization_id=survey.organization_id)
        .select_related("contact")
        .order_by("-started_at", "-id")
    )
    if filters.status == "finished":
        responses = responses.filter(finished=True)
    elif filters.status == "partial":
        responses = responses.filter(finished=False, finished_at__isnull=False)
    elif filters.status == "in_progress":
        responses = responses.filter(finished_at__isnull=True)
    if filters.since:
        start = timezone.make_aware(datetime.combine(filters.since, time.min))
        responses = responses.filter(started_at__gte=start)
    if filters.until:
        end = timezone.make_aware(datetime.combine(filters.until, time.max))
        responses = responses.filter(started_at__lte=end)
    if filters.search:
        term = filters.search.strip()
        responses = responses.filter(
            Q(public_id=term)
            | Q(contact__email__iexact=term)
            | Q(contact__first_name__icontains=term)
            | Q(contact__last_name__icontains=term)
        )
    if filters.embedded_name:
        # Cast: compare as plain text on both databases (no JSON decoding of the value).
        value = Cast(KeyTextTransform(filters.embedded_name, "embedded_data"), TextField())
        responses = responses.alias(embedded_value=value).filter(
            embedded_value=filters.embedded_value
        )
    return responses


def recorded_responses(survey: Survey) -> QuerySet[Response]:
    return (
        Response.objects.filter(
            survey=survey, organization_id=survey.organization_id, finished_at__isnull=False
        )
        .select_related("contact")
        .order_by("finished_at", "id")
    )


def response_of(survey: Survey, public_id: str) -> Response | None:
    return (
        Response.objects.filter(
            survey=survey, organization_id=survey.organization_id, public_id=public_id
        )
        .select_related("contact", "version")
        .first()
    )


def export_of(survey: Survey, progress_id: str) -> ResponseExport | None:
    return ResponseExport.objects.filter(
        survey=survey, organization_id=survey.organization_id, public_id=progress_id
    ).first()


def export_file(survey: Survey, file_id: str) -> ResponseExport | None:
    return ResponseExport.objects.filter(
        survey=survey, organization_id=survey.organization_id, file_id=file_id
    ).first()


# Respondents (public, by id or token) ---------------------------------------------------------


def survey_for_respondents(public_id: str) -> Survey | None:
    """A survey that has been published at least once (drafts do not exist for respondents)."""
    return (
        Survey.objects.select_related("current_version")
        .filter(public_id=public_id, current_version__isnull=False)
        .exclude(status=SurveyStatus.DRAFT)
        .first()
    )


def link_by_token(token: str) -> SurveyLink | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return (
        SurveyLink.objects.select_related("survey", "survey__current_version", "contact")
        .filter(token_hash=hash_secret(token))
        .first()
    )


def response_of_link(link: SurveyLink) -> Response | None:
    return Response.objects.select_related("version", "contact").filter(link=link).first()


def anonymous_response(survey: Survey, public_id: str) -> Response | None:
    return (
        Response.objects.select_related("version")
        .filter(survey=survey, public_id=public_id, link__isnull=True)
        .first()
    )


def jobs_response(public_id: str) -> Response | None:
    """For job handlers, which get the response id from the ledger."""
    return Response.objects.select_related("survey", "contact").filter(public_id=public_id).first()


def export_for_job(public_id: str) -> ResponseExport | None:
    return ResponseExport.objects.select_related("survey").filter(public_id=public_id).first()
