"""Import pages: who may use them, upload and mapping, the dry run's page, the report, query budgets."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from admissions.imports.engine import import_job_work
from admissions.imports.models import ImportJob, ImportMapping
from admissions.models import Inquiry
from crm.models import AuditEvent
from tests.conftest import _client_for
from tests.imports.conftest import csv_bytes, dry_run, job_for, run

HEADER = ["First name", "Phone", "Created", "Notes"]
ROWS = [["Ana", "813 555 0101", "2025-03-01", "hello"], ["", "813 555 0102", "2025-03-02", ""]]


def _upload(client, facility, data: bytes = b"", name: str = "leads.csv"):  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile(name, data or csv_bytes(HEADER, ROWS), content_type="text/csv")
    return client.post(reverse("imports:list"), {"file": upload, "facility": facility.pk})


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["coordinator", "clinician", "vob_specialist", "outsider"])
def test_only_managers_and_administrators_import(request, who, facility) -> None:
    client = _client_for(request.getfixturevalue(who))
    assert client.get(reverse("imports:list")).status_code == 403
    assert _upload(client, facility).status_code == 403
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_anonymous_is_sent_to_sign_in(client) -> None:
    response = client.get(reverse("imports:list"))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_administrator_sees_the_import_page(administrator, facility) -> None:
    response = _client_for(administrator).get(reverse("imports:list"))
    assert response.status_code == 200
    assert b"Upload and map columns" in response.content


@pytest.mark.django_db
def test_upload_map_and_dry_run(manager_client, manager, facility) -> None:
    response = _upload(manager_client, facility)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("imports:map", args=[job.pk])
    assert job.headers == HEADER
    assert (
        AuditEvent.objects.filter(object_type="admissions.importjob", action="create", actor=manager).count()
        == 1
    )

    page = manager_client.get(reverse("imports:map", args=[job.pk]))
    assert page.status_code == 200
    assert b'<option value="Phone" selected>Phone</option>' in page.content  # guessed from the header
    form = {
        "col_first_name": "First name",
        "col_phone": "Phone",
        "col_created_at": "Created",
        "col_notes": "Notes",
        "on_duplicate": "skip",
        "save_as": "Our spreadsheet",
    }
    response = manager_client.post(reverse("imports:map", args=[job.pk]), form)
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == ImportJob.State.CHECKING
    assert job.on_duplicate == "skip"
    assert ImportMapping.objects.get().columns == {
        "first_name": "First name", "phone": "Phone", "created_at": "Created", "notes": "Notes",
    }  # fmt: skip
    assert import_job_work(job_id=job.pk) == ImportJob.State.CHECKED
    page = manager_client.get(reverse("imports:detail", args=[job.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert '<dd id="check-new">1</dd>' in body
    assert '<dd id="check-invalid">1</dd>' in body
    assert "A first name is needed." in body
    assert "Import 1 row<" in body
    assert Inquiry.objects.count() == 0


@pytest.mark.django_db
def test_mapping_without_a_contact_column_is_a_form_error(manager_client, facility) -> None:
    _upload(manager_client, facility)
    job = ImportJob.objects.get()
    form = {"col_first_name": "First name", "col_created_at": "Created", "on_duplicate": "merge"}
    response = manager_client.post(reverse("imports:map", args=[job.pk]), form)
    assert response.status_code == 400
    assert b"Choose a column with a phone number or an email address." in response.content
    job.refresh_from_db()
    assert job.state == ImportJob.State.UPLOADED


@pytest.mark.django_db
def test_a_file_that_is_not_csv_or_xlsx_is_refused(manager_client, facility) -> None:
    response = _upload(manager_client, facility, data=b"%PDF-1.4", name="leads.pdf")
    assert response.status_code == 400
    assert b"Upload a .csv or .xlsx file." in response.content
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_another_facilitys_import_is_not_found(manager_client, other_facility) -> None:
    job = job_for(csv_bytes(HEADER, ROWS), facility=other_facility)
    assert manager_client.get(reverse("imports:detail", args=[job.pk])).status_code == 404
    assert manager_client.post(reverse("imports:act", args=[job.pk, "start"])).status_code == 404
    job.refresh_from_db()
    assert job.state == ImportJob.State.UPLOADED


@pytest.mark.django_db
def test_report_lists_refused_rows_without_values(manager_client, manager, facility) -> None:
    job = run(job_for(csv_bytes(HEADER, ROWS), facility=facility))
    response = manager_client.get(reverse("imports:report", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode().splitlines() == [
        "Row,Field,Column in the file,Reason",
        "3,First name,First name,A first name is needed.",
    ]
    assert (
        AuditEvent.objects.filter(object_type="admissions.importjob", action="export", actor=manager).count()
        == 1
    )


@pytest.mark.django_db
def test_import_list_queries_do_not_grow(manager_client, facility, django_assert_max_num_queries) -> None:
    for _ in range(3):
        job_for(csv_bytes(HEADER, ROWS), facility=facility)
    manager_client.get(reverse("imports:list"))
    # session, user, device, roles and permissions, facilities, count, page, the form's facilities
    with django_assert_max_num_queries(9):
        response = manager_client.get(reverse("imports:list"))
    assert response.status_code == 200
    for _ in range(20):
        job_for(csv_bytes(HEADER, ROWS), facility=facility)
    with django_assert_max_num_queries(11):
        assert manager_client.get(reverse("imports:list")).status_code == 200


@pytest.mark.django_db
def test_status_views_query_budget(manager_client, facility, django_assert_max_num_queries) -> None:
    rows = [[f"P{i}", "", "2025-03-01", ""] for i in range(30)]  # every row refused: no contact
    job = dry_run(job_for(csv_bytes(HEADER, rows), facility=facility))
    manager_client.get(reverse("imports:detail", args=[job.pk]))
    # session, user, device, roles and permissions, job, facilities, first refused rows
    with django_assert_max_num_queries(7):
        assert manager_client.get(reverse("imports:detail", args=[job.pk])).status_code == 200
    with django_assert_max_num_queries(6):
        assert manager_client.get(reverse("imports:progress", args=[job.pk])).status_code == 200


@pytest.mark.django_db
def test_start_then_cancel_from_the_page(manager_client, facility) -> None:
    job = dry_run(job_for(csv_bytes(HEADER, ROWS), facility=facility))
    response = manager_client.post(reverse("imports:act", args=[job.pk, "start"]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == ImportJob.State.QUEUED
    manager_client.post(reverse("imports:act", args=[job.pk, "cancel"]))
    job.refresh_from_db()
    assert job.state == ImportJob.State.CANCELLED
    assert Inquiry.objects.count() == 0
