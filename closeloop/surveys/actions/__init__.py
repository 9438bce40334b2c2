"""Every write the surveys app makes: surveys and drafts, publishing, individual links,
responses (start, save a page, finish, close partials) and response exports; sharing and
ownership are in actions/sharing.py, importable from here."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from closeloop import piping
from closeloop.accounts import audit
from closeloop.accounts.models import hash_secret
from closeloop.jobs.actions import enqueue
from closeloop.surveys import definition as schema
from closeloop.surveys import editing, exports, logic, queries
from closeloop.surveys.actions.sharing import SharingError as SharingError
from closeloop.surveys.actions.sharing import set_owner as set_owner
from closeloop.surveys.actions.sharing import share_survey as share_survey
from closeloop.surveys.actions.sharing import unshare_survey as unshare_survey
from closeloop.surveys.definition import DefinitionError
from closeloop.surveys.models import (
    ExportStatus,
    Response,
    ResponseExport,
    Survey,
    SurveyLink,
    SurveyStatus,
    SurveyVersion,
)
from closeloop.surveys.signals import invitation_progress

log = logging.getLogger("closeloop.surveys")

RESPONSE_FINISHED_JOB = "surveys.response_finished"
EXPORT_JOB = "surveys.export_responses"
MAX_EMBEDDED_VALUE = 1024
MAX_NAME = 200


class SurveyNotActive(Exception):
    """Raised by require_active: the survey cannot be distributed or answered now."""


# Surveys and drafts ------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise DefinitionError(["A survey needs a name."])
    if len(name) > MAX_NAME:
        raise DefinitionError([f"A survey name has at most {MAX_NAME} characters."])
    return name


def _clean_languages(languages) -> list[str]:
    if not isinstance(languages, list) or not languages or len(languages) > schema.MAX_LANGUAGES:
        raise DefinitionError([f"languages must list 1 to {schema.MAX_LANGUAGES} language codes."])
    cleaned = []
    for language in languages:
        if not isinstance(language, str) or not schema.LANGUAGE.match(language):
            raise DefinitionError([f"{language!r} is not a language code like EN or PT-BR."])
        if language.upper() not in cleaned:
            cleaned.append(language.upper())
    return cleaned


def create_survey(
    organization, owner, name: str, definition: dict | None = None, languages=None
) -> Survey:
    name = _clean_name(name)
    definition = schema.new_definition(name) if definition is None else definition
    schema.check(definition)
    if languages is None:  # the default language, then those the definition translates to
        languages = ["EN", *sorted(definition.get("translations", {}))]
    languages = _clean_languages(languages)
    unknown = set(definition.get("translations", {})) - set(languages)
    if unknown:
        raise DefinitionError([f"translations for {', '.join(sorted(unknown))}: not a language"])
    return Survey.objects.create(
        organization=organization,
        owner=owner,
        name=name,
        definition=definition,
        languages=languages,
    )


def rename_survey(survey: Survey, name: str) -> Survey:
    survey.name = _clean_name(name)
    survey.modified_at = timezone.now()
    survey.save(update_fields=["name", "modified_at"])
    return survey


def save_definition(survey: Survey, definition: dict, *, languages=None) -> Survey:
    """Replace the draft. Respondents see nothing of it until the survey is published again."""
    schema.check(definition)
    if languages is not None:
        survey.languages = _clean_languages(languages)
    unknown = set(definition.get("translations", {})) - set(survey.languages)
    if unknown:
        raise DefinitionError(
            [f"translations for {', '.join(sorted(unknown))}: add the language to the survey first"]
        )
    survey.definition = definition
    survey.has_unpublished_changes = True
    survey.modified_at = timezone.now()
    survey.save(update_fields=["definition", "languages", "has_unpublished_changes", "modified_at"])
    return survey


def add_language(survey: Survey, language: str) -> Survey:
    """Offer the survey in one more language; its texts fall back to the default until
    translated."""
    if str(language).strip().upper() in survey.languages:
        raise DefinitionError([f"The survey is already offered in {language.upper()}."])
    languages = _clean_languages([*survey.languages, str(language).strip()])
    return save_definition(survey, survey.definition, languages=languages)


def remove_language(survey: Survey, language: str) -> Survey:
    """Stop offering a language and drop its translations (never the default language)."""
    language = language.upper()
    if language not in survey.languages[1:]:
        raise DefinitionError([f"{language} is not an additional language of this survey."])
    definition = editing.drop_translations(survey.definition, language)
    languages = [code for code in survey.languages if code != language]
    return save_definition(survey, definition, languages=languages)


def save_translations(survey: Survey, language: str, texts: Mapping[str, str]) -> Survey:
    """Replace the translations of one additional language (see editing.set_translations)."""
    if language not in survey.languages[1:]:
        raise DefinitionError([f"{language} is not an additional language of this survey."])
    definition = editing.set_translations(survey.definition, language, dict(texts))
    return save_definition(survey, definition)


def update_settings(
    survey: Survey, *, link_expiry_days: int | None = None, partial_close_hours: int | None = None
) -> Survey:
    if link_expiry_days is not None:
        if not 1 <= link_expiry_days <= 3650:
            raise DefinitionError(["Links expire after 1 to 3650 days."])
        survey.link_expiry_days = link_expiry_days
    if partial_close_hours is not None:
        if not 1 <= partial_close_hours <= 24 * 365:
            raise DefinitionError(["Partial responses close after 1 hour to 1 year."])
        survey.partial_close_hours = partial_close_hours
    survey.modified_at = timezone.now()
    survey.save()
    return survey


def delete_survey(survey: Survey) -> None:
    survey.delete()


# Publishing ---------------------------------------------------------------------------------


def publish(survey: Survey, user=None) -> SurveyVersion:
    """Freeze the draft as the next version; the survey becomes active. New respondents see
    this version from now on; responses already in progress finish on the version they began."""
    problems = schema.validate(survey.definition)
    if not problems and not any(True for _ in schema.questions(survey.definition)):
        problems = ["Add at least one question before publishing."]
    if problems:
        raise DefinitionError(problems)
    with transaction.atomic():
        locked = Survey.objects.select_for_update().get(pk=survey.pk)
        number = (locked.versions.aggregate(last=Max("number"))["last"] or 0) + 1
        version = SurveyVersion.objects.create(
            survey=locked,
            number=number,
            definition=survey.definition,
            languages=survey.languages,
            published_by=user,
        )
        Survey.objects.filter(pk=survey.pk).update(
            current_version=version,
            status=SurveyStatus.ACTIVE,
            has_unpublished_changes=False,
            modified_at=timezone.now(),
        )
        audit.record(
            locked.organization,
            user,
            "survey.published",
            target=locked,
            summary=f"{locked.name} published as version {number}",
            version=number,
        )
    survey.refresh_from_db()
    log.info("survey %s published as version %s", survey.public_id, number)
    return version


def close_survey(survey: Survey) -> Survey:
    """No new responses; respondents see the closed page. Reopen with reopen_survey."""
    survey.status = SurveyStatus.CLOSED
    survey.modified_at = timezone.now()
    survey.save(update_fields=["status", "modified_at"])
    return survey


def reopen_survey(survey: Survey) -> Survey:
    if survey.current_version_id is None:
        raise SurveyNotActive(f"Survey {survey.public_id} is not active: publish it first.")
    survey.status = SurveyStatus.ACTIVE
    survey.modified_at = timezone.now()
    survey.save(update_fields=["status", "modified_at"])
    return survey


def require_active(survey: Survey) -> SurveyVersion:
    """For distributions and workflows: the version respondents will see, or a clear error."""
    if survey.status == SurveyStatus.CLOSED:
        raise SurveyNotActive(
            f"Survey {survey.public_id} is closed: reopen it before distributing it."
        )
    if survey.status != SurveyStatus.ACTIVE or survey.current_version_id is None:
        raise SurveyNotActive(f"Survey {survey.public_id} is not active: publish it first.")
    return survey.current_version


# Individual links ---------------------------------------------------------------------------


def link_url(token: str) -> str:
    return settings.CLOSELOOP_BASE_URL.rstrip("/") + reverse("respondent:link", args=[token])


def anonymous_url(survey: Survey) -> str:
    path = reverse("respondent:form", args=[survey.public_id])
    return settings.CLOSELOOP_BASE_URL.rstrip("/") + path


def _clean_embedded(values: Mapping | None) -> dict[str, str]:
    cleaned = {}
    for name, value in (values or {}).items():
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            continue
        text = piping.to_text(value)
        cleaned[name] = text[:MAX_EMBEDDED_VALUE]
    return cleaned


def create_link(
    survey: Survey,
    contact,
    *,
    delivery_id: str = "",
    transaction=None,
    embedded_data: Mapping | None = None,
    expires_at: datetime | None = None,
) -> tuple[SurveyLink, str]:
    """An individual link for one contact. Returns (link, url); the url is shown only now.

    The survey must be active (require_active). Transaction data and embedded data are
    captured now, so later changes do not alter what this respondent's response records.
    """
    require_active(survey)
    if contact.organization_id != survey.organization_id:
        raise ValueError("The contact belongs to another organization.")
    if transaction is not None and transaction.contact_id != contact.pk:
        raise ValueError("The transaction belongs to another contact.")
    token = secrets.token_urlsafe(32)
    link = SurveyLink.objects.create(
        organization_id=survey.organization_id,
        survey=survey,
        token_hash=hash_secret(token),
        contact=contact,
        delivery_id=(delivery_id or "")[:64],
        transaction=transaction,
        transaction_data=_clean_embedded(transaction.data if transaction is not None else {}),
        embedded_data=_clean_embedded(embedded_data),
        expires_at=expires_at or timezone.now() + timedelta(days=survey.link_expiry_days),
    )
    return link, link_url(token)


def create_links(
    survey: Survey,
    recipients: list[tuple],
    *,
    embedded_data: Mapping | None = None,
    expires_at: datetime | None = None,
) -> list[tuple[SurveyLink, str]]:
    """create_link for many (contact, delivery id, transaction) at once, in one INSERT.
    Returns (link, url) per recipient, in order; the same checks as create_link."""
    require_active(survey)
    expires_at = expires_at or timezone.now() + timedelta(days=survey.link_expiry_days)
    embedded = _clean_embedded(embedded_data)
    tokens, links = [], []
    for contact, delivery_id, purchase in recipients:
        if contact.organization_id != survey.organization_id:
            raise ValueError("The contact belongs to another organization.")
        if purchase is not None and purchase.contact_id != contact.pk:
            raise ValueError("The transaction belongs to another contact.")
        token = secrets.token_urlsafe(32)
        tokens.append(token)
        links.append(
            SurveyLink(
                organization_id=survey.organization_id,
                survey=survey,
                token_hash=hash_secret(token),
                contact=contact,
                delivery_id=(delivery_id or "")[:64],
                transaction=purchase,
                transaction_data=_clean_embedded(purchase.data if purchase is not None else {}),
                embedded_data=embedded,
                expires_at=expires_at,
            )
        )
    SurveyLink.objects.bulk_create(links)
    # reverse() once: a token is URL-safe base64, so the path is the same for every token.
    prefix, suffix = link_url("TOKEN").split("TOKEN")
    return [(link, f"{prefix}{token}{suffix}") for link, token in zip(links, tokens, strict=True)]


# Responses ----------------------------------------------------------------------------------


def contact_fields(contact) -> dict[str, str]:
    """The m:// piped-text fields of a contact."""
    if contact is None:
        return {}
    return {
        "FirstName": contact.first_name,
        "LastName": contact.last_name,
        "Email": contact.email,
        "Phone": contact.phone,
        "ExternalDataReference": contact.ext_ref,
        "Language": contact.language,
    }


