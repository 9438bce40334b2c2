import subprocess
import sys

from closeloop import config


def test_defaults_generate_secrets_once_into_var(tmp_path):
    first = config.load({"CLOSELOOP_VAR_DIR": str(tmp_path)})
    second = config.load({"CLOSELOOP_VAR_DIR": str(tmp_path)})
    assert first.problems == []
    assert first.secret_key == second.secret_key
    assert first.encryption_keys == second.encryption_keys
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert first.database_url == f"sqlite:///{tmp_path / 'closeloop.sqlite3'}"


def test_rotated_keys_are_all_kept(tmp_path):
    from cryptography.fernet import Fernet

    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    loaded = config.load(
        {"CLOSELOOP_VAR_DIR": str(tmp_path), "CLOSELOOP_ENCRYPTION_KEYS": f"{new}, {old}"}
    )
    assert loaded.encryption_keys == [new, old]
    assert loaded.problems == []


def test_misconfiguration_is_explained(tmp_path):
    loaded = config.load(
        {
            "CLOSELOOP_VAR_DIR": str(tmp_path),
            "CLOSELOOP_ENCRYPTION_KEYS": "not-a-key",
            "CLOSELOOP_BASE_URL": "closeloop.example.com",
            "DATABASE_URL": "mysql://x@y/z",
            "SECRET_KEY": "short",
        }
    )
    text = "\n".join(loaded.problems)
    assert "key #1 is not a Fernet key" in text
    assert "CLOSELOOP_BASE_URL must be an http(s) URL" in text
    assert "DATABASE_URL must start with sqlite:/// or postgres://" in text
    assert "SECRET_KEY is too short" in text


def test_cli_reports_misconfiguration_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "closeloop", "check"],
        env={
            "CLOSELOOP_VAR_DIR": str(tmp_path),
            "CLOSELOOP_ENCRYPTION_KEYS": "nope",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Closeloop cannot start: the configuration is wrong." in result.stderr
    assert "key #1 is not a Fernet key" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_explained(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "closeloop", "web"],
        env={
            "CLOSELOOP_VAR_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Closeloop cannot reach its database" in result.stderr
    assert "Traceback" not in result.stderr
