"""Small helpers to make directory rows in tests."""

from __future__ import annotations

from closeloop.directory.models import Directory


def make_directory(organization, name: str = "Main directory", **fields) -> Directory:
    fields.setdefault(
        "is_default", not Directory.objects.filter(organization=organization).exists()
    )
    return Directory.objects.create(organization=organization, name=name, **fields)
