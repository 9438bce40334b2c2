"""Handing a window's messages to the email backend, one connection per chunk, at the configured
pace, and knowing what each failure means (closeloop.distributions.sending describes the
states): a refused recipient, a refusal of the message, a 4xx reply, a connection lost before or
during DATA.

With Django's SMTP backend the message bytes (email_message.py) are written directly, and a
server that advertises PIPELINING (RFC 2920) gets MAIL FROM, RCPT TO and DATA in one write: two
round trips per message instead of smtplib's four, every reply still read in order and
attributed to its command. Other backends (the outbox, django-anymail providers) get an
EmailMultiAlternatives.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import time
from collections.abc import Callable

from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend

from closeloop.distributions.channels.email_message import (
    PLAIN_ADDRESS,
    EmailTemplate,
    Rendered,
    default_sender,
)
from closeloop.distributions.core import AMBIGUOUS, Outcome, describe_error, rate_limit
from closeloop.distributions.models import DeliveryStatus, Distribution

_LEADING_DOT = re.compile(rb"(?m)^\.")


class Pace:
    """At most `per_second` messages a second (0: no limit)."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if now < self.next_at:
            time.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.interval


class _DataWatch:
    """Wraps an smtplib connection's data() (once per connection) to know whether DATA began
    for the current message: after that, a lost connection leaves the message's fate unknown."""

    def __init__(self, smtp):
        self.started = False
        original = smtp.data

        def data(msg):
            self.started = True
            return original(msg)

        smtp.data = data

    def content_begins(self) -> None:
        self.started = True

    @classmethod
    def of(cls, connection) -> _DataWatch | None:
        smtp = getattr(connection, "connection", None)
        if not isinstance(smtp, smtplib.SMTP):
            return None
        watch = getattr(smtp, "_closeloop_watch", None)
        if watch is None:
            watch = cls(smtp)
            smtp._closeloop_watch = watch
        watch.started = False
        return watch


class EmailSender:
    """Sends windows of claimed deliveries over one connection of the configured backend,
    opened at the first message and kept for the whole chunk, at the configured rate."""

    def __init__(self, distribution: Distribution):
        self.template = EmailTemplate(distribution, default_sender())
        self.pace = Pace(rate_limit())
        self.connection = None

    def open(self) -> None:
        connection = get_connection(fail_silently=False)
        connection.open()  # raises when the server is unreachable
        self.connection = connection

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close
                self._abandon()
                self.connection.close()
            self.connection = None

    def _smtp(self) -> smtplib.SMTP | None:
        """The smtplib connection when the backend is Django's SMTP backend: messages are then
        written directly."""
        smtp = getattr(self.connection, "connection", None)
        if isinstance(self.connection, SmtpBackend) and isinstance(smtp, smtplib.SMTP):
            return smtp
        return None

    def _abandon(self) -> None:
        smtp = self._smtp()
        if smtp is not None:
            abandon(smtp)

    def send(self, window: list) -> Outcome:
        """Send a claimed window (channels.email.Ready items); what became of each."""
        if self.connection is None:
            try:
                self.open()
            except Exception as error:  # nothing was handed over
                why = describe_error(error)
                return Outcome(
                    released=[(item, why) for item in window],
                    interrupted=f"Cannot connect: {why}",
                )
        outcome = Outcome()
        messages = self._messages(window)
        for position, item in enumerate(window):
            rendered, data = messages[position]
            then = messages[position + 1][1] if position + 1 < len(window) else None
            watch = _DataWatch.of(self.connection)
            self.pace.wait()
            try:
                accepted = self._send_one(item, rendered, data, then, watch)
            except smtplib.SMTPRecipientsRefused as error:
                code, reply = next(iter(error.recipients.values()))
                why = f"{code} {_text(reply)}"
                if 500 <= code < 600:
                    outcome.final.append((item, DeliveryStatus.HARD_BOUNCE, why))
                else:
                    outcome.released.append((item, why))
                continue
            except smtplib.SMTPResponseException as error:
                why = f"{error.smtp_code} {_text(error.smtp_error)}"
                if 500 <= error.smtp_code < 600:
                    outcome.final.append((item, DeliveryStatus.FAILURE, why))
                    continue
                # A 4xx reply: not accepted, try again later (the server may be throttling us).
                outcome.released += [(later, why) for later in window[position:]]
                outcome.interrupted = f"The server asked us to retry later: {why}"
                self._abandon()
                return outcome
            except Exception as error:  # connection lost, or a provider error
                why = describe_error(error)
                if watch is not None and not watch.started:
                    outcome.released += [(later, why) for later in window[position:]]
                else:
                    outcome.final.append((item, DeliveryStatus.FAILURE, f"{AMBIGUOUS} ({why})"))
                    outcome.released += [(later, why) for later in window[position + 1 :]]
                outcome.interrupted = f"Sending stopped: {why}"
                self._abandon()
                return outcome
            if accepted:
                outcome.sent.append((item, rendered.message_id))
            else:
                outcome.final.append((item, DeliveryStatus.FAILURE, "The backend refused it."))
        return outcome

    def _messages(self, window: list) -> list[tuple]:
        """(rendered, bytes) of every message of the window, made before the first is sent:
        over SMTP a message's envelope leaves with the previous message's content."""
        smtp = self._smtp()
        messages = []
        for item in window:
            rendered = self.template.render(item.recipient)
            data = None
            if smtp is not None:
                # The bytes Django would send, without building the message objects (the slow
                # part): what makes a distribution fast.
                data = (self.template.from_address, rendered.to, self.template.as_bytes(rendered))
            messages.append((rendered, data))
        return messages

    def _send_one(
        self,
        item,
        rendered: Rendered,
        data: tuple | None,
        then: tuple | None,
        watch: _DataWatch | None,
    ) -> bool:
        smtp = self._smtp()
        if smtp is not None and data is not None:
            send_over_smtp(smtp, *data, watch.content_begins, then=then)
            return True
        message = self.template.as_django(rendered, item.recipient.public_id, self.connection)
        return bool(self.connection.send_messages([message]))


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# SMTP ------------------------------------------------------------------------------------------


