"""XM Directory: directories, contacts, mailing lists, transactions, frequency rules.

Every row carries its organization (tenant isolation). Contacts keep the values exactly as
given (firstName, email …) and, beside them, normalised match columns that the dedup rules
and searches use; each has a composite index (directory, column) so that a lookup stays a
B-tree probe at millions of contacts.
"""

from __future__ import annotations

import json
import secrets
import string
import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from closeloop.ids import ALPHABET, new_id


# Named module-level functions: migrations reference field defaults by import path.
def new_pool_id() -> str:
    return new_id("POOL_")


def new_contact_id() -> str:
    return new_contact_ids(1)[0]


# Random byte -> alphabet character, for bytes below 248 (= 4 * 62: no modulo bias).
_UNBIASED = bytes(ord(ALPHABET[byte % 62]) if byte < 248 else 0 for byte in range(256))
_BIASED_BYTES = bytes(range(248, 256))
# Digits, then upper case, then lower case: in byte order, as PostgreSQL's C collation and
# most B-trees compare them.
_ORDERED_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
_TIME_CHARACTERS = 7  # 62**7 milliseconds: until the year 2081


def _time_prefix() -> str:
    """The current millisecond in base 62, so that contact ids made together sort together."""
    milliseconds, characters = time.time_ns() // 1_000_000, []
    for _ in range(_TIME_CHARACTERS):
        milliseconds, digit = divmod(milliseconds, 62)
        characters.append(_ORDERED_ALPHABET[digit])
    return "".join(reversed(characters))


def new_contact_ids(count: int, length: int = 15, prefix: str = "CID_") -> list[str]:
    """`count` contact ids: CID_ (or `prefix`), the millisecond (7 characters), then random
    characters (8, from the secrets RNG), sorted. Ids made at the same time land side by side in the
    public id's index instead of on random pages of it: a million-contact import touches
    (and writes to the WAL) far fewer index pages. 62**8 random values per millisecond keep
    collisions negligible; the unique index refuses one anyway (the chunk is redone)."""
    random_length = length - _TIME_CHARACTERS
    text = b""
    while len(text) < count * random_length:
        missing = count * random_length - len(text)
        text += secrets.token_bytes(missing + missing // 16 + 16).translate(
            _UNBIASED, _BIASED_BYTES
        )
    text = text.decode("ascii")
    prefix += _time_prefix()
    return sorted(
        prefix + text[start : start + random_length]
        for start in range(0, count * random_length, random_length)
    )


def new_list_id() -> str:
    return new_id("CG_")


def new_lookup_id() -> str:
    """A contact's id in one mailing list (Qualtrics' contactLookupId, CGC_ + 15 characters),
    made like contact ids so that a list import's memberships sit together in the index."""
    return new_contact_ids(1, prefix="CGC_")[0]


def new_transaction_id() -> str:
    return new_id("CTR_")


def new_batch_id() -> str:
    return new_id("BT_")


MAX_DEDUP_RULES = 3
MAX_FREQUENCY_RULES = 20
MAX_EMBEDDED_NAME = 200
MAX_EMBEDDED_VALUE = 1024


def default_dedup_rules() -> list[list[str]]:
    return [["extRef"], ["email"]]


def _pattern_index(column: str, name: str) -> models.Index:
    """(directory, column) usable for equality and prefix (LIKE 'x%') lookups on PostgreSQL.

    The operator classes are ignored on SQLite, whose B-tree serves both anyway.
    """
    return models.Index(
        fields=["directory", column], name=name, opclasses=["int8_ops", "varchar_pattern_ops"]
    )


class EmbeddedDataField(models.JSONField):
    """Embedded data {name: text}, with a `has_value` lookup: some field equals the value.

    On PostgreSQL `has_value` is `embedded_data @? '$.* ? (@ == "value")'`, which the GIN
    index on the column answers; on SQLite it reads each contact's JSON.
    """


@EmbeddedDataField.register_lookup
class HasValue(models.Lookup):
    lookup_name = "has_value"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        sql = f"EXISTS (SELECT 1 FROM json_each({lhs}) AS item WHERE item.value = %s)"
        return sql, [*lhs_params, str(self.rhs)]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} @? %s::jsonpath", [*lhs_params, embedded_value_path(self.rhs)]


