"""An admin finds a failed background job from Settings, reads its error and retries it."""

import re

import pytest

from conftest import make_organization
from tests.test_accounts_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_retries_a_failed_job_from_the_jobs_page(page, live_server):
    from closeloop.jobs.models import Job, JobStatus

    organization, _owner = make_organization("Acme Corp", "owner@acme.test", "owner passphrase 1")
    job = Job.objects.create(
        kind="directory.import_contacts",
        payload={"import": 7},
        status=JobStatus.FAILED,
        attempts=1,
        last_error="PermanentError: the uploaded file is gone",
        organization=organization,
    )
    base = live_server.url

    log_in(page, base, "owner@acme.test", "owner passphrase 1")
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_role("link", name=re.compile(r"Failed\s*1")).click()
    page.get_by_role("link", name=f"#{job.pk}").click()
    assert "the uploaded file is gone" in page.content()
    page.get_by_role("button", name="Retry now").click()
    page.wait_for_load_state()
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert "Queued" in page.content()
