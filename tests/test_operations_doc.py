"""docs/operations.md names every CLOSELOOP_* setting the code reads (its configuration reference)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_closeloop_setting_is_in_the_operations_page():
    names = set()
    for path in (ROOT / "closeloop").rglob("*.py"):
        if "tests" not in path.parts:
            names |= set(re.findall(r"\bCLOSELOOP_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    documented = set(
        re.findall(r"CLOSELOOP_[A-Z0-9_]*[A-Z0-9]", (ROOT / "docs" / "operations.md").read_text())
    )
    missing = sorted(names - documented)
    assert not missing, f"add to the configuration reference in docs/operations.md: {missing}"
