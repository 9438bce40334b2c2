"""The HTTP POST the Try it page makes to Closeloop's own receivers, as Salesforce or Segment
would from outside. Pure: urllib only, no Django."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field

TIMEOUT_SECONDS = 30  # Salesforce waits 60 s for the Ack; the page does not wait that long
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """What came back: the status, the headers and the body; or, with no answer, why."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str = ""


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT_SECONDS):
    """POST `body` to `url` (http or https only) and return the answer, whatever its status."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (checked)
            return Answer(response.status, dict(response.headers), response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as error:  # a 4xx or 5xx answer: still an answer
        with error:
            return Answer(error.code, dict(error.headers), error.read(MAX_ANSWER_BYTES))
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Answer(None, error=f"No answer from {url}: {reason}")
