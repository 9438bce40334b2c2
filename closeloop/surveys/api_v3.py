"""/API/v3 surveys subset: list and get surveys, and the response export flow.

    POST /surveys/{surveyId}/export-responses            {"format": "csv" | "json"}
         → {"progressId": "ES_…", "percentComplete": 0.0, "status": "inProgress"}
    GET  /surveys/{surveyId}/export-responses/{progressId}
         → {"fileId": "…", "percentComplete": 100.0, "status": "complete"}
    GET  /surveys/{surveyId}/export-responses/{fileId}/file   → application/zip

The export runs as a ledger job (surveys.export_responses). Register on the v3 API with
`api.add_router("", surveys_v3_router)`.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema

from closeloop.accounts import audit
from closeloop.api import qualtrics
from closeloop.api.auth import token_of
from closeloop.api.errors import InvalidRequest, NotFound, NotPermitted
from closeloop.surveys import actions, exports, permissions, queries
from closeloop.surveys.models import ExportStatus, Survey, SurveyStatus
from closeloop.surveys.permission_rules import Permission

router = Router(tags=["Surveys"])

PAGE_SIZE = 100


class SurveyElement(Schema):
    id: str
    name: str
    ownerId: str | None
    lastModified: str
    creationDate: str
    isActive: bool


class SurveyList(Schema):
    elements: list[SurveyElement]
    nextPage: str | None


class ExportRequest(Schema):
    format: str = "csv"


class ExportProgress(Schema):
    progressId: str | None = None
    fileId: str | None = None
    percentComplete: float
    status: str


def _survey(request: HttpRequest, survey_id: str, permission: Permission | None = None) -> Survey:
    """The survey, if the token's user may see it (and do `permission` with it): NotFound,
    or NotPermitted with the reason, otherwise."""
    token = token_of(request)
    survey = queries.survey_of(token.organization, survey_id)
    found = permissions.access(survey, token.user) if survey is not None else None
    if found is None or not found.visible:
        raise NotFound(f"Invalid surveyId: {survey_id}")
    if permission is not None and not found.allows(permission):
        raise NotPermitted(found.why_not(permission))
    return survey


def _element(survey: Survey) -> dict:
    return {
        "id": survey.public_id,
        "name": survey.name,
        "ownerId": survey.owner.public_id if survey.owner else None,
        "lastModified": survey.modified_at.isoformat().replace("+00:00", "Z"),
        "creationDate": survey.created_at.isoformat().replace("+00:00", "Z"),
        "isActive": survey.status == SurveyStatus.ACTIVE,
    }


@router.get("/surveys", response=qualtrics.responses(SurveyList), summary="List surveys")
def list_surveys(request, skipToken: str | None = None):
    position = qualtrics.decode_skip_token(skipToken)
    token = token_of(request)
    page = queries.surveys_after(token.organization, position, PAGE_SIZE + 1, visible_to=token.user)
    following = None
    if len(page) > PAGE_SIZE:
        page = page[:PAGE_SIZE]
        following = qualtrics.next_page_url(request, page[-1].pk)
    result = {"elements": [_element(survey) for survey in page], "nextPage": following}
    return qualtrics.ok(result, request=request)


@router.get(
    "/surveys/{surveyId}", response=qualtrics.responses(SurveyElement, 404), summary="Get survey"
)
def get_survey(request, surveyId: str):
    return qualtrics.ok(_element(_survey(request, surveyId)), request=request)


@router.post(
    "/surveys/{surveyId}/export-responses",
    response=qualtrics.responses(ExportProgress, 404),
    summary="Start a response export",
)
def start_export(request, surveyId: str, body: ExportRequest):
    survey = _survey(request, surveyId, Permission.VIEW_RESPONSES)
    if body.format not in actions.EXPORT_FORMATS:
        raise InvalidRequest("Invalid format: use csv or json.")
    export = actions.request_export(survey, token_of(request).user, format=body.format)
    result = {"progressId": export.public_id, "percentComplete": 0.0, "status": export.status}
    return qualtrics.ok(result, request=request)


@router.get(
    "/surveys/{surveyId}/export-responses/{exportProgressId}",
    response=qualtrics.responses(ExportProgress, 404),
    summary="Get response export progress",
)
def export_progress(request, surveyId: str, exportProgressId: str):
    export = queries.export_of(
        _survey(request, surveyId, Permission.VIEW_RESPONSES), exportProgressId
    )
    if export is None:
        raise NotFound(f"Invalid exportProgressId: {exportProgressId}")
    result: dict = {"percentComplete": export.percent_complete, "status": export.status}
    if export.status == ExportStatus.COMPLETE:
        result["fileId"] = export.file_id
    return qualtrics.ok(result, request=request)


@router.get(
    "/surveys/{surveyId}/export-responses/{fileId}/file",
    response={200: None, 404: qualtrics.ErrorEnvelope},
    summary="Get response export file (zip)",
)
def export_file(request, surveyId: str, fileId: str):
    survey = _survey(request, surveyId, Permission.VIEW_RESPONSES)
    export = queries.export_file(survey, fileId)
    if export is None or export.status != ExportStatus.COMPLETE:
        raise NotFound(f"Invalid fileId: {fileId}")
    audit.record(
        survey.organization,
        token_of(request).user,
        "export.downloaded",
        target=survey,
        summary=f"Responses of {survey.name} ({export.format.upper()}, API)",
        format=export.format,
        via="api",
    )
    response = HttpResponse(bytes(export.content), content_type="application/zip")
    name = exports.filename(survey)
    response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    return response
