"""Qualtrics-style public ids: a prefix and 15 random alphanumeric characters (SV_, CID_ …)."""

import secrets
import string

ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 15) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))


def id_factory(prefix: str):
    """A callable for a model field default (migrations need a named function, not a lambda)."""

    def make() -> str:
        return new_id(prefix)

    make.__name__ = f"new_{prefix.rstrip('_').lower()}_id"
    return make


def new_user_id() -> str:
    return new_id("UR_")


def new_token() -> str:
    """A 40-character API token, the length Qualtrics uses."""
    return new_id("", 40)
