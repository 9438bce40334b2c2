"""`make test`: lint, the whole suite on SQLite, then again on PostgreSQL.

With CI=true PostgreSQL and Chromium must be present; elsewhere a missing one is skipped
with a one-line reason. Ends with one summary line: 'N passed, N failed, N skipped'.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get(
    "CLOSELOOP_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)


def postgres_reachable() -> str | None:
    import psycopg

    try:
        with psycopg.connect(
            POSTGRES_URL.replace("postgres://", "postgresql://"), connect_timeout=3
        ):
            return None
    except psycopg.Error as error:
        return str(error).splitlines()[0]


def run_pytest(label: str, env_extra: dict[str, str], extra_args: list[str]) -> dict[str, int]:
    print(f"\n=== tests on {label} ===", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "junit.xml"
        env = {**os.environ, **env_extra}
        command = [str(BIN / "pytest"), f"--junitxml={report}", *extra_args]
        code = subprocess.call(command, cwd=ROOT, env=env)
        counts = read_counts(report)
    if code not in (0, 1):
        counts["failed"] = max(counts["failed"], 1)  # crashed, interrupted or collected nothing
    return counts


def read_counts(report: Path) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if not report.exists():
        return counts
    for suite in ET.parse(report).getroot().iter("testsuite"):
        tests = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts["failed"] += failed
        counts["skipped"] += skipped
        counts["passed"] += tests - failed - skipped
    return counts


def lint() -> int:
    print("=== ruff ===", flush=True)
    return subprocess.call([str(BIN / "ruff"), "check", "."], cwd=ROOT)


def main() -> int:
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    if lint() != 0:
        totals["failed"] += 1
    if CI and shutil.which("chromium") is None:
        print("CI=true but Debian's chromium is missing: the browser tests cannot run")
        totals["failed"] += 1
    runs = [("SQLite", {"DATABASE_URL": ""}, [])]
    problem = postgres_reachable()
    if problem is None:
        runs.append(("PostgreSQL", {"DATABASE_URL": POSTGRES_URL}, ["-m", "not sqlite_only"]))
    elif CI:
        print(f"CI=true but PostgreSQL is unreachable at {POSTGRES_URL}: {problem}")
        totals["failed"] += 1
    else:
        print(f"PostgreSQL tests skipped: no server at {POSTGRES_URL} ({problem})")
    for label, env, args in runs:
        for key, value in run_pytest(label, env, args).items():
            totals[key] += value
    print(f"\n{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if totals["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
