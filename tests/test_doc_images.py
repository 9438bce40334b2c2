"""The screenshots in docs/ are produced by the browser tests (`make screenshots`), not by hand."""

import re
from pathlib import Path

from tests.screenshots import IMAGES_DIR

ROOT = Path(__file__).resolve().parent.parent
CALL = re.compile(r"doc_screenshot\(\s*\w+\s*,\s*\"([a-z0-9-]+)\"")
REFERENCE = re.compile(r"images/([a-z0-9-]+)\.png")


def files_with_tests():
    return [
        path
        for base in (ROOT / "closeloop", ROOT / "tests")
        for path in base.rglob("test_*.py")
        if path.name != "test_doc_images.py"
    ]


def screenshot_names() -> dict[str, Path]:
    return {name: path for path in files_with_tests() for name in CALL.findall(path.read_text())}


def referenced() -> dict[str, str]:
    return {
        name: page.name
        for page in sorted((ROOT / "docs").glob("*.md"))
        for name in REFERENCE.findall(page.read_text())
    }


def test_every_referenced_image_exists_and_is_taken_by_a_test():
    taken = screenshot_names()
    for name, page in referenced().items():
        assert (IMAGES_DIR / f"{name}.png").is_file(), (
            f"docs/{page} shows images/{name}.png, which is missing: run `make screenshots`"
        )
        assert name in taken, f"docs/{page} shows images/{name}.png, but no test takes it"


def test_every_image_is_taken_by_a_test():
    taken = screenshot_names()
    hand_made = sorted(p.name for p in IMAGES_DIR.glob("*.png") if p.stem not in taken)
    assert not hand_made, f"images no test's doc_screenshot(…) takes: {hand_made}"


def test_the_docs_show_each_screenshot():
    shown = referenced()
    unshown = sorted(name for name in screenshot_names() if name not in shown)
    assert not unshown, f"screenshots no page in docs/ shows: {unshown}"