def resolve_embedded_data(
    definition: dict, *, contact=None, link: SurveyLink | None = None, query: Mapping | None = None
) -> dict[str, str]:
    """The value of each embedded data field of the survey flow, from its source. Values given
    when the link was made fill fields their source left empty."""
    query = query or {}
    values: dict[str, str] = {}
    for item in schema.embedded_fields(definition):
        name, source = item["name"], item.get("source", "contact")
        value = None
        if source == "contact" and contact is not None:
            value = (contact.embedded_data or {}).get(name)
        elif source == "transaction" and link is not None:
            value = link.transaction_data.get(name)
        elif source == "query":
            value = query.get(name)
        elif source == "fixed":
            context = {"m": contact_fields(contact), "e": values}
            value = piping.render(item.get("value", ""), context, escape_html=False)
        if (value is None or value == "") and link is not None:
            value = link.embedded_data.get(name)
        values[name] = piping.to_text(value)[:MAX_EMBEDDED_VALUE]
    return values


def choose_language(version: SurveyVersion, requested: str = "", contact=None) -> str:
    languages = [language.upper() for language in version.languages or ["EN"]]
    for candidate in (requested, getattr(contact, "language", "")):
        if candidate and candidate.upper() in languages:
            return candidate.upper()
    return languages[0]


