"""What one email of a distribution is, rendered fast: the message template is compiled once per
distribution, then each delivery fills it in.

- Piped text is parsed once: literal text is kept (escaped once when it must be), and only the
  fields are rendered per recipient, by the same piping engine as everywhere else.
- The MIME message is written directly as the bytes Django's EmailMultiAlternatives would
  produce (same headers in the same order, same folding and encoded words, same
  Content-Transfer-Encoding choice per part), without building email.message objects: the
  headers common to every recipient are folded once, a per-recipient header is folded by the
  email package only when it is not short plain ASCII, and subjects are cached.
- Backends other than Django's SMTP backend (the outbox, django-anymail providers) receive the
  same content as an EmailMultiAlternatives.

closeloop.distributions.channels.email sends these messages; email_sender.py hands them over.
"""

from __future__ import annotations

import functools
import html
import random
import re
import time
from dataclasses import dataclass
from email import policy
from email.utils import formataddr, formatdate, parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import forbid_multi_line_headers, utf8_charset_qp
from django.utils.html import strip_tags

from closeloop import piping
from closeloop.distributions.core import absolute_url_pattern
from closeloop.outbox.backends import ORGANIZATION_HEADER

# What Django's message().as_bytes(linesep="\r\n") folds headers with.
HEADERS = policy.compat32.clone(linesep="\r\n")
MAX_LINE_BYTES = 998  # RFC 5322; Django switches a part to quoted-printable beyond it
_NEWLINES = re.compile(rb"\r\n|\r|\n")
_SPLIT_POINTS = re.compile(r"[\s,;]")
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\Z")


def default_sender() -> tuple[str, str]:
    """(name, address) of the configured default sender (DEFAULT_FROM_EMAIL)."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return name, address


@dataclass
class Recipient:
    """What one delivery's email is made of."""

    public_id: str  # the delivery's
    email: str
    fields: dict  # m://
    embedded: dict  # e://
    survey_url: str
    opt_out_url: str
    tracking_token: str


@dataclass
class Rendered:
    message_id: str
    to: str
    subject: str
    text_body: str
    html_body: str
    unsubscribe_url: str


class CompiledText:
    """A piped-text template parsed once; render() fills in the fields only, with piping's
    rules (tests/test_sending_fast.py checks the result against piping.render)."""

    def __init__(self, text: str, *, escape_html: bool, escape_text: bool = False):
        self.escape_html = escape_html
        self.parts: list[str | tuple] = []
        for segment in piping.parse(text or ""):
            if isinstance(segment, piping.Text):
                value = segment.value
                self.parts.append(html.escape(value) if escape_text else value)
            elif not segment.is_well_formed:
                self.parts.append("")
            elif segment.scheme in ("m", "e"):
                self.parts.append((segment.scheme, segment.key))
            elif segment.scheme == "l":
                self.parts.append(("l", segment.key, segment.options.get("d")))
            else:  # dates and the rest: piping renders the field alone, as inside the text
                self.parts.append(("", segment.raw))

    def render(self, context: dict) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part[0] == "l":
                out.append(self._link(context["l"], part[1], part[2]))
            elif part[0]:
                value = piping.to_text(context[part[0]].get(part[1]))
                out.append(html.escape(value) if self.escape_html else value)
            else:
                out.append(piping.render(part[1], context, escape_html=self.escape_html))
        return "".join(out)

    def _link(self, links: dict, name: str, label: str | None) -> str:
        url = links.get(name)
        if url is None:
            url = links.get(LINK_FALLBACK[name])
        url = piping.to_text(url)
        if not url or not self.escape_html:
            return url
        if name.endswith("Link") and url.lower().startswith(("http://", "https://")):
            return f'<a href="{html.escape(url)}">{html.escape(label or url)}</a>'
        return html.escape(url)


LINK_FALLBACK = {
    "SurveyLink": "SurveyURL",
    "SurveyURL": "SurveyLink",
    "OptOutLink": "OptOutURL",
    "OptOutURL": "OptOutLink",
}