def send_over_smtp(
    smtp: smtplib.SMTP,
    sender: str,
    recipient: str,
    data: bytes,
    before_content: Callable[[], None] = lambda: None,
    then: tuple[str, str, bytes] | None = None,
) -> None:
    """smtplib's sendmail() for one recipient, with the same exceptions, pipelined when the
    server allows it. `before_content` is called just before the message itself is written:
    from then on a lost connection leaves its fate unknown.

    `then` (sender, recipient, data) is the message the caller sends next: its envelope goes in
    the same write as this message's content (RFC 2920 lets commands follow the end of data),
    one write per message instead of two. The caller must then send exactly that message, or
    call abandon() (a server waiting for its content cannot be told to stop otherwise)."""
    smtp.ehlo_or_helo_if_needed()
    announced = getattr(smtp, "_closeloop_envelope", None)
    smtp._closeloop_envelope = None
    if announced is None and not _pipelines(smtp, sender, recipient):
        smtp.sendmail(sender, [recipient], data)  # calls smtp.data() before the content
        return
    if announced is None:
        smtp.send(_envelope(smtp, sender, recipient, data))
    elif announced != (sender, recipient, len(data)):
        smtp.close()
        raise smtplib.SMTPServerDisconnected("Not the message whose envelope was sent.")
    _expect(smtp, (250,), 2, lambda code, reply: smtplib.SMTPSenderRefused(code, reply, sender))
    _expect(
        smtp,
        (250, 251),
        1,
        lambda code, reply: smtplib.SMTPRecipientsRefused({recipient: (code, reply)}),
    )
    _expect(smtp, (354,), 0, smtplib.SMTPDataError)
    before_content()
    content = _LEADING_DOT.sub(b"..", data)
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    content += b".\r\n"
    if then is not None and _pipelines(smtp, then[0], then[1]):
        content += _envelope(smtp, *then)
        smtp._closeloop_envelope = (then[0], then[1], len(then[2]))
    smtp.send(content)
    code, reply = smtp.getreply()
    if code == 250:
        return
    if code == 421:
        smtp.close()
    elif smtp._closeloop_envelope is None:
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            smtp.rset()
    # else: the transaction ended with the message; the next one's envelope is on its way.
    raise smtplib.SMTPDataError(code, reply)


def abandon(smtp: smtplib.SMTP) -> None:
    """Close the connection if the envelope of a message that will not be sent is on its way:
    the server would take whatever comes next (QUIT included) as that message's content."""
    if getattr(smtp, "_closeloop_envelope", None) is not None:
        smtp._closeloop_envelope = None
        smtp.close()


def _pipelines(smtp: smtplib.SMTP, sender: str, recipient: str) -> bool:
    return bool(
        PLAIN_ADDRESS.match(sender)
        and PLAIN_ADDRESS.match(recipient)
        and smtp.has_extn("pipelining")
    )


def _envelope(smtp: smtplib.SMTP, sender: str, recipient: str, data: bytes) -> bytes:
    size = f" SIZE={len(data)}" if smtp.has_extn("size") else ""
    return f"MAIL FROM:<{sender}>{size}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode()


def _expect(smtp: smtplib.SMTP, codes: tuple, replies_after: int, error) -> None:
    """Read one reply; when it is not one of `codes`, read the replies still owed to the
    commands sent with it, end the transaction as smtplib does (close on 421, else RSET) and
    raise error(code, reply)."""
    code, reply = smtp.getreply()
    if code in codes:
        return
    if code == 421:
        smtp.close()
        raise error(code, reply)
    for _owed in range(replies_after):
        owed_code, _reply = smtp.getreply()
        if owed_code == 354:  # DATA accepted after a refused envelope (RFC 2920 forbids it)
            smtp.send(b".\r\n")
            smtp.getreply()
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()
    raise error(code, reply)