def start_response(
    survey: Survey,
    version: SurveyVersion,
    *,
    contact=None,
    link: SurveyLink | None = None,
    query: Mapping | None = None,
    language: str = "",
    metadata: Mapping | None = None,
) -> Response:
    embedded = resolve_embedded_data(version.definition, contact=contact, link=link, query=query)
    now = timezone.now()
    return Response.objects.create(
        organization_id=survey.organization_id,
        survey=survey,
        version=version,
        contact=contact,
        link=link,
        delivery_id=link.delivery_id if link is not None else "",
        embedded_data=embedded,
        language=language,
        last_page=logic.first_page(version.definition, {}, embedded),
        started_at=now,
        last_activity_at=now,
        metadata=dict(metadata or {}),
    )


def start_link_response(
    link: SurveyLink, *, language: str = "", metadata=None, version: SurveyVersion | None = None
) -> Response:
    """The link's response, started now if it has none yet (one per link, even under races:
    the response's link is unique, so a second start fails and reads the first one)."""
    survey = link.survey
    version = version or require_active(survey)
    try:
        with transaction.atomic():
            response = start_response(
                survey,
                version,
                contact=link.contact,
                link=link,
                language=choose_language(version, language, link.contact),
                metadata={"channel": "individual", **(metadata or {})},
            )
            report_invitation_progress(response.delivery_id, "started", response.public_id)
    except IntegrityError:
        return Response.objects.select_related("version", "contact").get(link=link)
    return response


