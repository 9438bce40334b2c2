"""Qualtrics-style public ids: a prefix and 15 random alphanumeric characters (SV_, CID_ …)."""

import secrets
import string

ALPHABET = string.ascii_letters + string.digits
# Random bytes below this map evenly onto the 62 characters (four times 62); the rest are skipped.
_EVEN_LIMIT = 4 * len(ALPHABET)


def new_id(prefix: str, length: int = 15) -> str:
    """One read of the system's randomness per id (secrets.choice reads once per character:
    a 100-notification message makes 100 run ids)."""
    characters: list[str] = []
    while len(characters) < length:
        spare = length - len(characters) + 8  # about 3 % of bytes are skipped
        characters += [
            ALPHABET[byte % 62] for byte in secrets.token_bytes(spare) if byte < _EVEN_LIMIT
        ]
    return prefix + "".join(characters[:length])


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
