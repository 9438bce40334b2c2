"""Screenshots for the docs, taken by the browser tests (`make screenshots`).

`doc_screenshot(page, "salesforce-event")` saves `docs/images/salesforce-event.png` when
CLOSELOOP_DOC_SCREENSHOTS=1 and does nothing otherwise, so an ordinary test run never rewrites
the docs. `tests/test_doc_images.py` checks that every image the docs show is named in such a
call: none is made by hand.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

IMAGES_DIR = Path(__file__).resolve().parent.parent / "docs" / "images"
ENABLED_VARIABLE = "CLOSELOOP_DOC_SCREENSHOTS"
NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def doc_screenshot(page, name: str) -> Path | None:
    """Save the page as it is now as docs/images/<name>.png (only with the variable set)."""
    assert NAME.fullmatch(name), f"doc screenshot names are lowercase words and hyphens: {name!r}"
    if os.environ.get(ENABLED_VARIABLE) != "1":
        return None
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    path = IMAGES_DIR / f"{name}.png"
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path
