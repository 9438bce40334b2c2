from django.urls import reverse

SECTIONS = [
    "surveys:list",
    "directory:contacts",
    "workflows:list",
    "distributions:list",
    "web:extensions",
]


def test_healthz_reports_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_when_migrated(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_navigation_links_every_section(client, org_a):
    _, user = org_a
    client.force_login(user)
    home = client.get(reverse("web:home"))
    assert home.status_code == 200
    for name in SECTIONS:
        assert f'href="{reverse(name)}"'.encode() in home.content
        assert client.get(reverse(name)).status_code == 200
    assert f'href="{reverse("accounts:settings")}"'.encode() in home.content


def test_fresh_install_goes_to_setup(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:setup")


def test_anonymous_visitor_after_setup_goes_to_login(client, org_a):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_extensions_page_links_what_is_connected(client, org_a):
    _, user = org_a
    client.force_login(user)
    page = client.get(reverse("web:extensions"))
    assert page.status_code == 200
    assert reverse("distributions:sms-settings").encode() in page.content
    assert reverse("workflows:list").encode() in page.content


def test_postgres_connections_keep_a_short_gin_pending_list_and_the_urls_own_options():
    from closeloop.settings import _database

    plain = _database("postgres://u@db:5432/closeloop")
    assert plain["OPTIONS"]["options"] == "-c gin_pending_list_limit=256kB"
    own = _database("postgres://u@db:5432/closeloop?options=-c%20statement_timeout%3D5000")
    assert own["OPTIONS"]["options"] == (
        "-c gin_pending_list_limit=256kB -c statement_timeout=5000"
    )
    assert "options" not in _database("sqlite:///tmp/x.sqlite3")["OPTIONS"]
