"""A library message rendered with sample piped values, as a recipient would see it."""

from __future__ import annotations

import html
from dataclasses import dataclass

from django.utils.html import strip_tags

from closeloop import piping
from closeloop.outbox.segments import count_segments

SAMPLE_LINK = "https://example.com/jfe/l/SAMPLE-PERSONAL-LINK"
SAMPLE_OPT_OUT = "https://example.com/opt-out/SAMPLE"
SAMPLE_CONTACT = {
    "FirstName": "Alex",
    "LastName": "Sample",
    "Email": "alex.sample@example.com",
    "Phone": "+14155552671",
    "ExternalDataReference": "EXT-0001",
    "Language": "EN",
}


def _sample_field(item) -> str:
    """Any ${e://Field/Name} shows as [Name]: the real value comes from the contact."""
    return f"[{item.key}]"


def sample_context() -> dict:
    return {
        "m": dict(SAMPLE_CONTACT),
        "e": _sample_field,
        "l": {
            "SurveyLink": SAMPLE_LINK,
            "SurveyURL": SAMPLE_LINK,
            "OptOutLink": SAMPLE_OPT_OUT,
            "OptOutURL": SAMPLE_OPT_OUT,
        },
    }


@dataclass
class Preview:
    subject: str
    html: str
    text: str
    characters: int
    segments: int


def render_preview(*, channel: str, subject: str, html_body: str, text_body: str) -> Preview:
    context = sample_context()
    if channel == "sms":
        text = piping.render(text_body, context, escape_html=False)
        return Preview("", "", text, len(text), count_segments(text))
    rendered_subject = " ".join(piping.render(subject, context, escape_html=False).split())
    if html_body.strip():
        rendered_html = piping.render(html_body, context, escape_html=True)
    else:
        escaped = piping.render(text_body, context, escape_html=True, escape_text=True)
        rendered_html = "<p>" + escaped.replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"
    if text_body.strip():
        text = piping.render(text_body, context, escape_html=False)
    else:
        text = html.unescape(strip_tags(piping.render(html_body, context, escape_html=False)))
    return Preview(rendered_subject, rendered_html, text, len(text), 0)
