"""Distributions test helpers: published surveys, mailing lists, a real SMTP server."""

from __future__ import annotations

import email
import logging
import socket
import threading
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction

from closeloop.accounts import actions as accounts_actions
from closeloop.directory import actions as directory_actions
from closeloop.distributions import actions
from closeloop.distributions.tests.helpers import run_jobs
from closeloop.distributions.tests.permission_world import World
from closeloop.jobs.tests.conftest import worker_process  # noqa: F401 - a fixture
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.tests.sample import simple
from conftest import add_member


@pytest.fixture(autouse=True)
def _distributions_urls(settings):
    settings.ROOT_URLCONF = "closeloop.distributions.tests.urls"


def make_survey(organization, user, *, publish=True, name="Customer feedback"):
    survey = survey_actions.create_survey(organization, user, name, simple("nps"))
    if publish:
        survey_actions.publish(survey, user)
    return survey


def make_list(organization, count: int, *, name="Customers", domain="example.com"):
    """A mailing list of `count` contacts in the default directory (one bulk upsert)."""
    directory = directory_actions.default_directory(organization)
    mailing_list = directory_actions.create_mailing_list(directory, name)
    rows = [
        (
            {"firstName": f"Person{n}", "lastName": "Test", "email": f"p{n}@{domain}"},
            {"Store": f"Store {n}"},
        )
        for n in range(count)
    ]
    with transaction.atomic():
        outcomes = directory_actions.upsert_contacts_bulk(
            directory, rows, mailing_list=mailing_list
        )
    contacts = [contact for _outcome, contact, _reason in outcomes]
    mailing_list.refresh_from_db()
    return mailing_list, contacts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RecordingHandler:
    """Keeps every message accepted; when `down`, drops the connection at MAIL FROM. Advertises
    PIPELINING (RFC 2920) unless told not to, as Postfix does."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()
        self.down = False
        self.refuse: set[str] = set()
        self.accept_limit: int | None = None
        self.pipelining = True

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            full = self.accept_limit is not None and len(self.messages) >= self.accept_limit
        if self.down or full:
            server.transport.close()
            return "421 4.3.2 Service shutting down"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        with self.lock:
            return [str(message["To"]) for message in self.messages]


class SmtpServer:
    def __init__(self):
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = None

    def start(self):
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server(settings):
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    server = SmtpServer()
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    yield server
    server.stop()


@pytest.fixture
def survey_a(org_a):
    return make_survey(*org_a)


@pytest.fixture
def survey_b(org_b):
    return make_survey(*org_b, name="Globex feedback")


@pytest.fixture
def world(org_a, org_b, member_a, settings) -> World:
    """The people of the permission tests (permission_world.py) and their survey."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    organization, owner = org_a
    users = {
        "owner": owner,
        "admin": add_member(organization, "ada@acme.test", role="admin"),
        "stranger": member_a,
        "viewer": add_member(organization, "vic@acme.test"),
        "distributor": add_member(organization, "dora@acme.test"),
        "other": org_b[1],
    }
    survey = make_survey(organization, owner)
    survey_actions.share_survey(survey, owner, user=users["viewer"], permissions=["view_results"])
    survey_actions.share_survey(
        survey, owner, user=users["distributor"], permissions=["distribute"]
    )
    mailing_list, contacts = make_list(organization, 2)
    distribution = actions.create_distribution(
        organization,
        survey,
        owner=owner,
        mailing_list=mailing_list,
        subject="Acme asks",
        text_body="${l://SurveyURL}",
    )
    run_jobs()
    tokens = {
        role: accounts_actions.create_api_token(
            org_b[0] if role == "other" else organization, user, "permissions"
        )[1]
        for role, user in users.items()
    }
    return World(organization, survey, mailing_list, contacts, distribution, users, tokens)
