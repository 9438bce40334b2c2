"""Import page (upload, HTMX progress, report), export download, and the import-contacts command."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from closeloop.directory import actions, imports
from closeloop.directory.models import Contact, ContactImport, ImportStatus
from closeloop.directory.tests.factories import make_directory
from closeloop.jobs.models import Job

pytestmark = [pytest.mark.django_db, pytest.mark.urls("closeloop.directory.tests.urls")]

CSV = "Email,First Name,Store\njane@example.com,Jane,Berlin\nbad@,Bad,\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def directory(org_a):
    return make_directory(org_a[0])


@pytest.fixture
def browser(client, org_a):
    client.force_login(org_a[1])
    return client


def test_upload_queues_a_job_and_the_page_polls_until_done(browser, directory):
    vip = actions.create_mailing_list(directory, "VIP")
    response = browser.post(
        reverse("directory:imports"),
        {"file": SimpleUploadedFile("people.csv", CSV.encode()), "mailing_list": vip.public_id},
    )
    contact_import = ContactImport.objects.get()
    assert response["Location"] == reverse("directory:import", args=[contact_import.pk])
    job = Job.objects.get(pk=contact_import.job_id)
    assert job.kind == "directory.import_contacts"
    assert job.payload == {"import_id": contact_import.pk}
    assert job.organization_id == directory.organization_id
    page = browser.get(response["Location"]).content.decode()
    assert "waiting for a worker" in page and 'hx-trigger="every 1s"' in page
    imports.run_import(contact_import)
    partial = browser.get(response["Location"], HTTP_HX_REQUEST="true")
    text = partial.content.decode()
    assert "<html" not in text and "hx-trigger" not in text  # done: polling stops
    assert "finished" in text and "not a valid email" in text
    assert ">3<" in text  # the bad row's number
    vip.refresh_from_db()
    assert vip.contact_count == 1
    listing = browser.get(reverse("directory:imports")).content.decode()
    assert "people.csv" in listing


def test_a_file_that_cannot_be_imported_is_a_form_error(browser, directory):
    response = browser.post(
        reverse("directory:imports"), {"file": SimpleUploadedFile("x.csv", b"contactId\nx\n")}
    )
    assert response.status_code == 200
    assert "No column of the header" in response.content.decode()
    assert not ContactImport.objects.exists()


def test_other_organizations_imports_are_404(browser, org_b):
    theirs = make_directory(org_b[0])
    contact_import = actions.start_import(theirs, SimpleUploadedFile("x.csv", CSV.encode()))
    assert browser.get(reverse("directory:import", args=[contact_import.pk])).status_code == 404
    export = browser.get(reverse("directory:export") + f"?directory={theirs.public_id}")
    assert export.status_code == 404


def test_export_download(browser, directory, org_b):
    actions.upsert_contact(directory, {"email": "jane@example.com"}, {"Store": "Berlin"})
    actions.upsert_contact(make_directory(org_b[0]), {"email": "theirs@example.com"})
    response = browser.get(reverse("directory:export"))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert "jane@example.com" in body and "theirs@" not in body
    assert body.splitlines()[0].endswith(",Store")


def test_import_contacts_command(directory, tmp_path):
    vip = actions.create_mailing_list(directory, "VIP")
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    out = io.StringIO()
    call_command(
        "import-contacts", str(path), directory=directory.public_id, list=vip.public_id, stdout=out
    )
    text = out.getvalue()
    assert "1 created, 0 updated, 0 skipped, 1 rejected" in text
    assert "row 3:" in text
    assert Contact.objects.filter(email_normalized="jane@example.com").exists()
    assert ContactImport.objects.get().status == ImportStatus.FINISHED
    vip.refresh_from_db()
    assert vip.contact_count == 1


def test_import_contacts_command_errors(directory, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    with pytest.raises(CommandError, match="No directory"):
        call_command("import-contacts", str(path), directory="POOL_nope")
    with pytest.raises(CommandError, match="No mailing list"):
        call_command("import-contacts", str(path), directory=directory.public_id, list="CG_x")
    with pytest.raises(CommandError, match="No file"):
        call_command(
            "import-contacts", str(tmp_path / "missing.csv"), directory=directory.public_id
        )
    path.write_text("")
    with pytest.raises(CommandError, match="empty"):
        call_command("import-contacts", str(path), directory=directory.public_id)


def test_a_worker_runs_the_queued_import(directory):
    from closeloop.jobs import registry
    from closeloop.jobs.models import JobStatus
    from closeloop.jobs.worker import Worker

    registry.autodiscover()
    contact_import = actions.start_import(directory, SimpleUploadedFile("x.csv", CSV.encode()))
    Worker().run_once()
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.FINISHED
    assert (contact_import.created_count, contact_import.rejected_count) == (1, 1)
    assert Job.objects.get(pk=contact_import.job_id).status == JobStatus.SUCCEEDED