def report_invitation_progress(delivery_id: str, event: str, response_id: str = "") -> None:
    """Announce (signals.invitation_progress) that the response of an invitation started,
    finished, was left partial or that its link had expired ("expired"), so that the
    invitation's delivery history (SurveyStarted, SurveyFinished …) keeps in step. Receivers
    run in the caller's transaction."""
    if delivery_id:
        invitation_progress.send(
            sender=Response, delivery_id=delivery_id, event=event, response_id=response_id
        )


def submit_page(response: Response, page: int, get_list, *, back: bool = False) -> logic.Step:
    """Save the answers of one page of a response and move to the next (or previous) page,
    or record the response when it was the last. See logic.advance.

    One conditional UPDATE, no row lock: it applies only if the response has not changed
    since it was read (same last_activity_at, still open). A concurrent save of the same
    response (a double submit, a second tab, the partial close) wins, and this submission
    changes nothing, as a stale tab's would."""
    if response.finished_at is not None:
        return logic.Step(response.answers, response.last_page, {}, {}, finished=True)
    definition = response.version.definition
    step = logic.advance(
        definition,
        response.answers,
        response.embedded_data,
        response.last_page,
        page,
        get_list,
        back=back,
    )
    if not step.saved:
        return step
    now = timezone.now()
    if step.finished:
        with transaction.atomic():
            saved = _save_if_unchanged(response, _recorded_fields(response, step.answers, now))
            if saved:
                _after_record(response, now, finished=True)
    else:
        fields = {
            "answers": step.answers,
            "last_activity_at": now,
            "last_page": step.page,
            "progress": logic.progress(definition, step.page),
        }
        saved = _save_if_unchanged(response, fields)
    if saved:
        return step
    response.refresh_from_db(fields=["answers", "last_page", "finished_at", "last_activity_at"])
    finished = response.finished_at is not None
    return logic.Step(response.answers, response.last_page, {}, {}, finished=finished)