class EmailTemplate:
    """One distribution's message, compiled: subject, both parts, and the fixed headers."""

    def __init__(self, distribution, sender: tuple[str, str]):
        name, address = sender
        self.distribution_id = distribution.public_id
        self.organization_id = distribution.organization_id
        self.from_address = distribution.from_email or address
        self.from_header = formataddr((distribution.from_name or name, self.from_address))
        self.reply_to = [distribution.reply_to] if distribution.reply_to else []
        self.domain = self.from_address.rsplit("@", 1)[-1] or (
            urlsplit(settings.CLOSELOOP_BASE_URL).hostname or "localhost"
        )
        self.subject = CompiledText(distribution.subject, escape_html=False)
        self.html = CompiledText(distribution.html_body, escape_html=True)
        self.html_from_text = CompiledText(
            distribution.text_body, escape_html=True, escape_text=True
        )
        self.text = CompiledText(distribution.text_body, escape_html=False)
        self.text_from_html = CompiledText(distribution.html_body, escape_html=False)
        self.has_html, self.has_text = bool(distribution.html_body), bool(distribution.text_body)
        self.pixel = absolute_url_pattern("tracking:open")
        self.unsubscribe = absolute_url_pattern("tracking:unsubscribe")
        self.embedded_data = dict(distribution.embedded_data or {})
        self._mime = None

    def message_id_affixes(self) -> tuple[str, str]:
        """A Message-ID is these around the delivery's public id: unique per delivery, and
        one UPDATE can record those of a whole batch."""
        return "<", f".{self.distribution_id}@{self.domain}>"

    def message_id(self, delivery_public_id: str) -> str:
        before, after = self.message_id_affixes()
        return f"{before}{delivery_public_id}{after}"

    def render(self, recipient: Recipient) -> Rendered:
        context = {
            "m": recipient.fields,
            "e": {**recipient.embedded, **self.embedded_data},
            "l": {
                "SurveyLink": recipient.survey_url,
                "SurveyURL": recipient.survey_url,
                "OptOutLink": recipient.opt_out_url,
                "OptOutURL": recipient.opt_out_url,
            },
        }
        subject = " ".join(self.subject.render(context).split())
        if self.has_html:
            html_body = self.html.render(context)
        else:
            text = self.html_from_text.render(context)
            html_body = "<p>" + text.replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"
        if self.has_text:
            text_body = self.text.render(context)
        else:
            text_body = html.unescape(strip_tags(self.text_from_html.render(context)))
        before, after = self.pixel
        pixel = f"{before}{recipient.tracking_token}{after}"
        html_body += f'<img src="{html.escape(pixel)}" width="1" height="1" alt="">'
        before, after = self.unsubscribe
        return Rendered(
            message_id=self.message_id(recipient.public_id),
            to=recipient.email,
            subject=subject,
            text_body=text_body,
            html_body=html_body,
            unsubscribe_url=f"{before}{recipient.tracking_token}{after}",
        )

    def extra_headers(self, rendered: Rendered) -> dict[str, str]:
        return {
            "Message-ID": rendered.message_id,
            "List-Unsubscribe": f"<{rendered.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            ORGANIZATION_HEADER: str(self.organization_id),
            "X-Closeloop-Distribution": self.distribution_id,
        }

    def as_django(self, rendered: Rendered, delivery_public_id: str, connection=None):
        """The message for any Django email backend (outbox, django-anymail providers)."""
        message = EmailMultiAlternatives(
            subject=rendered.subject,
            body=rendered.text_body,
            from_email=self.from_header,
            to=[rendered.to],
            reply_to=self.reply_to,
            connection=connection,
            headers=self.extra_headers(rendered),
        )
        message.attach_alternative(rendered.html_body, "text/html")
        # Read by django-anymail backends only: providers echo it in their webhooks.
        message.metadata = {"closeloop_delivery": delivery_public_id}
        return message

    def as_bytes(self, rendered: Rendered) -> bytes:
        """What Django's SMTP backend would send for as_django(rendered), built directly."""
        if self._mime is None:
            self._mime = MimeWriter(self)
        return self._mime.write(rendered)


