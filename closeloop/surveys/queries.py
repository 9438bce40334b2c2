"""Reads for the surveys app. Builder, results and API reads are scoped by organization;
respondent reads are by unguessable id or token (the survey id names its organization)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache

from django.db import connection
from django.db.models import Count, Model, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from closeloop.accounts.models import hash_secret
from closeloop.directory.models import Contact
from closeloop.surveys import permissions, published
from closeloop.surveys.models import (
    Response,
    ResponseExport,
    Survey,
    SurveyLink,
    SurveyShare,
    SurveyStatus,
    SurveyVersion,
)

MAX_TOKEN_LENGTH = 100


# Builder and API (organization-scoped) -------------------------------------------------------


def _visible(organization, visible_to) -> Q:
    """All the organization's surveys, or (with a user) those the user may see."""
    if visible_to is None:
        return Q(organization=organization)
    return permissions.visible_filter(organization.pk, visible_to)


def surveys_of(organization, *, visible_to=None) -> QuerySet[Survey]:
    return (
        Survey.objects.select_related("owner")
        .filter(_visible(organization, visible_to))
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


def surveys_after(organization, after_id: int, limit: int, *, visible_to=None) -> list[Survey]:
    return list(
        Survey.objects.select_related("owner")
        .filter(_visible(organization, visible_to), id__gt=after_id)
        .order_by("id")[:limit]
    )


def shares_of(survey: Survey) -> QuerySet[SurveyShare]:
    """Whom the survey is shared with: people by name, then groups by name."""
    return (
        SurveyShare.objects.select_related("user", "group")
        .filter(survey=survey)
        .order_by("group__name", "user__first_name", "user__email", "id")
    )


def share_of(survey: Survey, share_id: int | None) -> SurveyShare | None:
    if share_id is None:
        return None
    return shares_of(survey).filter(pk=share_id).first()


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
    """A survey that has been published at least once (drafts do not exist for respondents),
    with its current version from the process cache (see closeloop.surveys.published)."""
    survey = (
        Survey.objects.select_related("current_version")
        .defer("definition", "current_version__definition")
        .filter(public_id=public_id, current_version__isnull=False)
        .exclude(status=SurveyStatus.DRAFT)
        .first()
    )
    if survey is not None:
        stamp = survey.current_version
        survey.current_version = published.version(stamp.pk, stamp.published_at)
    return survey


@dataclass(frozen=True)
class LinkVisit:
    """What a respondent page of an individual link needs: the link (with its survey and
    contact), its response if started, and the version the respondent sees (cached)."""

    link: SurveyLink
    response: Response | None
    version: SurveyVersion | None


# The columns the respondent pages use; everything else stays deferred.
_VISIT_COLUMNS = {
    SurveyLink: ("l", ["id", "organization", "survey", "contact", "delivery_id",
                       "transaction_data", "embedded_data", "expires_at", "used_at"]),
    Survey: ("s", ["id", "organization", "public_id", "status", "current_version",
                   "link_expiry_days", "partial_close_hours"]),
    Contact: ("c", ["id", "organization", "first_name", "last_name", "email", "phone",
                    "ext_ref", "language", "embedded_data"]),
    Response: ("r", ["id", "organization", "public_id", "survey", "version", "contact", "link",
                     "delivery_id", "answers", "embedded_data", "language", "started_at",
                     "last_activity_at", "last_page", "progress", "finished_at", "finished"]),
    SurveyVersion: ("v", ["id", "published_at"]),
}  # fmt: skip


@cache
def _visit_query(vendor: str) -> tuple[str, list]:
    """The SQL of link_visit and, per column, (model, attname, converters). Built once: the
    ORM would compile the same five-table join on every page view (~2 ms each)."""
    columns, selected = [], []
    for model, (alias, names) in _VISIT_COLUMNS.items():
        for name in names:
            field = model._meta.get_field(name)
            col = field.get_col(alias)
            converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            selected.append(f"{alias}.{connection.ops.quote_name(field.column)}")
            columns.append((model, field.attname, col, converters))
    table = {model: connection.ops.quote_name(model._meta.db_table) for model in _VISIT_COLUMNS}
    sql = (
        f"SELECT {', '.join(selected)} FROM {table[SurveyLink]} l "
        f"JOIN {table[Survey]} s ON s.id = l.survey_id "
        f"JOIN {table[Contact]} c ON c.id = l.contact_id "
        f"LEFT JOIN {table[Response]} r ON r.link_id = l.id "
        f"LEFT JOIN {table[SurveyVersion]} v ON v.id = COALESCE(r.version_id, s.current_version_id) "
        "WHERE l.token_hash = %s"
    )
    return sql, columns


def _instances(row, columns) -> dict[type[Model], Model | None]:
    values: dict[type[Model], tuple[list, list]] = {model: ([], []) for model in _VISIT_COLUMNS}
    for value, (model, attname, col, converters) in zip(row, columns, strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        values[model][0].append(attname)
        values[model][1].append(value)
    return {
        model: None if names[1][0] is None else model.from_db(connection.alias, *names)
        for model, names in values.items()
    }


def link_visit(token: str) -> LinkVisit | None:
    """One read for a respondent page of an individual link (see LinkVisit)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    sql, columns = _visit_query(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [hash_secret(token)])
        row = cursor.fetchone()
    if row is None:
        return None
    found = _instances(row, columns)
    link, survey, response = found[SurveyLink], found[Survey], found[Response]
    link.survey, link.contact = survey, found[Contact]
    stamp = found[SurveyVersion]
    version = published.version(stamp.pk, stamp.published_at) if stamp is not None else None
    if version is not None and version.pk == survey.current_version_id:
        survey.current_version = version
    if response is not None:
        response.survey, response.link, response.version = survey, link, version
        if response.contact_id == link.contact_id:
            response.contact = link.contact
    return LinkVisit(link, response, version)


def anonymous_response(survey: Survey, public_id: str) -> Response | None:
    response = (
        Response.objects.select_related("version")
        .defer("version__definition")
        .filter(survey=survey, public_id=public_id, link__isnull=True)
        .first()
    )
    if response is not None:
        response.survey = survey
        response.version = published.version(response.version_id, response.version.published_at)
    return response


def jobs_response(public_id: str) -> Response | None:
    """For job handlers, which get the response id from the ledger."""
    return Response.objects.select_related("survey", "contact").filter(public_id=public_id).first()


def export_for_job(public_id: str) -> ResponseExport | None:
    return ResponseExport.objects.select_related("survey").filter(public_id=public_id).first()
