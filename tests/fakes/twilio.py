"""A fake Twilio speaking enough of Twilio's HTTP API for Closeloop's tests.

- A threaded http.server implementing POST /2010-04-01/Accounts/{AccountSid}/Messages.json
  with HTTP Basic auth (account SID : auth token), Twilio's JSON reply shape (201) and its error
  shape (400/401/404), recording every message.
- Webhooks the way Twilio sends them: form-encoded POSTs signed with X-Twilio-Signature,
  computed with twilio.request_validator.RequestValidator over the exact URL and parameters
  (status callbacks to the message's StatusCallback, inbound messages to a given URL).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode

from twilio.request_validator import RequestValidator

from tests.fakes import serving


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class FakeTwilio:
    account_sid: str = field(default_factory=lambda: new_sid("AC"))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    phone_number: str = "+15005550006"
    price: str | None = "-0.00790"
    messages: list[dict] = field(default_factory=list)
    refuse: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # to → (http, code, msg)

    def __post_init__(self):
        self.lock = threading.Lock()
        self.server = None

    # Server ---------------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                fake._handle(self)

        self.server = serving.serve(Handler)
        return self

    def stop(self) -> None:
        serving.stop(self.server)

    @property
    def base_url(self) -> str:
        return serving.base_url(self.server)

    def _reply(self, handler, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _error(self, handler, status: int, code: int, message: str) -> None:
        self._reply(
            handler,
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    def _handle(self, handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        if handler.headers.get("Authorization") != expected:
            return self._error(handler, 401, 20003, "Authenticate")
        if handler.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return self._error(handler, 404, 20404, "The requested resource was not found")
        to = form.get("To", "")
        if not to:
            return self._error(handler, 400, 21604, "A 'To' phone number is required.")
        if not form.get("Body"):
            return self._error(handler, 400, 21602, "Message body is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return self._error(handler, 400, 21603, "A 'From' phone number is required.")
        if to in self.refuse:
            return self._error(handler, *self.refuse[to])
        from closeloop.outbox.segments import count_segments

        sid = new_sid("SM")
        now = formatdate(usegmt=True)
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From") or self.phone_number,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(count_segments(form["Body"])),
            "price": self.price,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "status_callback": form.get("StatusCallback"),
        }
        with self.lock:
            self.messages.append(message)
        self._reply(handler, 201, message)

    # Webhooks -------------------------------------------------------------------------------

    def sign(self, url: str, params: dict, token: str | None = None) -> str:
        return RequestValidator(token or self.auth_token).compute_signature(url, params)

    def webhook(self, client, url: str, params: dict, *, signature: str | None = None):
        """POST `params` to `url` (absolute) through a Django test client, signed."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {}
        signature = self.sign(url, params) if signature is None else signature
        if signature:
            headers["X-Twilio-Signature"] = signature
        return client.post(
            path,
            urlencode(params),
            content_type="application/x-www-form-urlencoded",
            headers=headers,
        )

    def status_callback(self, client, message: dict, status: str, **extra):
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message["from"],
            "MessageSid": message["sid"],
            "MessageStatus": status,
            "SmsSid": message["sid"],
            "SmsStatus": status,
            "To": message["to"],
            **extra,
        }
        if status in ("sent", "delivered") and self.price:
            params.setdefault("Price", self.price)
            params.setdefault("PriceUnit", "USD")
        return self.webhook(client, message["status_callback"], params)

    def inbound(self, client, url: str, sender: str, body: str, *, to: str | None = None):
        sid = new_sid("SM")
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": sender,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to or self.phone_number,
        }
        return self.webhook(client, url, params)
