"""The fake Salesforce, with Closeloop's settings pointing at it."""

from __future__ import annotations

import pytest

from tests.fakes.salesforce import FakeSalesforce


@pytest.fixture
def fake_salesforce(settings, monkeypatch):
    fake = FakeSalesforce().start()
    settings.CLOSELOOP_SALESFORCE_CLIENT_ID = fake.client_id
    settings.CLOSELOOP_SALESFORCE_CLIENT_SECRET = fake.client_secret
    settings.CLOSELOOP_SALESFORCE_PRODUCTION_URL = fake.base_url
    settings.CLOSELOOP_SALESFORCE_SANDBOX_URL = fake.base_url
    # requests prefers these variables to a session's `verify`: trust the fake's certificate.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    yield fake
    fake.stop()
