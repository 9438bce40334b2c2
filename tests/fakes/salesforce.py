"""A fake Salesforce speaking enough of Salesforce's HTTP protocols for Closeloop's tests.

- HTTPS only, as Salesforce (and simple-salesforce, which always builds https:// URLs): a
  self-signed certificate for 127.0.0.1 is made with `cryptography`; point requests at it with
  REQUESTS_CA_BUNDLE=fake.ca_path.
- OAuth 2.0 web server flow (/services/oauth2/authorize with an approval page, /token for
  authorization_code with PKCE S256 and for refresh_token, /revoke) and the identity URL
  (/id/<org id>/<user id>), with Salesforce's error bodies ({"error", "error_description"}).
- REST API /services/data/vNN.N/: sobjects create (201 {id, success, errors}), update
  (PATCH → 204), upsert by external id (201 created / 200 updated), delete (204), describe, a
  small SOQL query (SELECT … FROM … WHERE Field = 'value', a quote escaped by a backslash), and
  Chatter posts (chatter/feed-elements, stored as FeedItem records); errors as Salesforce's array
  [{"message", "errorCode", "fields"}]: INVALID_SESSION_ID (401), NOT_FOUND (404),
  REQUIRED_FIELD_MISSING / INVALID_FIELD (400), REQUEST_LIMIT_EXCEEDED (403) on demand.
- Access tokens expire on demand (expire_access_tokens), refresh tokens can be revoked.
- An outbound-message sender that POSTs SOAP the way Salesforce does and retries until Ack.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import ipaddress
import json
import re
import secrets
import tempfile
import threading
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes import serving

ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
KEY_PREFIXES = {
    "Case": "500",
    "Contact": "003",
    "Account": "001",
    "Lead": "00Q",
    "FeedItem": "0D5",
}

DEFAULT_OBJECTS: dict[str, list[dict]] = {
    "Case": [
        {"name": "Id", "type": "id"},
        {"name": "CaseNumber", "type": "string", "createable": False},
        {"name": "Status", "type": "picklist"},
        {"name": "Subject", "type": "string"},
        {"name": "ContactId", "type": "reference", "referenceTo": ["Contact"]},
        {"name": "IsClosed", "type": "boolean", "createable": False},
    ],
    "Contact": [
        {"name": "Id", "type": "id"},
        {"name": "Email", "type": "email"},
        {"name": "LastName", "type": "string", "nillable": False},
        {"name": "External_Id__c", "type": "string", "externalId": True},
    ],
    "Survey_Response__c": [
        {"name": "Id", "type": "id"},
        {"name": "Name", "type": "string"},
        {"name": "Case__c", "type": "reference", "referenceTo": ["Case"]},
        {"name": "NPS__c", "type": "double"},
        {"name": "Comment__c", "type": "textarea"},
        {"name": "Response_Id__c", "type": "string", "externalId": True},
        {"name": "Completed_At__c", "type": "datetime"},
        {"name": "Promoter__c", "type": "boolean"},
    ],
}


def salesforce_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(ID_ALPHABET) for _ in range(15 - len(prefix)))


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-salesforce")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = directory / "fake-salesforce.pem", directory / "fake-key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


@dataclass
class FakeSalesforce:
    client_id: str = "fake-consumer-key"
    client_secret: str = "fake-consumer-secret"
    organization_id: str = "00D5g000004ClXkEAK"
    user_id: str = "0055g00000AbCdEAAZ"
    username: str = "admin@closeloop-demo.example"
    objects: dict[str, list[dict]] = field(default_factory=lambda: dict(DEFAULT_OBJECTS))
    records: dict[str, dict[str, dict]] = field(default_factory=dict)  # object → id → fields
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    limit_exceeded_times: int = 0  # the next N REST calls answer REQUEST_LIMIT_EXCEEDED
    server_error_times: int = 0  # the next N REST calls answer 503

    def __post_init__(self):
        self.lock = threading.Lock()
        self.codes: dict[str, dict] = {}  # authorization code → its request
        self.access_tokens: set[str] = set()
        self.bearers: list[tuple[str, str, str]] = []  # (method, path, access token) of each call
        self.refresh_tokens: set[str] = set()
        self.revoked: list[str] = []
        self.server = None
        self.scratch = tempfile.TemporaryDirectory()
        self.ca_path, self.key_path = self_signed_certificate(Path(self.scratch.name))

    # Server ---------------------------------------------------------------------------------

    def start(self) -> FakeSalesforce:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                fake.handle(self, "GET")

            def do_POST(self):
                fake.handle(self, "POST")

            def do_PATCH(self):
                fake.handle(self, "PATCH")

            def do_DELETE(self):
                fake.handle(self, "DELETE")

        self.server = serving.serve(Handler, certificate=(self.ca_path, self.key_path))
        return self

    def stop(self) -> None:
        serving.stop(self.server)
        self.scratch.cleanup()

    @property
    def base_url(self) -> str:
        return serving.base_url(self.server, "https")

    # Test controls --------------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        with self.lock:
            self.refresh_tokens.clear()

    def records_of(self, sobject: str) -> list[dict]:
        with self.lock:
            return [dict(record) for record in self.records.get(sobject, {}).values()]

    # Dispatch -------------------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        bearer = handler.headers.get("Authorization", "").split(" ")[-1]
        with self.lock:
            self.requests.append((method, parts.path))
            self.bearers.append((method, parts.path, bearer))
        routes = [
            ("GET", r"/services/oauth2/authorize", self.authorize_page),
            ("POST", r"/services/oauth2/authorize", self.authorize_decision),
            ("POST", r"/services/oauth2/token", self.token),
            ("POST", r"/services/oauth2/revoke", self.revoke),
            ("GET", r"/id/(?P<org>\w+)/(?P<user>\w+)", self.identity),
            (
                "GET",
                r"/services/data/v(?P<version>[\d.]+)/sobjects/(?P<obj>\w+)/describe/?",
                self.describe,
            ),
            ("POST", r"/services/data/v[\d.]+/sobjects/(?P<obj>\w+)/?", self.create),
            (
                "PATCH",
                r"/services/data/v[\d.]+/sobjects/(?P<obj>\w+)/(?P<key>\w+)/(?P<value>[^/]+)/?",
                self.upsert,
            ),
            ("PATCH", r"/services/data/v[\d.]+/sobjects/(?P<obj>\w+)/(?P<id>\w+)/?", self.update),
            ("DELETE", r"/services/data/v[\d.]+/sobjects/(?P<obj>\w+)/(?P<id>\w+)/?", self.delete),
            ("GET", r"/services/data/v[\d.]+/query/?", self.query),
            ("POST", r"/services/data/v[\d.]+/chatter/feed-elements/?", self.feed_element),
        ]
        for route_method, pattern, action in routes:
            match = re.fullmatch(pattern, parts.path)
            if route_method == method and match:
                request = Request(handler, method, parts.path, parse_qs(parts.query), body, match)
                if parts.path.startswith("/services/data/") and not self.rest_allowed(request):
                    return
                action(request)
                return
        reply_json(
            handler,
            404,
            [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}],
        )

    # OAuth ----------------------------------------------------------------------------------

    def authorize_page(self, request: Request) -> None:
        query = {key: values[0] for key, values in request.query.items()}
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            reply_html(request.handler, 400, "<h1>error=invalid_client_id</h1>")
            return
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        reply_html(
            request.handler,
            200,
            f"""<!doctype html><title>Allow Access?</title>
            <h1>Allow Access?</h1><p>Closeloop is asking to access {self.username}'s data.</p>
            <form method="post">{fields}
            <button name="decision" value="allow">Allow</button>
            <button name="decision" value="deny">Deny</button></form>""",
        )

    def authorize_decision(self, request: Request) -> None:
        form = request.form()
        redirect_uri, state = form.get("redirect_uri", ""), form.get("state", "")
        if form.get("decision") != "allow":
            target = f"{redirect_uri}?{urlencode({'error': 'access_denied', 'error_description': 'end-user denied authorization', 'state': state})}"
        else:
            code = secrets.token_urlsafe(24)
            with self.lock:
                self.codes[code] = form
            target = f"{redirect_uri}?{urlencode({'code': code, 'state': state})}"
        request.handler.send_response(302)
        request.handler.send_header("Location", target)
        request.handler.send_header("Content-Length", "0")
        request.handler.end_headers()

    def token(self, request: Request) -> None:
        form = request.form()
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            oauth_error(request.handler, "invalid_client", "invalid client credentials")
            return
        grant = form.get("grant_type")
        if grant == "authorization_code":
            with self.lock:
                authorized = self.codes.pop(form.get("code", ""), None)
            if authorized is None or authorized.get("redirect_uri") != form.get("redirect_uri"):
                oauth_error(request.handler, "invalid_grant", "invalid authorization code")
                return
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if authorized.get("code_challenge") != challenge.rstrip(b"=").decode():
                oauth_error(request.handler, "invalid_grant", "invalid code verifier")
                return
            refresh_token = secrets.token_urlsafe(32)
            with self.lock:
                self.refresh_tokens.add(refresh_token)
            reply_json(request.handler, 200, self.issue_access_token(refresh_token))
        elif grant == "refresh_token":
            with self.lock:
                known = form.get("refresh_token") in self.refresh_tokens
            if not known:
                oauth_error(request.handler, "invalid_grant", "expired access/refresh token")
                return
            reply_json(request.handler, 200, self.issue_access_token(None))
        else:
            oauth_error(request.handler, "unsupported_grant_type", "grant type not supported")

    def issue_access_token(self, refresh_token: str | None) -> dict:
        access_token = f"{self.organization_id[:15]}!{secrets.token_urlsafe(32)}"
        with self.lock:
            self.access_tokens.add(access_token)
        reply = {
            "access_token": access_token,
            "instance_url": self.base_url,
            "id": f"{self.base_url}/id/{self.organization_id}/{self.user_id}",
            "token_type": "Bearer",
            "issued_at": str(int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)),
            "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
            "scope": "api refresh_token",
        }
        if refresh_token:
            reply["refresh_token"] = refresh_token
        return reply

    def revoke(self, request: Request) -> None:
        token = request.form().get("token", "")
        with self.lock:
            self.revoked.append(token)
            self.refresh_tokens.discard(token)
            self.access_tokens.discard(token)
        request.handler.send_response(200)
        request.handler.send_header("Content-Length", "0")
        request.handler.end_headers()

    def identity(self, request: Request) -> None:
        if not self.authorized(request):
            reply_json(request.handler, 403, "Bad_OAuth_Token")
            return
        reply_json(
            request.handler,
            200,
            {
                "id": f"{self.base_url}/id/{self.organization_id}/{self.user_id}",
                "organization_id": self.organization_id,
                "user_id": self.user_id,
                "username": self.username,
                "display_name": "Demo Admin",
                "urls": {"rest": f"{self.base_url}/services/data/v{{version}}/"},
            },
        )

    def authorized(self, request: Request) -> bool:
        header = request.handler.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").removeprefix("OAuth ").strip()
        with self.lock:
            return token in self.access_tokens

    # REST -----------------------------------------------------------------------------------

    def rest_allowed(self, request: Request) -> bool:
        if not self.authorized(request):
            reply_json(
                request.handler,
                401,
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            )
            return False
        with self.lock:
            if self.limit_exceeded_times > 0:
                self.limit_exceeded_times -= 1
                limited = True
            else:
                limited = False
            if not limited and self.server_error_times > 0:
                self.server_error_times -= 1
                failing = True
            else:
                failing = False
        if limited:
            reply_json(
                request.handler,
                403,
                [
                    {
                        "message": "TotalRequests Limit exceeded.",
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                    }
                ],
            )
            return False
        if failing:
            reply_json(
                request.handler,
                503,
                [{"message": "Server unavailable", "errorCode": "SERVER_UNAVAILABLE"}],
            )
            return False
        return True

    def describe(self, request: Request) -> None:
        fields = self.objects.get(request.match["obj"])
        if fields is None:
            self.unknown_object(request)
            return
        described = [
            {
                "name": f["name"],
                "label": f["name"].removesuffix("__c").replace("_", " "),
                "type": f["type"],
                "createable": f.get("createable", f["type"] != "id"),
                "updateable": f.get("createable", f["type"] != "id"),
                "nillable": f.get("nillable", True),
                "externalId": f.get("externalId", False),
                "idLookup": f.get("externalId", False) or f["type"] == "id",
                "referenceTo": f.get("referenceTo", []),
            }
            for f in fields
        ]
        reply_json(
            request.handler,
            200,
            {
                "name": request.match["obj"],
                "custom": request.match["obj"].endswith("__c"),
                "fields": described,
            },
        )

    def checked_fields(self, request: Request, *, creating: bool) -> dict | None:
        sobject = request.match["obj"]
        fields = {f["name"]: f for f in self.objects.get(sobject, [])}
        if not fields:
            self.unknown_object(request)
            return None
        try:
            values = json.loads(request.body or b"{}")
        except json.JSONDecodeError:
            reply_json(
                request.handler,
                400,
                [
                    {
                        "message": "The request body is not valid JSON",
                        "errorCode": "JSON_PARSER_ERROR",
                    }
                ],
            )
            return None
        for name in values:
            if name not in fields or name == "Id":
                reply_json(
                    request.handler,
                    400,
                    [
                        {
                            "message": f"No such column '{name}' on sobject of type {sobject}",
                            "errorCode": "INVALID_FIELD",
                            "fields": [name],
                        }
                    ],
                )
                return None
        for name, value in values.items():
            kind = fields[name]["type"]
            if kind == "double" and value is not None and not isinstance(value, int | float):
                reply_json(
                    request.handler,
                    400,
                    [
                        {
                            "message": f"{name}: value not of required type: {value}",
                            "errorCode": "INVALID_TYPE_ON_FIELD_IN_RECORD",
                            "fields": [name],
                        }
                    ],
                )
                return None
            if kind == "reference" and value and not self.find(fields[name]["referenceTo"], value):
                reply_json(
                    request.handler,
                    400,
                    [
                        {
                            "message": f"{name}: id value of incorrect type: {value}",
                            "errorCode": "MALFORMED_ID",
                            "fields": [name],
                        }
                    ],
                )
                return None
        required = [n for n, f in fields.items() if f.get("nillable") is False and n != "Id"]
        missing = [n for n in required if creating and not values.get(n)]
        if missing:
            reply_json(
                request.handler,
                400,
                [
                    {
                        "message": f"Required fields are missing: [{', '.join(missing)}]",
                        "errorCode": "REQUIRED_FIELD_MISSING",
                        "fields": missing,
                    }
                ],
            )
            return None
        return values

    def find(self, sobjects: list[str], record_id: str) -> bool:
        with self.lock:
            return any(
                record_id[:15] in {i[:15] for i in self.records.get(s, {})} for s in sobjects
            )

    def create(self, request: Request) -> None:
        values = self.checked_fields(request, creating=True)
        if values is None:
            return
        record_id = self.store(request.match["obj"], None, values)
        reply_json(request.handler, 201, {"id": record_id, "success": True, "errors": []})

    def store(self, sobject: str, record_id: str | None, values: dict) -> str:
        with self.lock:
            table = self.records.setdefault(sobject, {})
            if record_id is None:
                prefix = KEY_PREFIXES.get(sobject, "a0B")
                record_id = salesforce_id(prefix) + "AAA"
                table[record_id] = {"Id": record_id}
            table[record_id].update(values)
            return record_id

    def update(self, request: Request) -> None:
        record = self.record(request.match["obj"], request.match["id"])
        if record is None:
            reply_json(
                request.handler,
                404,
                [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}],
            )
            return
        values = self.checked_fields(request, creating=False)
        if values is None:
            return
        self.store(request.match["obj"], record["Id"], values)
        reply_empty(request.handler, 204)

    def upsert(self, request: Request) -> None:
        sobject, key = request.match["obj"], request.match["key"]
        value = unquote(request.match["value"])  # the external id, percent-encoded in the path
        field_spec = next((f for f in self.objects.get(sobject, []) if f["name"] == key), None)
        if field_spec is None or not field_spec.get("externalId"):
            reply_json(
                request.handler,
                404,
                [
                    {
                        "message": f"Provided external ID field does not exist or is not accessible: {key}",
                        "errorCode": "NOT_FOUND",
                    }
                ],
            )
            return
        with self.lock:
            matches = [
                r for r in self.records.get(sobject, {}).values() if str(r.get(key)) == value
            ]
        if len(matches) > 1:
            reply_json(
                request.handler,
                300,
                [f"/services/data/v66.0/sobjects/{sobject}/{r['Id']}" for r in matches],
            )
            return
        values = self.checked_fields(request, creating=not matches)
        if values is None:
            return
        values[key] = value
        record_id = self.store(sobject, matches[0]["Id"] if matches else None, values)
        reply_json(
            request.handler,
            200 if matches else 201,
            {"id": record_id, "success": True, "errors": [], "created": not matches},
        )

    def delete(self, request: Request) -> None:
        record = self.record(request.match["obj"], request.match["id"])
        if record is None:
            reply_json(
                request.handler,
                404,
                [{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED"}],
            )
            return
        with self.lock:
            del self.records[request.match["obj"]][record["Id"]]
        reply_empty(request.handler, 204)

    def record(self, sobject: str, record_id: str) -> dict | None:
        with self.lock:
            for stored_id, record in self.records.get(sobject, {}).items():
                if stored_id[:15] == record_id[:15]:
                    return record
        return None

    def query(self, request: Request) -> None:
        soql = request.query.get("q", [""])[0]
        match = re.fullmatch(
            r"SELECT\s+(?P<fields>[\w,\s]+?)\s+FROM\s+(?P<obj>\w+)(?:\s+WHERE\s+(?P<key>\w+)\s*=\s*'(?P<value>(?:[^'\\]|\\.)*)')?(?:\s+LIMIT\s+\d+)?",
            soql.strip(),
            re.IGNORECASE,
        )
        if match is None or match["obj"] not in self.objects:
            reply_json(
                request.handler,
                400,
                [{"message": f"unexpected token in: {soql}", "errorCode": "MALFORMED_QUERY"}],
            )
            return
        names = [name.strip() for name in match["fields"].split(",")]
        wanted = re.sub(r"\\(.)", r"\1", match["value"]) if match["key"] else None
        rows = [
            {"attributes": {"type": match["obj"]}, **{n: r.get(n) for n in names}}
            for r in self.records_of(match["obj"])
            if match["key"] is None or str(r.get(match["key"])) == wanted
        ]
        reply_json(request.handler, 200, {"totalSize": len(rows), "done": True, "records": rows})

    def feed_element(self, request: Request) -> None:
        """POST chatter/feed-elements: a FeedItem with text segments on a record (or "me")."""
        try:
            element = json.loads(request.body or b"{}")
        except json.JSONDecodeError:
            element = None
        body = element.get("body") if isinstance(element, dict) else None
        segments = body.get("messageSegments") if isinstance(body, dict) else None
        segments = [s for s in segments or [] if isinstance(s, dict)]
        text = "".join(str(s.get("text", "")) for s in segments if s.get("type") == "Text")
        if not isinstance(element, dict) or element.get("feedElementType") != "FeedItem":
            problem = "feedElementType must be FeedItem"
        elif not text.strip():
            problem = "The feed item body is empty"
        else:
            problem = ""
        if problem:
            reply_json(request.handler, 400, [{"message": problem, "errorCode": "INVALID_INPUT"}])
            return
        subject = str(element.get("subjectId") or "")
        subject = self.user_id if subject == "me" else subject
        if subject != self.user_id and not self.find(list(self.records), subject):
            reply_json(
                request.handler,
                404,
                [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}],
            )
            return
        record_id = self.store("FeedItem", None, {"ParentId": subject, "Body": text})
        reply_json(
            request.handler,
            201,
            {
                "id": record_id,
                "feedElementType": "FeedItem",
                "type": "TextPost",
                "parent": {"id": subject},
                "body": {"text": text, "messageSegments": segments},
            },
        )

    def unknown_object(self, request: Request) -> None:
        reply_json(
            request.handler,
            404,
            [
                {
                    "message": f"The requested resource does not exist: sObject type '{request.match['obj']}' is not supported.",
                    "errorCode": "NOT_FOUND",
                }
            ],
        )

    # Outbound messages ----------------------------------------------------------------------

    def send_outbound_message(
        self, url: str, body: bytes, *, attempts: int = 3, timeout: float = 10
    ):
        """POST like Salesforce's outbound-message sender: until an Ack true, or attempts run out.
        Returns the (status, content type, body) of every attempt."""
        replies = []
        for _ in range(attempts):
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "text/xml; charset=utf-8",
                    "SOAPAction": '""',
                    "User-Agent": "Jakarta Commons-HttpClient/3.1",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    reply = (
                        response.status,
                        response.headers.get("Content-Type", ""),
                        response.read(),
                    )
            except urllib.error.HTTPError as error:
                reply = (error.code, error.headers.get("Content-Type", ""), error.read())
            replies.append(reply)
            if reply[0] == 200 and re.search(rb"<Ack>\s*true\s*</Ack>", reply[2]):
                break
        return replies


@dataclass
class Request:
    handler: BaseHTTPRequestHandler
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    match: re.Match

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}


def reply_json(handler: BaseHTTPRequestHandler, status: int, payload) -> None:
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json;charset=UTF-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def reply_html(handler: BaseHTTPRequestHandler, status: int, page: str) -> None:
    body = page.encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "text/html;charset=UTF-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def reply_empty(handler: BaseHTTPRequestHandler, status: int) -> None:
    handler.send_response(status)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def oauth_error(handler: BaseHTTPRequestHandler, error: str, description: str) -> None:
    reply_json(handler, 400, {"error": error, "error_description": description})