def embedded_value_path(value) -> str:
    """The SQL/JSON path matching an object with some member equal to `value` (as text)."""
    return f"$.* ? (@ == {json.dumps(str(value), ensure_ascii=False)})"


class Directory(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="directories"
    )
    public_id = models.CharField(max_length=32, unique=True, default=new_pool_id, editable=False)
    name = models.CharField(max_length=200)
    is_default = models.BooleanField(default=False)
    default_phone_region = models.CharField(
        max_length=2, default="US", help_text="ISO 3166 region for phone numbers without +"
    )
    dedup_rules = models.JSONField(default=default_dedup_rules)
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "directories"
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(is_default=True),
                name="one_default_directory_per_org",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    # Neither tenant column has a constraint in the database, nor an index of its own: an
    # import writes a million contacts, and each constraint is a trigger query per row at
    # commit (a third of an import chunk's commit) while the directory's own row is known to
    # exist (the import holds it). Closeloop deletes a directory's contacts with it (Django's
    # cascade) and every read path names the directory, whose indexes lead with it.
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    directory = models.ForeignKey(
        Directory,
        on_delete=models.CASCADE,
        related_name="contacts",
        db_index=False,
        db_constraint=False,
    )
    # Unique through Meta.constraints: a unique=True CharField also gets a second, `_like`
    # index on PostgreSQL (for LIKE 'x%'), which no query uses and every insert maintains.
    public_id = models.CharField(max_length=32, default=new_contact_id, editable=False)
    # As given.
    first_name = models.CharField(max_length=200, blank=True)
    last_name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=320, blank=True)
    phone = models.CharField(max_length=64, blank=True)
    ext_ref = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=16, blank=True)
    unsubscribed = models.BooleanField(default=False)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    embedded_data = EmbeddedDataField(default=dict, blank=True)
    # Normalised, for matching and search (see closeloop.directory.dedup).
    phone_e164 = models.CharField(max_length=20, blank=True)
    email_normalized = models.CharField(max_length=320, blank=True)
    ext_ref_normalized = models.CharField(max_length=200, blank=True)
    first_name_normalized = models.CharField(max_length=200, blank=True)
    last_name_normalized = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            _pattern_index("email_normalized", "contact_dir_email"),
            _pattern_index("ext_ref_normalized", "contact_dir_extref"),
            _pattern_index("phone_e164", "contact_dir_phone"),
            # With the id: "Jane Do" (a first name, the start of a last name) walks the
            # Janes in id order, for the first page, instead of the whole directory.
            models.Index(
                fields=["directory", "first_name_normalized", "id"],
                name="contact_dir_first_id",
                opclasses=["int8_ops", "varchar_pattern_ops", "int8_ops"],
            ),
            _pattern_index("last_name_normalized", "contact_dir_last"),
            models.Index(fields=["directory", "id"], name="contact_dir_id"),
        ]
        constraints = [models.UniqueConstraint(fields=["public_id"], name="contact_public_id")]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or self.ext_ref or self.public_id

    @property
    def can_receive_sms(self) -> bool:
        return bool(self.phone_e164) and not self.unsubscribed

    @property
    def can_receive_email(self) -> bool:
        return bool(self.email_normalized) and not self.unsubscribed


class MailingList(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    directory = models.ForeignKey(Directory, on_delete=models.CASCADE, related_name="mailing_lists")
    public_id = models.CharField(max_length=32, unique=True, default=new_list_id, editable=False)
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    contact_count = models.PositiveIntegerField(
        default=0, help_text="members, kept up to date by closeloop.directory.actions"
    )
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["directory", "name"], name="list_dir_name")]

    def __str__(self) -> str:
        return self.name


class MailingListMembership(models.Model):
    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.CASCADE, related_name="memberships"
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="memberships")
    public_id = models.CharField(
        max_length=32,
        unique=True,
        default=new_lookup_id,
        editable=False,
        help_text="the contact's id in this list: Qualtrics' contactLookupId (CGC_…)",
    )
    unsubscribed = models.BooleanField(default=False, help_text="unsubscribed from this list only")
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailing_list", "contact"], name="one_membership_per_list"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.mailing_list_id}"


