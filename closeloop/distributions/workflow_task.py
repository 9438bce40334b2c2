"""The "Distribute survey" workflow task: an email or SMS invitation, or a two-way SMS survey,
to one contact.

Config:

    {"survey": "",                      # SV_… ; empty = the workflow's survey
     "channel": "email",                # email, sms (invitation) or sms2way (two-way survey)
     "contactId": "~{ch://T_1/contactId}",   # a contact from an earlier task (XM Directory)…
     "email": "", "phone": "", "firstName": "", "lastName": "",  # …or from the event's fields
     "message": "",                     # MS_… a library message (replaces subject and body)…
     "subject": "…", "body": "… ${l://SurveyLink?d=Take the survey} …",   # …or written here
     "fromName": "", "fromEmail": "", "replyToEmail": "",
     "linkExpiryDays": ""}              # empty = the survey's default

With an email and no contactId the contact is added to (or matched in) the default directory
with its dedup rules. The task only records the distribution (a Distribution of one contact,
created in the transaction that records the task's completion, so once per run); the jobs of
the distribution send it. Output: distributionId, contactId.

Permissions: the task runs as the workflow's owner, who must be allowed to distribute the
survey when it runs (closeloop.distributions.permissions); if they no longer are, the task
fails at once (TaskFailed, not retried) with the sentence saying whom to ask. The editor lists
the surveys the editing user (else the workflow's owner) may distribute, and saving a task
that names a survey the editor may not distribute is refused (check_edit).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from django.utils import timezone

from closeloop.directory import actions as directory
from closeloop.directory import queries as directory_queries
from closeloop.directory.dedup import normalize_phone
from closeloop.directory.models import Contact
from closeloop.distributions import actions, permissions, preflight, queries
from closeloop.distributions.forms import library_choices
from closeloop.distributions.models import new_distribution_id
from closeloop.surveys import permissions as survey_permissions
from closeloop.surveys.actions import SurveyNotActive, require_active
from closeloop.surveys.models import Survey
from closeloop.surveys.queries import survey_of
from closeloop.workflows.registry import DryRun, OfferedField, TaskContext, TaskFailed, TaskType

FIELDS = (
    "survey",
    "channel",
    "contactId",
    "email",
    "phone",
    "firstName",
    "lastName",
    "message",
    "subject",
    "body",
    "fromName",
    "fromEmail",
    "replyToEmail",
    "linkExpiryDays",
)
DEFAULT_BODY = (
    "Hello ${m://FirstName},\n\nPlease tell us how we did: ${l://SurveyLink?d=Take the survey}"
    "\n\n${l://OptOutLink?d=Unsubscribe}"
)


CHANNELS = ("email", "sms", "sms2way")


def _is_piped(text: str) -> bool:
    return "~{" in text or "${" in text


def _require_mobile_number(phone: str, region: str) -> None:
    if not normalize_phone(phone, region):
        raise TaskFailed(
            f"The mobile number {phone!r} is not a valid phone number: give it in E.164 form, "
            "for example +14155552671."
        )


def _phone_region(organization) -> str:
    found = directory_queries.default_directory(organization)
    return found.default_phone_region if found else "US"


def _library_problems(organization, message_id: str, channel: str) -> list[str]:
    message = queries.message_of(organization, message_id)
    if message is None:
        return [f"there is no shared library message {message_id}."]
    try:
        actions.message_content(message, channel)
    except actions.DistributionError as error:
        return [str(error)]
    return []


def _require_owner_may_distribute(survey, owner) -> None:
    """The task distributes as the workflow's owner: TaskFailed (permanent) if they may not."""
    access = survey_permissions.access(survey, owner)
    if access.allows(permissions.DISTRIBUTE):
        return
    if owner is None:
        runs_as = "This workflow's owner no longer exists."
    else:
        runs_as = f"The workflow runs as its owner, {owner.get_full_name() or owner.email}."
    raise TaskFailed(f"{access.why_not(permissions.DISTRIBUTE)} ({runs_as})")


def _content(context: TaskContext) -> dict:
    """The library message (copied by the distribution) or the task's own subject and body."""
    config = context.config
    message_id = config.get("message") or ""
    if message_id:
        message = queries.message_of(context.organization, message_id)
        if message is None:
            raise TaskFailed(f"The library message {message_id} no longer exists.")
        return {"message": message}
    return {"subject": config.get("subject", ""), "text_body": config.get("body", "")}


