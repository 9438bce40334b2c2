"""Directories: create, find the default one, change the settings (dedup rules, phone region)."""

from __future__ import annotations

import phonenumbers
from django.db import transaction

from closeloop.directory import dedup, match_indexes
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.models import Directory
from closeloop.jobs.actions import enqueue


def create_directory(
    organization, name: str, *, is_default: bool = False, default_phone_region: str = "US"
) -> Directory:
    name = (name or "").strip()
    if not name:
        raise InvalidValue("A directory needs a name.")
    return Directory.objects.create(
        organization=organization,
        name=name[:200],
        is_default=is_default,
        default_phone_region=_region(default_phone_region),
    )


def default_directory(organization) -> Directory:
    """The organization's default directory, created on first use."""
    with transaction.atomic():
        directory = Directory.objects.filter(organization=organization, is_default=True).first()
        if directory is None:
            directory = create_directory(organization, "Main directory", is_default=True)
    return directory


def would_be_default_directory(organization) -> Directory:
    """default_directory without creating it (for dry runs): the default directory, or the one
    default_directory would create, unsaved."""
    directory = Directory.objects.filter(organization=organization, is_default=True).first()
    if directory is None:
        directory = Directory(organization=organization, name="Main directory", is_default=True)
    return directory


def update_directory_settings(
    directory: Directory,
    *,
    name: str | None = None,
    dedup_rules: list | None = None,
    default_phone_region: str | None = None,
) -> Directory:
    """Rename, change dedup rules or the phone region. Existing contacts are not re-matched.
    Rules that begin with an embedded data field get their index from a job (match_indexes)."""
    if name is not None:
        if not name.strip():
            raise InvalidValue("A directory needs a name.")
        directory.name = name.strip()[:200]
    if dedup_rules is not None:
        problems = dedup.validate_rules(dedup_rules)
        if problems:
            raise InvalidValue(" ".join(problems))
        rules_before = directory.dedup_rules
        directory.dedup_rules = [[field.strip() for field in rule] for rule in dedup_rules]
    if default_phone_region is not None:
        directory.default_phone_region = _region(default_phone_region)
    with transaction.atomic():
        directory.save()
        if dedup_rules is not None and directory.dedup_rules != rules_before:
            sync_match_indexes(directory)
    return directory


MATCH_INDEX_JOB = "directory.match_indexes"


def sync_match_indexes(directory: Directory) -> None:
    """Queue the job that builds (or drops) the indexes the directory's embedded data rules
    need (closeloop.directory.match_indexes)."""
    if match_indexes.supported() and (
        match_indexes.wanted(directory) or match_indexes.existing(directory.pk)
    ):
        enqueue(
            MATCH_INDEX_JOB,
            {"directory_id": directory.pk},
            organization=directory.organization_id,
        )


def _region(region: str) -> str:
    region = (region or "").strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidValue(f"{region!r} is not a phone region (use a code such as US or GB).")
    return region
