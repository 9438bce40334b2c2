"""Surveys, their published versions, responses, individual links and response exports.

Every row carries its organization. A survey's `definition` is the draft; respondents see the
latest `SurveyVersion`, a frozen copy made by publishing (see closeloop.surveys.actions).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from closeloop.ids import new_id
from closeloop.surveys.definition import new_definition


def new_survey_id() -> str:
    return new_id("SV_")


def new_response_id() -> str:
    return new_id("R_")


def new_export_id() -> str:
    return new_id("ES_")


def new_file_id() -> str:
    return new_id("", 36)


def default_languages() -> list[str]:
    return ["EN"]


DEFAULT_LINK_EXPIRY_DAYS = 60
DEFAULT_PARTIAL_CLOSE_HOURS = 7 * 24


class SurveyStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"


class Survey(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    public_id = models.CharField(max_length=32, unique=True, default=new_survey_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=SurveyStatus.choices, default=SurveyStatus.DRAFT
    )
    definition = models.JSONField(default=new_definition, help_text="the draft being edited")
    languages = models.JSONField(default=default_languages, help_text="first is the default")
    current_version = models.ForeignKey(
        "SurveyVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    has_unpublished_changes = models.BooleanField(default=True)
    link_expiry_days = models.PositiveIntegerField(default=DEFAULT_LINK_EXPIRY_DAYS)
    partial_close_hours = models.PositiveIntegerField(
        default=DEFAULT_PARTIAL_CLOSE_HOURS,
        help_text="unfinished responses are recorded as partial after this long without activity",
    )
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "-modified_at"], name="survey_org_mod")]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def is_active(self) -> bool:
        return self.status == SurveyStatus.ACTIVE and self.current_version_id is not None

    @property
    def default_language(self) -> str:
        return (self.languages or ["EN"])[0]


class SurveyShare(models.Model):
    """What one user or one group may do with a survey that is not theirs
    (closeloop.surveys.permissions decides; the names are permission_rules.Permission)."""

    PERMISSION_FIELDS = (
        "can_view_results",
        "can_edit",
        "can_distribute",
        "can_manage_workflows",
        "can_view_responses",
        "can_delete",
    )

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    group = models.ForeignKey(
        "accounts.MemberGroup", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # One column per permission, named `can_<Permission value>`, so lists filter in SQL.
    can_view_results = models.BooleanField(default=False)
    can_edit = models.BooleanField(default=False)
    can_distribute = models.BooleanField(default=False)
    can_manage_workflows = models.BooleanField(default=False)
    can_view_responses = models.BooleanField(default=False)
    can_delete = models.BooleanField(default=False)
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "user"],
                condition=Q(user__isnull=False),
                name="one_share_per_user",
            ),
            models.UniqueConstraint(
                fields=["survey", "group"],
                condition=Q(group__isnull=False),
                name="one_share_per_group",
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="share_with_user_or_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey_id} shared with {self.user_id or self.group_id}"

    @property
    def permission_names(self) -> list[str]:
        return [
            field.removeprefix("can_") for field in self.PERMISSION_FIELDS if getattr(self, field)
        ]


class SurveyVersion(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    languages = models.JSONField(default=default_languages)
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["survey", "number"], name="one_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.survey.public_id} v{self.number}"


class SurveyLink(models.Model):
    """An individual link: one contact, one response, unguessable, stored hashed."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="links")
    token_hash = models.CharField(max_length=64, unique=True)
    contact = models.ForeignKey(
        "directory.Contact", on_delete=models.CASCADE, related_name="survey_links"
    )
    delivery_id = models.CharField(
        max_length=64, blank=True, help_text="the distribution delivery that sent this link"
    )
    transaction = models.ForeignKey(
        "directory.Transaction", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    transaction_data = models.JSONField(
        default=dict, blank=True, help_text="captured when the link was made"
    )
    embedded_data = models.JSONField(
        default=dict, blank=True, help_text="extra values captured when the link was made"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True, help_text="when its response finished")

    def __str__(self) -> str:
        return f"link to {self.survey.public_id} for {self.contact_id}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class ResponseQuerySet(models.QuerySet):
    def in_progress(self):
        return self.filter(finished_at__isnull=True)

    def recorded(self):
        return self.filter(finished_at__isnull=False)


class Response(models.Model):
    """One respondent's answers. In progress while finished_at is empty; then recorded, either
    finished (completed) or partial (closed after inactivity)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    public_id = models.CharField(
        max_length=32, unique=True, default=new_response_id, editable=False
    )
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    version = models.ForeignKey(SurveyVersion, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(
        "directory.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="survey_responses",
    )
    link = models.OneToOneField(
        SurveyLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="response"
    )
    delivery_id = models.CharField(max_length=64, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    embedded_data = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=16, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    last_page = models.PositiveIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent")
    finished_at = models.DateTimeField(
        null=True, blank=True, help_text="when it was recorded (finished or closed as partial)"
    )
    finished = models.BooleanField(default=False, help_text="the respondent reached the end")
    duration_seconds = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(
        default=dict, blank=True, help_text="channel, user agent, … never an IP address"
    )

    objects = ResponseQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["survey", "-started_at"], name="response_survey_started"),
            models.Index(fields=["finished_at", "last_activity_at"], name="response_open"),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def status(self) -> str:
        if self.finished_at is None:
            return "in_progress"
        return "finished" if self.finished else "partial"


class ExportStatus(models.TextChoices):
    IN_PROGRESS = "inProgress", "In progress"
    COMPLETE = "complete", "Complete"
    FAILED = "failed", "Failed"


class ResponseExport(models.Model):
    """A Qualtrics-style response export (progressId ES_…, then a fileId with a zip)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    public_id = models.CharField(max_length=32, unique=True, default=new_export_id, editable=False)
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=8, default="csv")
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.IN_PROGRESS
    )
    percent_complete = models.FloatField(default=0.0)
    file_id = models.CharField(max_length=64, unique=True, default=new_file_id, editable=False)
    content = models.BinaryField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.public_id
