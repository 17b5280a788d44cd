"""File formats and presets: XLSX read in streaming mode, HubSpot and this CRM's own columns,
consent imported only with its record."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime

import openpyxl
import pytest

from admissions.imports.columns import PRESETS, columns_for
from admissions.imports.models import ImportJob
from admissions.imports.readers import FileUnreadable, read_ahead
from admissions.models import ContactConsent, Inquiry, InsurancePolicy
from admissions.pipeline import Stage
from tests.imports.conftest import csv_bytes, job_for, run


def _xlsx(header: list[str], rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.django_db
def test_xlsx_with_dates_and_numbers_as_cells(facility, web_source) -> None:
    data = _xlsx(
        ["First Name", "Last Name", "Phone", "Lead Source", "Lead Status", "Created Date"],
        [
            ["Ana", "Reyes", 8135550101, "Web", "Working - Contacted", datetime(2025, 3, 1, 9, 30)],  # noqa: DTZ001
            [None, None, None, None, None, None],  # a blank row is skipped, not refused
            ["Ben", "Ode", "(813) 555-0102", "Web", "Open - Not Contacted", "3/2/2025"],
        ],
    )
    job = run(job_for(data, facility=facility, name="leads.xlsx", preset="salesforce"))
    assert job.file_format == "xlsx"
    assert job.counts() == {"new": 2, "merged": 0, "skipped": 0, "invalid": 0}
    ana = Inquiry.objects.get(phone="+18135550101")
    assert (ana.stage, ana.created_at) == (Stage.CONTACTED, datetime(2025, 3, 1, 14, 30, tzinfo=UTC))


@pytest.mark.django_db
def test_a_file_that_is_not_a_workbook_is_refused(facility) -> None:
    from admissions.imports.services import ImportError_, import_job_create

    with pytest.raises(ImportError_, match="could not be read as an XLSX workbook"):
        import_job_create(
            upload=io.BytesIO(b"First name\nAna\n"), file_name="x.xlsx", facility=facility, actor=None
        )
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_hubspot_contact_export(facility, web_source) -> None:
    header = ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number",
              "Create Date", "Lead Status", "Message"]  # fmt: skip
    rows = [
        ["901", "Ana", "Reyes", "ana@example.com", "", "", "2025-03-01 09:30", "Attempted to contact", "Hi"],
        ["902", "Ben", "Ode", "", "", "813-555-0102", "2025-03-02 10:00", "Bad timing", ""],
    ]
    job = run(job_for(csv_bytes(header, rows), facility=facility, preset="hubspot", lead_source=web_source))
    assert job.counts() == {"new": 2, "merged": 0, "skipped": 0, "invalid": 0}
    ana = Inquiry.objects.get(email="ana@example.com")
    assert (ana.stage, ana.external_id, ana.lead_source, ana.message) == (
        "contact_attempted",
        "901",
        web_source,
        "Hi",
    )
    assert Inquiry.objects.get(phone="+18135550102").stage == Stage.NURTURE
    again = run(job_for(csv_bytes(header, rows), facility=facility, preset="hubspot", lead_source=web_source))
    assert again.counts() == {"new": 0, "merged": 0, "skipped": 2, "invalid": 0}


@pytest.mark.django_db
def test_this_crms_own_export_columns(facility, web_source) -> None:
    header = ["id", "first_name", "last_name", "phone", "email", "stage", "created_at", "admitted_at",
              "lead_source_id", "message"]  # fmt: skip
    rows = [["77", "Dee", "Ma", "+18135550104", "", "admitted", "2024-05-01T12:00:00+00:00",
             "2024-05-03T15:00:00+00:00", str(web_source.pk), "Came in"]]  # fmt: skip
    columns = columns_for(PRESETS["crm"], header)
    assert columns["external_id"] == "id"
    assert columns["notes"] == "message"
    job = run(job_for(csv_bytes(header, rows), facility=facility, preset="crm"))
    assert job.counts()["new"] == 1
    dee = Inquiry.objects.get()
    assert (dee.stage, dee.admitted_at, dee.lead_source) == (
        Stage.ADMITTED, datetime(2024, 5, 3, 15, 0, tzinfo=UTC), web_source,
    )  # fmt: skip


@pytest.mark.django_db
def test_consent_with_its_record_is_imported_and_insurance_kept(facility, web_source) -> None:
    header = ["First name", "Phone", "Email", "Created", "Consent to texts", "Consent to email",
              "Consent wording", "Consent given at", "Insurance payer", "Member id"]  # fmt: skip
    rows = [["Ana", "813 555 0101", "ana@example.com", "2025-03-01", "yes", "no", "You may text me.",
             "2025-03-01 09:31", "Aetna", "W123"]]  # fmt: skip
    job = run(job_for(csv_bytes(header, rows), facility=facility))
    consent = ContactConsent.objects.get()
    assert (consent.medium, consent.address, consent.consent_text, consent.source) == (
        "sms", "+18135550101", "You may text me.", f"import #{job.pk}",
    )  # fmt: skip
    assert consent.captured_at == datetime(2025, 3, 1, 14, 31, tzinfo=UTC)
    policy = InsurancePolicy.objects.get()
    assert (policy.payer_name, policy.member_id) == ("Aetna", "W123")


def test_read_ahead_yields_in_order_and_raises_what_the_reader_raised():
    def items():
        yield from range(5)
        raise FileUnreadable("The file ends in the middle of a row.")

    seen = []
    with read_ahead(items()) as ahead, pytest.raises(FileUnreadable, match="middle of a row"):
        seen.extend(ahead)
    assert seen == [0, 1, 2, 3, 4]


def test_leaving_read_ahead_early_stops_its_thread():
    read = []

    def items():
        for n in range(1_000):
            read.append(n)
            yield n

    with read_ahead(items(), depth=2) as ahead:
        assert next(ahead) == 0
    stopped_at = len(read)
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
    assert stopped_at <= 5  # one taken, two queued, one waiting to go in: the rest never read
