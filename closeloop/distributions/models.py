"""Distributions: a survey sent to recipients, one Delivery per contact, a message library and
the organization's verified sending domains.

A Delivery row exists, unique per (distribution, contact), before anything is sent: it is the
key that makes a retried job unable to send twice (see closeloop.distributions.sending).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from closeloop.distributions.secrets import decrypt
from closeloop.ids import new_id


def new_distribution_id() -> str:
    return new_id("EMD_")


def new_delivery_id() -> str:
    return new_id("DLV_")


def new_message_id() -> str:
    return new_id("MS_")


def new_domain_token() -> str:
    return new_id("", 32)


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    SMS_TWO_WAY = "sms2way", "Two-way SMS"


class Kind(models.TextChoices):
    INVITE = "invite", "Invitation"
    REMINDER = "reminder", "Reminder"
    THANK_YOU = "thankyou", "Thank you"


class RecipientKind(models.TextChoices):
    MAILING_LIST = "mailingList", "Mailing list"
    CONTACT = "contact", "Contact"
    TRANSACTION_BATCH = "transactionBatch", "Transaction batch"
    WORKFLOW = "workflow", "Contact from a workflow run"
    PARENT = "parent", "Recipients of an earlier distribution"


class LinkType(models.TextChoices):
    INDIVIDUAL = "Individual", "Individual"
    ANONYMOUS = "Anonymous", "Anonymous"
    MULTIPLE = "Multiple", "Multiple"


class DistributionStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    DONE = "done", "Sent"
    FAILED = "failed", "Failed"


class DeliveryStatus(models.TextChoices):
    """Qualtrics distribution history statuses, plus Sending (claimed, SMTP in progress)."""

    PENDING = "Pending", "Pending"
    SENDING = "Sending", "Sending"
    SUCCESS = "Success", "Sent"
    FAILURE = "Failure", "Failed"
    SOFT_BOUNCE = "SoftBounce", "Soft bounce"
    HARD_BOUNCE = "HardBounce", "Hard bounce"
    OPENED = "Opened", "Opened"
    COMPLAINT = "Complaint", "Complaint"
    SKIPPED = "Skipped", "Skipped"
    BLOCKED = "Blocked", "Blocked"
    SURVEY_STARTED = "SurveyStarted", "Survey started"
    SURVEY_PARTIAL = "SurveyPartiallyFinished", "Survey partially finished"
    SURVEY_FINISHED = "SurveyFinished", "Survey finished"
    SESSION_EXPIRED = "SessionExpired", "Session expired"


# A later event never moves a delivery back to an earlier status (an "opened" pixel loaded after
# the survey was finished leaves SurveyFinished).
STATUS_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SKIPPED: 2,
    DeliveryStatus.BLOCKED: 2,
    DeliveryStatus.FAILURE: 2,
    DeliveryStatus.SUCCESS: 3,
    DeliveryStatus.SOFT_BOUNCE: 4,
    DeliveryStatus.OPENED: 5,
    DeliveryStatus.SURVEY_STARTED: 6,
    DeliveryStatus.SESSION_EXPIRED: 6,
    DeliveryStatus.SURVEY_PARTIAL: 7,
    DeliveryStatus.SURVEY_FINISHED: 8,
    DeliveryStatus.HARD_BOUNCE: 9,
    DeliveryStatus.COMPLAINT: 10,
}


class MessageChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Message(models.Model):
    """A library message: the organization's (owner empty) or one user's.

    A distribution copies the message's subject and bodies when it is created (library_message
    only records where they came from): editing or deleting a library message never changes
    what a distribution sent or is about to send."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    public_id = models.CharField(max_length=32, unique=True, default=new_message_id, editable=False)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=16, choices=Kind.choices, default=Kind.INVITE)
    channel = models.CharField(
        max_length=8, choices=MessageChannel.choices, default=MessageChannel.EMAIL
    )
    subject = models.CharField(max_length=500, blank=True)
    html_body = models.TextField(blank=True)
    text_body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["organization", "channel"], name="message_org_channel")]

    def __str__(self) -> str:
        return self.name


class VerifiedDomain(models.Model):
    """A domain the organization may send from once a DNS TXT record proves it owns it."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    domain = models.CharField(max_length=253)
    token = models.CharField(max_length=64, default=new_domain_token, editable=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "domain"], name="one_domain_per_org")
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def record_name(self) -> str:
        return f"_closeloop.{self.domain}"

    @property
    def record_value(self) -> str:
        return f"closeloop-verification={self.token}"


class SuppressedAddress(models.Model):
    """An address that hard-bounced or complained: later deliveries to it are Blocked."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    email = models.CharField(max_length=320, help_text="lower-cased")
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "email"], name="one_suppression")
        ]

    def __str__(self) -> str:
        return self.email