class DistributeSurveyTask(TaskType):
    key = "distribute_survey"
    label = "Distribute survey"
    description = "Email or text a survey invitation, or ask a two-way SMS survey, to one contact."
    atomic = True
    side_effects = "send survey invitations"
    editor_template = "distributions/workflow_task.html"

    def default_config(self) -> dict:
        config = dict.fromkeys(FIELDS, "")
        config.update(channel="email", subject="We would like your feedback", body=DEFAULT_BODY)
        return config

    def clean_config(self, config: Mapping) -> dict:
        clean = self.default_config()
        for name, value in config.items():
            clean[name] = value.strip() if isinstance(value, str) and name != "body" else value
        return clean

    def validate(self, config: Mapping, *, organization) -> list[str]:
        problems = [f"there is no setting {name!r}." for name in sorted(set(config) - set(FIELDS))]
        for name in FIELDS:
            if not isinstance(config.get(name, ""), str):
                problems.append(f"{name} must be text.")
        if problems:
            return problems
        channel = config.get("channel") or "email"
        if channel not in CHANNELS:
            problems.append("the channel is email, sms or sms2way.")
        address = "email" if channel == "email" else "phone"
        if not config.get("contactId") and not config.get(address):
            problems.append(
                f"choose the contact: a contact ID from an earlier task, or {'an email' if address == 'email' else 'a mobile number'}."
            )
        phone = config.get("phone") or ""
        if channel != "email" and phone and not _is_piped(phone):
            try:
                _require_mobile_number(phone, _phone_region(organization))
            except TaskFailed as error:
                problems.append(str(error))
        if config.get("message"):
            problems += _library_problems(organization, config["message"], channel)
        elif channel == "email" and not config.get("subject"):
            problems.append("the message needs a subject.")
        elif channel != "sms2way" and not config.get("body", "").strip():
            problems.append("the message is empty.")
        survey_id = config.get("survey") or ""
        if survey_id:
            problems += self._survey_problems(organization, survey_id)
        try:
            if config.get("fromEmail") and not _is_piped(config["fromEmail"]):
                actions.check_from_address(organization, config["fromEmail"])
            if config.get("replyToEmail") and not _is_piped(config["replyToEmail"]):
                actions.clean_address(config["replyToEmail"], "The reply-to address")
        except actions.DistributionError as error:
            problems.append(str(error))
        days = config.get("linkExpiryDays") or ""
        if days and not (days.isdigit() and 1 <= int(days) <= 365):
            problems.append("link expiry is a number of days from 1 to 365.")
        return problems

    def _survey_problems(self, organization, survey_id: str) -> list[str]:
        survey = survey_of(organization, survey_id)
        if survey is None:
            return [f"there is no survey {survey_id}."]
        try:
            require_active(survey)
        except SurveyNotActive as error:
            return [str(error)]
        return []

    def text_values(self, config: Mapping) -> list[tuple[str, str]]:
        names = ("contactId", "email", "phone", "firstName", "lastName", "fromName", "fromEmail")
        return [(name, config.get(name, "")) for name in names if config.get(name)]

    def outputs(self, config: Mapping) -> list[OfferedField]:
        return [
            OfferedField("distributionId", "String", "Distribution ID"),
            OfferedField("contactId", "String", "Contact ID"),
        ]

    # Running ---------------------------------------------------------------------------------

    def _survey(self, context: TaskContext):
        survey_id = context.config.get("survey") or ""
        if survey_id:
            survey = survey_of(context.organization, survey_id)
        else:
            survey = getattr(context.workflow, "survey", None)
        if survey is None:
            raise TaskFailed(
                f"There is no survey {survey_id} to distribute."
                if survey_id
                else "Choose the survey to distribute (this workflow belongs to no survey)."
            )
        _require_owner_may_distribute(survey, context.owner)
        return survey

    def _contact(self, context: TaskContext, *, dry: bool = False):
        """The contact to invite: the one named by contactId, or the one the email / mobile
        number matches or creates in the default directory. In a dry run nothing is created:
        a contact an earlier task would create comes from context.dry_records, and a new one
        is an unsaved stand-in (directory.preview_upsert)."""
        config = context.config
        contact_id = (config.get("contactId") or "").strip()
        if contact_id:
            contact = context.dry_records.get(contact_id) if dry else None
            if not isinstance(contact, Contact) or contact.organization_id != (
                context.organization.pk
            ):
                contact = directory_queries.contact(context.organization, contact_id)
            if contact is None:
                raise TaskFailed(f"There is no contact {contact_id!r} in this organization.")
            return contact
        email = (config.get("email") or "").strip()
        phone = (config.get("phone") or "").strip()
        if (config.get("channel") or "email") == "email" and not email:
            raise TaskFailed("The contact ID and the email are both empty after piped text.")
        if not email and not phone:
            raise TaskFailed(
                "The contact ID and the mobile number are both empty after piped text."
            )
        if dry:
            target = directory.would_be_default_directory(context.organization)
        else:
            target = directory.default_directory(context.organization)
        if phone and config.get("channel") in ("sms", "sms2way"):
            _require_mobile_number(phone, target.default_phone_region)
        fields = {"email": email} if email else {}
        if phone:
            fields["phone"] = phone
        for name in ("firstName", "lastName"):
            if config.get(name):
                fields[name] = config[name]
        if dry:
            contact, _created = directory.preview_upsert(target, fields, {})
        else:
            contact, _created = directory.upsert_contact(target, fields, {}, actor=context.owner)
        return contact

    def _distribution_arguments(self, context: TaskContext, contact) -> dict:
        config = context.config
        expires = None
        if (config.get("linkExpiryDays") or "").isdigit():
            expires = timezone.now() + timedelta(days=int(config["linkExpiryDays"]))
        return {
            "contact": contact,
            "workflow_run_id": str(getattr(context.run, "public_id", "") or context.run or "x"),
            "channel": config.get("channel") or "email",
            **_content(context),
            "from_name": config.get("fromName", ""),
            "from_email": config.get("fromEmail", ""),
            "reply_to": config.get("replyToEmail", ""),
            "link_expires_at": expires,
        }

    def run(self, context: TaskContext) -> dict:
        survey = self._survey(context)
        contact = self._contact(context)
        arguments = self._distribution_arguments(context, contact)
        try:
            distribution = actions.create_distribution(
                context.organization, survey, owner=context.owner, **arguments
            )
        except actions.DistributionError as error:
            raise TaskFailed(str(error)) from None
        return {"distributionId": distribution.public_id, "contactId": contact.public_id}

    def dry_run(self, context: TaskContext) -> DryRun:
        """Every check run() makes (actions.check_distribution, on the contact an earlier task
        would create if need be), then what the send path would decide for this contact
        (opted out, blocked address, frequency rules): such an invitation is recorded but
        skipped, a warning rather than a failure, as in a real run. Writes nothing."""
        try:
            survey = self._survey(context)
            contact = self._contact(context, dry=True)
            arguments = self._distribution_arguments(context, contact)
            actions.check_distribution(context.organization, survey, **arguments)
        except (TaskFailed, ValueError) as error:  # and DistributionError, InvalidValue
            return DryRun(f"Would fail: {error}", {}, (str(error),))
        channel = arguments["channel"]
        if channel == "email":
            who = contact.email
            what = "email an invitation to"
        else:
            who = contact.phone_e164
            what = "text an invitation to" if channel == "sms" else "ask by SMS"
        new = " (a new contact)" if contact.pk is None else f" ({contact.public_id})"
        summary = f"Would {what} {survey.name} to {who}{new}."
        output = {"distributionId": new_distribution_id(), "contactId": contact.public_id}
        skipped = preflight.invitation_verdict(context.organization, survey, channel, contact)
        warnings: tuple[str, ...] = ()
        if skipped:
            summary = (
                f"Would record a distribution of {survey.name} to {who}{new}, but not send it: "
                f"{skipped}"
            )
            warnings = (f"The invitation would not be sent: {skipped}",)
        # A contact found by contactId is an earlier task's (or stored): this task writes it
        # only when it comes from the email or mobile number (matched or created).
        named = bool((context.config.get("contactId") or "").strip())
        records = {} if named else {contact.public_id: contact}
        return DryRun(summary, output, warnings=warnings, records=records)

    def config_from_form(self, data, previous: Mapping) -> dict:
        return self.clean_config({name: data.get(name, "") for name in FIELDS})

    def check_edit(self, before: Mapping | None, after: Mapping, *, workflow, editor) -> list[str]:
        """A task that starts distributing a survey (new, or another survey than before) needs
        an editor who may distribute it: the workflow distributes as its owner, and editing
        someone's workflow must not lend their permission."""
        survey_id = after.get("survey") or ""
        if editor is None or (before is not None and (before.get("survey") or "") == survey_id):
            return []
        if survey_id:
            survey = survey_of(workflow.organization, survey_id)
        else:
            survey = workflow.survey if workflow.survey_id else None
        if survey is None:
            return []  # validate() says there is no such survey
        access = survey_permissions.access(survey, editor)
        if not access.visible:
            return [f"there is no survey {survey_id}."]
        refusal = access.why_not(permissions.DISTRIBUTE)
        return [refusal] if refusal else []

    def editor_context(self, config: Mapping, *, organization, workflow=None, user=None) -> dict:
        """The surveys the editing user may distribute (the workflow's owner when the editor
        does not say who edits). A survey the task already names stays a choice, by its id
        only, so that saving keeps it."""
        who = user if user is not None else getattr(workflow, "owner", None)
        found = Survey.objects.filter(permissions.distributing_filter(organization.pk, who))
        surveys: list = list(found.order_by("-modified_at", "-id")[:200])
        chosen = config.get("survey") or ""
        if chosen and all(survey.public_id != chosen for survey in surveys):
            surveys.append({"public_id": chosen, "name": f"{chosen} (you may not distribute it)"})
        return {
            "surveys": surveys,
            "library": library_choices(list(queries.messages_of(organization)[:500]))[1:],
        }