class MimeWriter:
    """multipart/alternative bytes laid out exactly as Django's EmailMultiAlternatives."""

    def __init__(self, template: EmailTemplate):
        self.boundary = new_boundary()
        from_header = forbid_multi_line_headers("From", template.from_header, "utf-8")[1]
        self.from_line = fold("From", from_header)
        self.reply_to_line = b""
        if template.reply_to:
            reply_to = forbid_multi_line_headers("Reply-To", ", ".join(template.reply_to), "utf-8")
            self.reply_to_line = fold("Reply-To", reply_to[1])
        fixed = template.extra_headers(
            Rendered(
                message_id="", to="", subject="", text_body="", html_body="", unsubscribe_url=""
            )
        )
        self.trailer = b"".join(
            fold(name, value)
            for name, value in fixed.items()
            if name not in ("Message-ID", "List-Unsubscribe")
        )
        self._date_second, self._date_line = -1, b""

    def write(self, rendered: Rendered) -> bytes:
        text, html_part = part("plain", rendered.text_body), part("html", rendered.html_body)
        boundary = self.boundary
        if boundary.encode() in text or boundary.encode() in html_part:
            boundary = new_boundary()  # a value happens to contain it (as the email package does)
        delimiter = b"--" + boundary.encode()
        return b"".join(
            (
                content_type_line(boundary),
                b"MIME-Version: 1.0\r\n",
                subject_line(rendered.subject),
                self.from_line,
                address_line("To", rendered.to),
                self.reply_to_line,
                self.date_line(),
                short_line("Message-ID", rendered.message_id),
                short_line("List-Unsubscribe", f"<{rendered.unsubscribe_url}>"),
                self.trailer,
                b"\r\n",
                delimiter,
                b"\r\n",
                text,
                b"\r\n",
                delimiter,
                b"\r\n",
                html_part,
                b"\r\n",
                delimiter,
                b"--\r\n",
            )
        )

    def date_line(self) -> bytes:
        second = int(time.time())
        if second != self._date_second:
            localtime = getattr(settings, "EMAIL_USE_LOCALTIME", False)
            self._date_second = second
            self._date_line = fold("Date", formatdate(second, localtime=localtime))
        return self._date_line


def new_boundary() -> str:
    """The email package's kind of boundary: 15 '=', 19 random digits, '=='."""
    return "=" * 15 + f"{random.randrange(10**18, 10**19)}" + "=="


def fold(name: str, value: str) -> bytes:
    return HEADERS.fold_binary(name, value)


def short_line(name: str, value: str) -> bytes:
    """A header line as the email package folds it. A printable ASCII value it cannot split
    (no space, comma or semicolon: a URL, an address, a Message-ID) is laid out according to
    its length only, so that layout is computed once per length."""
    if value.isascii() and value.isprintable() and not _SPLIT_POINTS.search(value):
        before, after = _unsplittable_layout(name, len(value))
        return before + value.encode() + after
    return fold(name, value)


@functools.lru_cache(maxsize=512)
def _unsplittable_layout(name: str, length: int) -> tuple[bytes, bytes]:
    before, after = fold(name, "x" * length).rsplit(b"x" * length, 1)
    return before, after


@functools.lru_cache(maxsize=1024)
def content_type_line(boundary: str) -> bytes:
    return fold("Content-Type", f'multipart/alternative; boundary="{boundary}"')


@functools.lru_cache(maxsize=4096)
def subject_line(subject: str) -> bytes:
    return fold("Subject", forbid_multi_line_headers("Subject", subject, "utf-8")[1])


def address_line(name: str, address: str) -> bytes:
    if PLAIN_ADDRESS.match(address):
        return short_line(name, address)
    return fold(name, forbid_multi_line_headers(name, address, "utf-8")[1])


def part(subtype: str, body: str) -> bytes:
    """One text part as SafeMIMEText writes it: 7bit/8bit UTF-8, or quoted-printable when a
    line is longer than RFC 5322 allows."""
    encoded = body.encode(errors="surrogateescape")
    # str.splitlines() splits at more characters than bytes.splitlines(): if no bytes line is
    # too long, no str line is either; only then is Django's exact test needed.
    if max(map(len, encoded.splitlines()), default=0) > MAX_LINE_BYTES and any(
        len(line.encode(errors="surrogateescape")) > MAX_LINE_BYTES for line in body.splitlines()
    ):
        encoding, payload = "quoted-printable", utf8_charset_qp.body_encode(body).encode()
    else:
        encoding, payload = ("7bit" if body.isascii() else "8bit"), encoded
    payload = _NEWLINES.sub(b"\r\n", payload)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"MIME-Version: 1.0\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode() + payload