class TransactionBatch(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    directory = models.ForeignKey(
        Directory, on_delete=models.CASCADE, related_name="transaction_batches"
    )
    public_id = models.CharField(max_length=32, unique=True, default=new_batch_id, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.public_id


class Transaction(models.Model):
    """Dated data on a contact (a touchpoint). Never overwritten: each event adds one."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    directory = models.ForeignKey(Directory, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(
        max_length=32, unique=True, default=new_transaction_id, editable=False
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="transactions")
    transaction_date = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)
    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    batch = models.ForeignKey(
        TransactionBatch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="transactions",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["contact", "-transaction_date"], name="transaction_contact_date")
        ]

    def __str__(self) -> str:
        return self.public_id


class Channel(models.TextChoices):
    ANY = "any", "Any channel"
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class FrequencyScope(models.TextChoices):
    DIRECTORY = "directory", "Whole directory"
    MAILING_LIST = "mailing_list", "Mailing list"
    SURVEY = "survey", "Survey"


class FrequencyRule(models.Model):
    """Contact frequency: at most N messages per rolling period and/or D days between messages.

    A rule scoped to a survey or a mailing list overrides the directory-wide rules for
    messages of that survey or list (the most specific scope wins).
    """

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    directory = models.ForeignKey(
        Directory, on_delete=models.CASCADE, related_name="frequency_rules"
    )
    scope = models.CharField(
        max_length=16, choices=FrequencyScope.choices, default=FrequencyScope.DIRECTORY
    )
    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    survey_id = models.CharField(max_length=32, blank=True)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.ANY)
    max_messages = models.PositiveIntegerField(null=True, blank=True)
    period_days = models.PositiveIntegerField(null=True, blank=True)
    min_days_between = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        parts = []
        if self.max_messages is not None and self.period_days is not None:
            parts.append(f"at most {self.max_messages} in {self.period_days} days")
        if self.min_days_between is not None:
            parts.append(f"at least {self.min_days_between} days apart")
        target = {
            FrequencyScope.DIRECTORY: "directory",
            FrequencyScope.MAILING_LIST: f"list {getattr(self.mailing_list, 'name', '')}",
            FrequencyScope.SURVEY: f"survey {self.survey_id}",
        }[self.scope]
        channel = "" if self.channel == Channel.ANY else f" ({self.get_channel_display()})"
        return f"{', '.join(parts) or 'no limit'} — {target}{channel}"


class ContactMessageLog(models.Model):
    """One message sent to a contact; written by the distribution code, read by frequency rules."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="message_log")
    channel = models.CharField(max_length=8, choices=Channel.choices[1:])
    survey_id = models.CharField(max_length=32, blank=True)
    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sent_at = models.DateTimeField(default=timezone.now)
    is_reminder = models.BooleanField(
        default=False, help_text="reminders and thank-yous do not count against frequency rules"
    )

    class Meta:
        indexes = [models.Index(fields=["contact", "-sent_at"], name="message_log_contact_sent")]

    def __str__(self) -> str:
        return f"{self.channel} to {self.contact_id} at {self.sent_at:%Y-%m-%d %H:%M}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"


def import_upload_path(instance, filename: str) -> str:
    return f"directory-imports/{instance.organization_id}/{new_id('', 20)}.csv"


class ContactImport(models.Model):
    """A CSV import of contacts: its file, its progress and its report (row numbers, reasons).

    Work happens in chunks, each committed with the progress, so a retried job resumes after
    the last committed row.
    """

    MAX_REJECTIONS_KEPT = 1000

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    directory = models.ForeignKey(Directory, on_delete=models.CASCADE, related_name="imports")
    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    file = models.FileField(upload_to=import_upload_path, max_length=300)
    original_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    rejections = models.JSONField(default=list, blank=True, help_text="[{row, reason}], capped")
    error = models.TextField(blank=True, help_text="why the whole import stopped")
    job_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.original_name or 'contacts'}"

    @property
    def is_done(self) -> bool:
        return self.status in (ImportStatus.FINISHED, ImportStatus.FAILED)

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.is_done else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))
