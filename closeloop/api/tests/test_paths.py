"""Paths as clients write them: doubled slashes (QualtricsAPI) and trailing slashes are the
canonical path on /API/v3, as on Qualtrics; other paths are left alone."""

import pytest

from closeloop.api.middleware import normalized_api_path
from closeloop.api.tests.conftest import assert_envelope_error, assert_success, get


@pytest.mark.parametrize(
    ("given", "served"),
    [
        ("/API/v3/whoami", "/API/v3/whoami"),
        ("/API/v3/whoami/", "/API/v3/whoami"),
        ("/API/v3//whoami", "/API/v3/whoami"),
        ("/API/v3/directories/POOL_x//contacts", "/API/v3/directories/POOL_x/contacts"),
        ("/API/v3/directories/POOL_x///mailinglists//", "/API/v3/directories/POOL_x/mailinglists"),
        ("/API/v3/", "/API/v3/"),
        ("/API/v3//", "/API/v3/"),
        ("/api/v1/me/", "/api/v1/me"),
        ("/api/v1/a//b", "/api/v1/a//b"),  # only /API/v3 copies Qualtrics there
        ("/directory//contacts/", "/directory//contacts/"),
        ("/inbound/json//x", "/inbound/json//x"),
    ],
)
def test_normalized_api_path(given, served):
    assert normalized_api_path(given) == served


@pytest.mark.django_db
def test_a_doubled_slash_is_the_single_slash_endpoint(client, token_a):
    for path in ("/API/v3//whoami", "/API/v3//whoami//", "/API/v3///users"):
        assert_success(get(client, path, token_a))


@pytest.mark.django_db
def test_next_page_links_name_the_canonical_path(client, token_a, org_a):
    from closeloop.accounts.tests.conftest import add_member

    add_member(org_a[0], "member@acme.test")
    result = assert_success(get(client, "/API/v3//users//?pageSize=1", token_a))
    assert "/API/v3/users?" in result["nextPage"]


@pytest.mark.django_db
def test_unknown_paths_stay_unknown(client, token_a):
    assert_envelope_error(get(client, "/API/v3//nope//", token_a), 404, "RES_01")
