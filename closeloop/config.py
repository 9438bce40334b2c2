"""Read Closeloop's configuration from the environment.

Pure Python (no Django imports) so that misconfiguration can be reported in plain words
before Django starts, and so that it can be tested alone.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(Exception):
    """A setting is missing or wrong; the message is meant for the person running Closeloop."""


@dataclass
class Config:
    var_dir: Path
    secret_key: str
    base_url: str
    database_url: str
    encryption_keys: list[str]
    email_url: str | None
    debug: bool
    problems: list[str] = field(default_factory=list)


def var_dir_from(env: dict[str, str]) -> Path:
    return Path(env.get("CLOSELOOP_VAR_DIR") or Path.cwd() / "var").resolve()


def _read_or_create(path: Path, make) -> str:
    """Keep generated secrets in ./var so that restarts keep sessions and encrypted data."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def _new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _check_fernet_keys(keys: list[str]) -> list[str]:
    from cryptography.fernet import Fernet

    problems = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            problems.append(
                f"CLOSELOOP_ENCRYPTION_KEYS: key #{position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                '`python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"`).'
            )
    return problems


def _check_base_url(url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            f"CLOSELOOP_BASE_URL must be an http(s) URL such as https://closeloop.example.com, not {url!r}."
        ]
    return []


def _check_database_url(url: str) -> list[str]:
    scheme = url.split(":", 1)[0]
    if scheme not in ("sqlite", "postgres", "postgresql", "pgsql"):
        return [
            f"DATABASE_URL must start with sqlite:/// or postgres://, not {scheme!r} "
            "(Closeloop supports SQLite and PostgreSQL)."
        ]
    return []


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def load(env: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    var_dir = var_dir_from(env)
    problems: list[str] = []

    secret_key = env.get("SECRET_KEY") or _read_or_create(
        var_dir / "secret_key", lambda: secrets.token_urlsafe(50)
    )
    if len(secret_key) < 32:
        problems.append("SECRET_KEY is too short: use at least 32 random characters.")

    raw_keys = env.get("CLOSELOOP_ENCRYPTION_KEYS")
    if raw_keys is None:
        raw_keys = _read_or_create(var_dir / "encryption_keys", _new_fernet_key)
    keys = [key.strip() for key in raw_keys.split(",") if key.strip()]
    if not keys:
        problems.append(
            "CLOSELOOP_ENCRYPTION_KEYS is empty: give one or more comma-separated Fernet keys."
        )
    problems += _check_fernet_keys(keys)

    base_url = (env.get("CLOSELOOP_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
    problems += _check_base_url(base_url)

    database_url = env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'closeloop.sqlite3'}"
    problems += _check_database_url(database_url)

    return Config(
        var_dir=var_dir,
        secret_key=secret_key,
        base_url=base_url,
        database_url=database_url,
        encryption_keys=keys,
        email_url=env.get("EMAIL_URL") or None,
        debug=_flag(env.get("CLOSELOOP_DEBUG")),
        problems=problems,
    )
