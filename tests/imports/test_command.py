"""``manage.py import_inquiries``: the same engine, a progress bar on stderr, counts on the last line."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from admissions.imports.models import ImportJob
from admissions.models import Inquiry
from tests.imports.conftest import csv_bytes

SALESFORCE_HEADER = [
    "First Name", "Last Name", "Phone", "Mobile", "Email", "Lead Source", "Lead Status", "Created Date",
    "Street", "City", "State/Province", "Zip/Postal Code", "Description",
]  # fmt: skip


def _salesforce_file(tmp_path):  # type: ignore[no-untyped-def]
    rows = [
        ["Ana", "Reyes", "(813) 555-0101", "", "ana@example.com", "Web", "Open - Not Contacted",
         "3/1/2025 9:30 AM", "1 Bay St", "Tampa", "FL", "33602", "Asked about detox"],
        ["Ben", "Ode", "", "813.555.0102", "", "Web", "Working - Contacted", "3/2/2025 10:00 AM",
         "", "", "", "", ""],
        ["Cy", "Lo", "not a phone", "", "", "Web", "Open - Not Contacted", "3/3/2025", "", "", "", "", ""],
    ]  # fmt: skip
    path = tmp_path / "salesforce.csv"
    path.write_bytes(csv_bytes(SALESFORCE_HEADER, rows))
    return path


@pytest.mark.django_db
def test_dry_run_then_import_print_counts_last(tmp_path, facility, web_source) -> None:
    path = _salesforce_file(tmp_path)
    out, err = StringIO(), StringIO()
    call_command("import_inquiries", str(path), facility=facility.name, preset="salesforce", dry_run=True,
                 stdout=out, stderr=err)  # fmt: skip
    assert out.getvalue().strip().splitlines()[-1] == "new 2, merged 0, skipped 0, invalid 1"
    assert "row 4: phone: Not a valid phone number." in err.getvalue()
    assert "3/3" in err.getvalue()  # the progress bar
    assert Inquiry.objects.count() == 0
    assert not ImportJob.objects.get().file  # the dry run's copy of the file is gone

    out = StringIO()
    call_command("import_inquiries", str(path), facility=facility.name, preset="salesforce", stdout=out,
                 stderr=StringIO())  # fmt: skip
    assert out.getvalue().strip().splitlines()[-1] == "new 2, merged 0, skipped 0, invalid 1"
    ben = Inquiry.objects.get(phone="+18135550102")
    assert (ben.stage, ben.lead_source, ben.person.first_name) == ("contacted", web_source, "Ben")
    ana = Inquiry.objects.get(phone="+18135550101")
    assert (ana.person.street, ana.person.city, ana.person.state, ana.person.postal_code) == (
        "1 Bay St", "Tampa", "FL", "33602",
    )  # fmt: skip

    out = StringIO()
    call_command("import_inquiries", str(path), facility=facility.name, preset="salesforce", stdout=out,
                 stderr=StringIO())  # fmt: skip
    assert out.getvalue().strip().splitlines()[-1] == "new 0, merged 0, skipped 2, invalid 1"
    assert Inquiry.objects.count() == 2


@pytest.mark.django_db
def test_unknown_facility_is_an_error(tmp_path, facility) -> None:
    path = _salesforce_file(tmp_path)
    with pytest.raises(CommandError, match="No facility is named 'Nowhere'"):
        call_command("import_inquiries", str(path), facility="Nowhere", stdout=StringIO(), stderr=StringIO())