def _save_if_unchanged(response: Response, fields: dict) -> bool:
    changed = Response.objects.filter(
        pk=response.pk, finished_at__isnull=True, last_activity_at=response.last_activity_at
    ).update(**fields)
    if changed:
        for name, value in fields.items():
            setattr(response, name, value)
    return bool(changed)


def _recorded_fields(response: Response, answers: dict, now: datetime, *, finished=True) -> dict:
    """What recording a response changes: finished by the respondent, or closed as partial."""
    definition = response.version.definition
    fields = {
        "answers": logic.prune_hidden(definition, answers, response.embedded_data),
        "finished": finished,
        "finished_at": now,
        "duration_seconds": max(0, int((now - response.started_at).total_seconds())),
    }
    if finished:
        fields.update(progress=100, last_activity_at=now)
    return fields


def _after_record(response: Response, now: datetime, *, finished: bool) -> None:
    """In the recording transaction: the link is used, the delivery and the workflows told."""
    if response.link_id is not None and finished:
        SurveyLink.objects.filter(pk=response.link_id, used_at__isnull=True).update(used_at=now)
    report_invitation_progress(
        response.delivery_id, "finished" if finished else "partial", response.public_id
    )
    enqueue(
        RESPONSE_FINISHED_JOB,
        {"response": response.public_id, "survey": response.survey.public_id, "finished": finished},
        idempotency_key=f"{RESPONSE_FINISHED_JOB}:{response.public_id}",
        organization=response.organization_id,
    )
    log.info("response %s recorded (%s)", response.public_id, "finished" if finished else "partial")


def record_response(response: Response, now: datetime, *, finished: bool) -> None:
    """Record a response whose row the caller holds (the partial close, two-way SMS)."""
    fields = _recorded_fields(response, response.answers, now, finished=finished)
    for name, value in fields.items():
        setattr(response, name, value)
    response.save()
    _after_record(response, now, finished=finished)


def close_stale_responses(now: datetime | None = None, batch: int = 500) -> int:
    """Record as partial every response idle for longer than its survey allows."""
    now = now or timezone.now()
    closed = 0
    hours_in_use = (
        Survey.objects.filter(responses__finished_at__isnull=True)
        .values_list("partial_close_hours", flat=True)
        .distinct()
    )
    for hours in sorted(set(hours_in_use)):
        cutoff = now - timedelta(hours=hours)
        while True:
            with transaction.atomic():
                stale = list(
                    Response.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("version", "survey")
                    .filter(
                        finished_at__isnull=True,
                        survey__partial_close_hours=hours,
                        last_activity_at__lt=cutoff,
                    )
                    .order_by("id")[:batch]
                )
                for response in stale:
                    record_response(response, now, finished=False)
            closed += len(stale)
            if len(stale) < batch:
                break
    return closed


# Exports ------------------------------------------------------------------------------------

EXPORT_FORMATS = ("csv", "json")


def request_export(survey: Survey, user=None, *, format: str = "csv", options=None):
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    with transaction.atomic():
        export = ResponseExport.objects.create(
            organization_id=survey.organization_id,
            survey=survey,
            format=format,
            options=dict(options or {}),
            requested_by=user,
        )
        enqueue(
            EXPORT_JOB,
            {"export": export.public_id},
            idempotency_key=f"{EXPORT_JOB}:{export.public_id}",
            organization=survey.organization_id,
        )
    return export


def run_export(export: ResponseExport) -> ResponseExport:
    responses = queries.recorded_responses(export.survey)
    content = exports.zipped(export.survey, responses, export.format)
    export.content = content
    export.status = ExportStatus.COMPLETE
    export.percent_complete = 100.0
    export.completed_at = timezone.now()
    export.save(update_fields=["content", "status", "percent_complete", "completed_at"])
    return export


def fail_export(export: ResponseExport, error: str) -> None:
    ResponseExport.objects.filter(pk=export.pk).update(
        status=ExportStatus.FAILED, error=error[:2000], completed_at=timezone.now()
    )
