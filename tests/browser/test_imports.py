"""A manager imports a Salesforce lead export in Chromium: upload, the preset's column mapping, the
dry run, the import's progress bar (polled by htmx), cancel, resume and the refused rows.

The worker's part (``import_job_work``, what ``workers.tasks.import_job_run`` calls) runs in the
test's thread at the moments the test chooses, so the page is seen mid-import."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from admissions.imports import engine
from admissions.imports.engine import import_job_work
from admissions.imports.models import ImportJob
from admissions.models import Inquiry
from tests.browser.support import sign_in, snap
from tests.factories import LeadSourceFactory
from tests.imports.conftest import csv_bytes

pytestmark = pytest.mark.browser

HEADER = ["First Name", "Last Name", "Phone", "Mobile", "Email", "Lead Source", "Lead Status", "Created Date",
          "Street", "City", "State/Province", "Zip/Postal Code", "Description"]  # fmt: skip
ROWS = [
    ["Ana", "Reyes", "(813) 555-0101", "", "ana@example.com", "Web", "Open - Not Contacted",
     "3/1/2025 9:30 AM", "1 Bay St", "Tampa", "FL", "33602", "Asked about detox"],
    ["Ben", "Ode", "", "813.555.0102", "", "Web", "Working - Contacted", "3/2/2025 10:00 AM",
     "", "", "", "", ""],
    ["Cy", "Lo", "not a phone", "", "", "Web", "Open - Not Contacted", "3/3/2025", "", "", "", "", ""],
    ["Dee", "Ma", "813 555 0104", "", "", "Web", "Open - Not Contacted", "3/4/2025", "", "", "", "", ""],
    ["Eve", "No", "813 555 0105", "", "", "Web", "Open - Not Contacted", "3/5/2025", "", "", "", "", ""],
    ["Ana", "Reyes", "813-555-0101", "", "", "Web", "Open - Not Contacted", "3/6/2025",
     "", "", "", "", "Again"],
]  # fmt: skip


def _until(predicate, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_manager_maps_checks_imports_cancels_and_resumes(page: Page, facility, manager, tmp_path, settings,
                                                         monkeypatch) -> None:  # fmt: skip
    settings.IMPORT_FILES_DIR = tmp_path / "imports"
    LeadSourceFactory(name="Web", default_facility=facility)
    monkeypatch.setattr(engine, "BATCH_ROWS", 2)
    upload = tmp_path / "salesforce-leads.csv"
    upload.write_bytes(csv_bytes(HEADER, ROWS))

    sign_in(page, "manager")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Imports").click()
    page.get_by_label("File").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and map columns").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Map the columns of salesforce-leads.csv")
    page.get_by_label("Start from").select_option(label="Salesforce lead export")
    page.get_by_role("button", name="Use this mapping").click()
    expect(page.get_by_label("First name")).to_have_value("First Name")
    expect(page.get_by_label("Mobile")).to_have_value("Mobile")
    expect(page.get_by_label("Created", exact=True)).to_have_value("Created Date")
    snap(page, "import-01-mapping")
    page.get_by_role("button", name="Check the file (dry run)").click()

    job = ImportJob.objects.get()
    expect(page.locator("#import-progress")).to_contain_text("Checking the file (dry run)")
    assert import_job_work(job_id=job.pk) == ImportJob.State.CHECKED
    expect(page.locator("#check-new")).to_have_text("4")  # the page reloads when the dry run ends
    expect(page.locator("#check-merged")).to_have_text("1")
    expect(page.locator("#check-invalid")).to_have_text("1")
    expect(page.get_by_role("table")).to_contain_text("Not a valid phone number.")
    snap(page, "import-02-dry-run")
    assert Inquiry.objects.count() == 0

    page.get_by_role("button", name="Import 5 rows").click()
    bar = page.locator("#import-bar")
    expect(bar).to_be_visible()
    expect(page.locator("#import-progress")).to_contain_text("Waiting for a worker")
    assert import_job_work(job_id=job.pk, deadline=0) == "more"  # one batch of two rows, then a pause
    expect(bar).to_have_attribute("value", "2")
    expect(page.locator("#import-progress")).to_contain_text("2 of 6 rows")
    expect(page.locator("#import-progress")).to_contain_text("rows/s")
    snap(page, "import-03-progress")

    page.get_by_role("button", name="Cancel").click()  # between two slices: cancelled at once
    expect(page.get_by_role("button", name="Resume from row 4")).to_be_visible()
    assert import_job_work(job_id=job.pk) == ImportJob.State.CANCELLED  # the next slice does nothing
    assert Inquiry.objects.count() == 2
    snap(page, "import-04-cancelled")

    page.get_by_role("button", name="Resume from row 4").click()
    _until(lambda: ImportJob.objects.get(pk=job.pk).state == ImportJob.State.QUEUED)
    assert import_job_work(job_id=job.pk) == ImportJob.State.DONE
    expect(page.locator("#import-new")).to_have_text("4")
    expect(page.locator("#import-merged")).to_have_text("1")
    expect(page.locator("#import-invalid")).to_have_text("1")
    snap(page, "import-05-done")
    assert Inquiry.objects.count() == 4
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the refused rows (CSV)").click()
    report = download.value.path().read_text()
    assert report.splitlines() == [
        "Row,Field,Column in the file,Reason",
        "4,Phone,Phone,Not a valid phone number.",
    ]
