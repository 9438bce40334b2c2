import pytest
from django.urls import reverse

from closeloop.accounts.models import Membership, Role, User
from closeloop.jobs import actions
from closeloop.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, org_a):
    _organization, owner = org_a
    client.force_login(owner)
    return client


def test_an_admin_sees_jobs_with_counts_per_status(admin_client, org_a):
    organization, _owner = org_a
    actions.enqueue("directory.import", organization=organization)
    actions.enqueue("jobs.housekeeping")

    response = admin_client.get(reverse("jobs:list"))

    assert response.status_code == 200
    assert b"directory.import" in response.content
    assert b"jobs.housekeeping" in response.content
    counts = {status: count for status, _label, count in response.context["counts"]}
    assert counts[JobStatus.QUEUED] == 2


def test_the_list_filters_by_status(admin_client):
    actions.enqueue("kind.queued")
    dead = actions.enqueue("kind.dead")
    Job.objects.filter(pk=dead.pk).update(status=JobStatus.DEAD)

    response = admin_client.get(reverse("jobs:list"), {"status": "dead"})

    assert b"kind.dead" in response.content
    assert b"kind.queued" not in response.content


def test_the_detail_shows_the_last_error_and_retry_requeues(admin_client):
    job = actions.enqueue("kind.dead")
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.DEAD, last_error="ConnectionError: the remote end is down"
    )

    page = admin_client.get(reverse("jobs:detail", args=[job.pk]))
    assert b"ConnectionError: the remote end is down" in page.content
    assert b"Retry now" in page.content

    response = admin_client.post(reverse("jobs:retry", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_another_organizations_jobs_are_hidden(admin_client, org_b):
    other_organization, _ = org_b
    theirs = actions.enqueue("kind.secret", organization=other_organization)

    assert b"kind.secret" not in admin_client.get(reverse("jobs:list")).content
    assert admin_client.get(reverse("jobs:detail", args=[theirs.pk])).status_code == 404
    assert admin_client.post(reverse("jobs:retry", args=[theirs.pk])).status_code == 404


def test_a_member_is_forbidden(client, org_a):
    organization, _owner = org_a
    member = User.objects.create_user("member@acme.test", "correct horse battery")
    Membership.objects.create(organization=organization, user=member, role=Role.MEMBER)
    client.force_login(member)

    assert client.get(reverse("jobs:list")).status_code == 403


def test_anonymous_visitors_are_sent_to_login(client, org_a):
    response = client.get(reverse("jobs:list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