class Distribution(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    public_id = models.CharField(
        max_length=32, unique=True, default=new_distribution_id, editable=False
    )
    survey = models.ForeignKey(
        "surveys.Survey", on_delete=models.CASCADE, related_name="distributions"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.INVITE)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="followups"
    )
    recipient_kind = models.CharField(max_length=20, choices=RecipientKind.choices)
    mailing_list = models.ForeignKey(
        "directory.MailingList", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    contact = models.ForeignKey(
        "directory.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    transaction_batch = models.ForeignKey(
        "directory.TransactionBatch",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    recipient_filter = models.CharField(
        max_length=20,
        blank=True,
        help_text="reminders: notStarted/notFinished; thank-yous: finished",
    )
    workflow_run_id = models.CharField(max_length=64, blank=True)
    embedded_data = models.JSONField(default=dict, blank=True)
    link_type = models.CharField(
        max_length=16, choices=LinkType.choices, default=LinkType.INDIVIDUAL
    )
    link_expires_at = models.DateTimeField(null=True, blank=True)
    library_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(max_length=500, blank=True)
    html_body = models.TextField(blank=True)
    text_body = models.TextField(blank=True)
    from_name = models.CharField(max_length=200, blank=True)
    from_email = models.CharField(max_length=320, blank=True)
    reply_to = models.CharField(max_length=320, blank=True)
    send_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=16, choices=DistributionStatus.choices, default=DistributionStatus.SCHEDULED
    )
    error = models.TextField(blank=True)
    recipient_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    prepared_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="distribution_org_recent"),
            models.Index(fields=["survey", "-created_at"], name="distribution_survey_recent"),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def title(self) -> str:
        """The subject of an email; the start of the text of an SMS."""
        if self.subject:
            return self.subject
        text = " ".join(self.text_body.split())
        return text[:60] + ("…" if len(text) > 60 else "") or self.get_channel_display()


class IdempotencyKey(models.Model):
    """An Idempotency-Key sent with POST /API/v3/distributions (email or SMS): a retry with the
    same key and body gets `distribution` back instead of a second one. Unique per
    organization; kept 24 hours (the distributions.forget_idempotency_keys job)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical request")
    distribution = models.ForeignKey(Distribution, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="one_distribution_per_key")
        ]

    def __str__(self) -> str:
        return self.key


class Delivery(models.Model):
    # Every index is written again at each change of status (a delivery changes 3 or 4 times
    # while it is sent), so the table keeps only those its queries use: no index of its own
    # for organization (deleting an organization is rare), distribution and contact (the
    # composite indexes below start with them), no LIKE indexes (public_id and message_id
    # are only compared whole), partial ones where most rows hold nothing.
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    distribution = models.ForeignKey(
        Distribution, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    public_id = models.CharField(max_length=32, default=new_delivery_id, editable=False)
    contact = models.ForeignKey(
        "directory.Contact",
        on_delete=models.CASCADE,
        related_name="distribution_deliveries",
        db_index=False,
    )
    transaction = models.ForeignKey(
        "directory.Transaction",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    email = models.CharField(max_length=320, blank=True, help_text="as addressed")
    phone = models.CharField(max_length=20, blank=True)
    segments = models.PositiveSmallIntegerField(default=0, help_text="SMS segments")
    price = models.CharField(max_length=32, blank=True, help_text="SMS cost, as the provider says")
    status = models.CharField(
        max_length=24, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    reason = models.CharField(max_length=500, blank=True, help_text="why skipped/blocked/failed")
    error = models.TextField(blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    # No foreign-key constraint in the database (Django still applies SET_NULL when a link is
    # deleted): the link is made by the sender in the same transaction, and the constraint's
    # check costs a lookup per message, or a scan of the links table per message when the
    # check's plan was cached while that table was nearly empty (a new installation).
    link = models.ForeignKey(
        "surveys.SurveyLink",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    link_secret = models.TextField(blank=True, help_text="the link token, encrypted")
    response_id = models.CharField(max_length=32, blank=True)
    claim = models.CharField(max_length=64, blank=True, help_text="the send attempt holding it")
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["distribution", "contact"], name="one_delivery_per_contact"
            ),
            models.UniqueConstraint(fields=["public_id"], name="delivery_public_id"),
        ]
        indexes = [
            models.Index(fields=["distribution", "status"], name="delivery_dist_status"),
            models.Index(fields=["distribution", "id"], name="delivery_dist_id"),
            models.Index(fields=["contact", "-created_at"], name="delivery_contact_recent"),
            models.Index(
                fields=["message_id"], name="delivery_message_id", condition=~Q(message_id="")
            ),
            models.Index(
                fields=["transaction"],
                name="delivery_transaction",
                condition=Q(transaction__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class TwilioSettings(models.Model):
    """An organization's Twilio account for SMS (see closeloop.integrations.twilio). The auth
    token is encrypted at rest with CLOSELOOP_ENCRYPTION_KEYS."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    account_sid = models.CharField(max_length=64, db_index=True)
    auth_token_secret = models.TextField(help_text="the auth token, encrypted")
    messaging_service_sid = models.CharField(max_length=64, blank=True)
    from_number = models.CharField(max_length=20, blank=True)
    help_text = models.CharField(max_length=320, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.account_sid

    @property
    def auth_token(self) -> str:
        return decrypt(self.auth_token_secret)


class SmsSessionStatus(models.TextChoices):
    OPEN = "open", "Open"
    FINISHED = "finished", "Finished"
    EXPIRED = "expired", "Expired"


class SmsSession(models.Model):
    """A two-way SMS survey in progress with one phone number: which question was asked last.
    Inbound messages from the number go to its open session (one open session per number)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    delivery = models.OneToOneField(Delivery, on_delete=models.CASCADE, related_name="sms_session")
    phone = models.CharField(max_length=20)
    response = models.ForeignKey(
        "surveys.Response", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    question_id = models.CharField(max_length=32, blank=True, help_text="the question asked")
    status = models.CharField(
        max_length=10, choices=SmsSessionStatus.choices, default=SmsSessionStatus.OPEN
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "phone", "status"], name="sms_session_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} ({self.status})"
