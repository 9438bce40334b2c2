"""/api/v1/surveys: surveys with their definition as JSON (export with GET, import with POST
and PUT), and publishing. Register on the v1 API with `api.add_router("", surveys_router)`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from closeloop.api import problems
from closeloop.api.auth import token_of
from closeloop.api.errors import ApiError, InvalidRequest, NotFound, NotPermitted
from closeloop.surveys import actions, permissions, queries
from closeloop.surveys.definition import DefinitionError
from closeloop.surveys.models import Survey
from closeloop.surveys.permission_rules import Permission

router = Router(tags=["Surveys"])

PAGE_SIZE = 100


class SurveyIn(Schema):
    name: str
    definition: dict[str, Any] | None = None
    languages: list[str] | None = None


class SurveyUpdate(Schema):
    name: str | None = None
    definition: dict[str, Any] | None = None
    languages: list[str] | None = None


class SurveySummary(Schema):
    id: str
    name: str
    status: str
    languages: list[str]
    publishedVersion: int | None
    hasUnpublishedChanges: bool
    owner: str | None
    createdAt: str
    modifiedAt: str
    anonymousLink: str | None


class SurveyOut(SurveySummary):
    definition: dict[str, Any]


class SurveyPage(Schema):
    surveys: list[SurveySummary]
    next: str | None


class VersionOut(Schema):
    surveyId: str
    version: int
    publishedAt: str
    status: str


class Unprocessable(InvalidRequest):
    status = 422


def _summary(survey: Survey) -> dict:
    version = survey.current_version
    return {
        "id": survey.public_id,
        "name": survey.name,
        "status": survey.status,
        "languages": survey.languages,
        "publishedVersion": version.number if version else None,
        "hasUnpublishedChanges": survey.has_unpublished_changes,
        "owner": survey.owner.public_id if survey.owner_id and survey.owner else None,
        "createdAt": survey.created_at.isoformat(),
        "modifiedAt": survey.modified_at.isoformat(),
        "anonymousLink": actions.anonymous_url(survey) if version else None,
    }


def _full(survey: Survey) -> dict:
    return {**_summary(survey), "definition": survey.definition}


def _invalid(error: DefinitionError) -> ApiError:
    details = [{"location": ["body", "definition"], "message": p} for p in error.problems[:50]]
    return Unprocessable(
        "The survey definition is not valid: " + "; ".join(error.problems[:3]), details=details
    )


def _survey(request: HttpRequest, survey_id: str, permission: Permission | None = None) -> Survey:
    """The survey, if the token's user may see it (and do `permission` with it): NotFound,
    or NotPermitted with the reason, otherwise."""
    token = token_of(request)
    survey = queries.survey_of(token.organization, survey_id)
    found = permissions.access(survey, token.user) if survey is not None else None
    if found is None or not found.visible:
        raise NotFound(f"There is no survey {survey_id}.")
    if permission is not None and not found.allows(permission):
        raise NotPermitted(found.why_not(permission))
    return survey


@router.get("/surveys", response=problems.responses(SurveyPage), summary="List surveys")
def list_surveys(request, after: int = 0):
    token = token_of(request)
    page = queries.surveys_after(token.organization, after, PAGE_SIZE + 1, visible_to=token.user)
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    following = f"{request.path}?after={page[-1].pk}" if more else None
    return {"surveys": [_summary(survey) for survey in page], "next": following}


@router.post(
    "/surveys",
    response={201: SurveyOut, 401: problems.Problem, 422: problems.Problem},
    summary="Create a survey (optionally from an exported definition)",
)
def create_survey(request, body: SurveyIn):
    token = token_of(request)
    try:
        survey = actions.create_survey(
            token.organization, token.user, body.name, body.definition, body.languages
        )
    except DefinitionError as error:
        raise _invalid(error) from None
    return Status(201, _full(survey))


@router.get(
    "/surveys/{survey_id}",
    response=problems.responses(SurveyOut, 404),
    summary="Get a survey with its draft definition (export)",
)
def get_survey(request, survey_id: str):
    return _full(_survey(request, survey_id))


@router.put(
    "/surveys/{survey_id}",
    response=problems.responses(SurveyOut, 404, 422),
    summary="Replace a survey's name, draft definition or languages (import)",
)
def update_survey(request, survey_id: str, body: SurveyUpdate):
    survey = _survey(request, survey_id, Permission.EDIT)
    try:
        if body.name is not None:
            actions.rename_survey(survey, body.name)
        if body.definition is not None or body.languages is not None:
            definition = body.definition if body.definition is not None else survey.definition
            actions.save_definition(survey, definition, languages=body.languages)
    except DefinitionError as error:
        raise _invalid(error) from None
    return _full(survey)


@router.post(
    "/surveys/{survey_id}/publish",
    response=problems.responses(VersionOut, 404, 422),
    summary="Publish the draft: respondents see it from now on",
)
def publish_survey(request, survey_id: str):
    survey = _survey(request, survey_id, Permission.EDIT)
    try:
        version = actions.publish(survey, token_of(request).user)
    except DefinitionError as error:
        raise _invalid(error) from None
    return {
        "surveyId": survey.public_id,
        "version": version.number,
        "publishedAt": version.published_at.isoformat(),
        "status": survey.status,
    }
