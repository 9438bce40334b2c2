"""Start a real Closeloop (`closeloop up` or `closeloop web`) in a subprocess for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(base_url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Closeloop exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"Closeloop did not become healthy at {base_url}")


@contextmanager
def closeloop_up(var_dir: Path, extra_env: dict[str, str] | None = None):
    """`closeloop up` on a fresh SQLite database under var_dir; yields (base_url, process)."""
    port = free_port()
    env = {
        **os.environ,
        "CLOSELOOP_VAR_DIR": str(var_dir),
        "CLOSELOOP_BASE_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": "",
        **(extra_env or {}),
    }
    env.pop("EMAIL_URL", None)
    log = (var_dir / "up.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "closeloop", "up", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, process)
        yield base_url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()
