"""Encryption of the individual-link tokens a delivery keeps (to send them again in reminders
and to list them through GET /API/v3/distributions/{id}/links). The surveys app stores only a
hash; a delivery keeps the token encrypted with CLOSELOOP_ENCRYPTION_KEYS (rotatable: the
first key encrypts, every key decrypts)."""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@functools.lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    keys = settings.CLOSELOOP_ENCRYPTION_KEYS
    if isinstance(keys, str):
        keys = [key.strip() for key in keys.split(",") if key.strip()]
    return _fernet(tuple(keys))


def encrypt(text: str) -> str:
    return _current().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    return _current().decrypt(token.encode()).decode()
