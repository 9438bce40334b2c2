"""Signed opt-out links and the public page behind them."""

import pytest
from django.test import Client

from closeloop.directory import actions, queries
from closeloop.directory.tests.factories import make_directory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("closeloop.directory.tests.urls")]


@pytest.fixture
def jane(org_a):
    directory = make_directory(org_a[0])
    return actions.upsert_contact(directory, {"email": "jane@example.com"})[0]


def test_get_asks_and_post_unsubscribes_without_login(jane):
    url = actions.opt_out_url(jane)
    assert url.startswith("http")
    path = url[url.index("/directory/") :]
    client = Client(enforce_csrf_checks=True)
    page = client.get(path)
    assert page.status_code == 200 and b"Unsubscribe?" in page.content
    jane.refresh_from_db()
    assert not jane.unsubscribed  # link scanners only GET
    done = client.post(path)  # one-click (RFC 8058): no CSRF token
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    jane.refresh_from_db()
    assert jane.unsubscribed


def test_a_list_link_unsubscribes_from_that_list_only(jane):
    vip = actions.create_mailing_list(jane.directory, "VIP")
    actions.add_to_mailing_list(vip, jane)
    token = actions.opt_out_token(jane, vip)
    Client().post(f"/directory/opt-out/{token}/")
    jane.refresh_from_db()
    assert not jane.unsubscribed
    assert queries.membership(vip, jane).unsubscribed


def test_a_tampered_link_does_nothing(jane):
    token = actions.opt_out_token(jane)
    response = Client().post(f"/directory/opt-out/{token[:-2]}xx/")
    assert response.status_code == 404 and b"does not work" in response.content
    jane.refresh_from_db()
    assert not jane.unsubscribed


def test_a_link_for_a_deleted_contact_does_nothing(jane):
    token = actions.opt_out_token(jane)
    actions.delete_contact(jane)
    assert Client().post(f"/directory/opt-out/{token}/").status_code == 404
