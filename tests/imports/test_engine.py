"""The import engine: counts, dry run, re-runs, dedup against open inquiries, imported history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from admissions.imports.models import ImportedRow, ImportJob, ImportRefusal
from admissions.models import ContactConsent, FollowUp, Inquiry, InquiryEvent, Person, Touch
from admissions.pipeline import Stage
from crm.models import AuditEvent
from tests.factories import InquiryFactory, PersonFactory
from tests.imports.conftest import csv_bytes, dry_run, job_for, run

HEADER = ["First name", "Last name", "Phone", "Email", "Created", "Stage", "Lead source", "Notes"]


def _rows() -> list[list[str]]:
    return [
        [
            "Ana",
            "Reyes",
            "(813) 555-0101",
            "ana@example.com",
            "2025-03-01 09:30",
            "new",
            "Web",
            "Called about detox",
        ],
        ["Ben", "Ode", "813-555-0102", "", "03/02/2025 10:00 AM", "Contacted", "Web", ""],
        ["", "Nameless", "813-555-0103", "", "2025-03-03", "new", "Web", ""],  # refused: no first name
        ["Cy", "Dup", "+1 813 555 0101", "", "2025-03-04", "new", "Web", "called again"],  # Ana again
    ]


@pytest.mark.django_db
def test_import_counts_new_merged_and_invalid_and_writes_history(facility, web_source, manager) -> None:
    job = run(job_for(csv_bytes(HEADER, _rows()), facility=facility, actor=manager))
    assert job.counts() == {"new": 2, "merged": 1, "skipped": 0, "invalid": 1}
    assert job.state == ImportJob.State.DONE
    ana = Inquiry.objects.get(phone="+18135550101")
    assert ana.stage == Stage.NEW
    assert ana.assigned_to_id is None
    assert ana.created_at == datetime(2025, 3, 1, 14, 30, tzinfo=UTC)  # 9:30 in Tampa
    assert ana.message == "Called about detox"
    kinds = list(
        InquiryEvent.objects.filter(inquiry=ana).order_by("at").values_list("kind", "data__imported")
    )
    assert kinds == [("created", job.pk), ("touch", job.pk)]
    assert Touch.objects.filter(inquiry=ana).count() == 2
    assert Person.objects.count() == 2
    assert FollowUp.objects.count() == 0
    assert not job.file
    refusal = ImportRefusal.objects.get(job=job, phase="import")
    assert refusal.row_number == 4
    assert refusal.errors == [{"field": "first_name", "message": "A first name is needed."}]
    audit = AuditEvent.objects.filter(object_type="admissions.inquiry", fields__0=f"import:{job.pk}")
    assert sorted((a.action, len(a.listed)) for a in audit) == [("create", 2), ("update", 1)]


@pytest.mark.django_db
def test_dry_run_counts_the_same_and_writes_nothing(facility, web_source) -> None:
    job = dry_run(job_for(csv_bytes(HEADER, _rows()), facility=facility))
    assert job.check_counts == {"new": 2, "merged": 1, "skipped": 0, "invalid": 1}
    assert job.total_rows == 4
    assert Inquiry.objects.count() == 0
    assert Person.objects.count() == 0
    assert list(ImportRefusal.objects.filter(job=job).values_list("phase", "row_number")) == [("check", 4)]
    job = run(job)
    assert job.counts() == job.check_counts


@pytest.mark.django_db
def test_running_the_same_file_again_changes_nothing(facility, web_source) -> None:
    data = csv_bytes(HEADER, _rows())
    run(job_for(data, facility=facility))
    before = (
        Inquiry.objects.count(),
        Person.objects.count(),
        Touch.objects.count(),
        InquiryEvent.objects.count(),
    )
    again = run(job_for(data, facility=facility))
    assert again.counts() == {"new": 0, "merged": 0, "skipped": 3, "invalid": 1}
    after = (
        Inquiry.objects.count(),
        Person.objects.count(),
        Touch.objects.count(),
        InquiryEvent.objects.count(),
    )
    assert after == before
    assert ImportedRow.objects.count() == 3


@pytest.mark.django_db
def test_a_row_for_someone_with_an_open_inquiry_merges_or_skips(facility, web_source) -> None:
    person = PersonFactory(phone="+18135550101", email="")
    open_one = InquiryFactory(person=person, facility=facility, stage=Stage.CONTACTED)
    rows = [["Ana", "Reyes", "813 555 0101", "ana@example.com", "2025-03-01", "new", "Web", "new words"]]
    skipped = run(job_for(csv_bytes(HEADER, rows), facility=facility, on_duplicate="skip"))
    assert skipped.counts() == {"new": 0, "merged": 0, "skipped": 1, "invalid": 0}
    assert Inquiry.objects.count() == 1
    assert Touch.objects.count() == 0
    merged = run(job_for(csv_bytes(HEADER, rows), facility=facility, on_duplicate="merge"))
    assert merged.counts() == {"new": 0, "merged": 1, "skipped": 0, "invalid": 0}
    assert Inquiry.objects.count() == 1
    open_one.refresh_from_db()
    assert open_one.stage == Stage.CONTACTED
    event = InquiryEvent.objects.get(inquiry=open_one, kind="touch")
    assert (event.body, event.data["imported"]) == ("new words", merged.pk)
    person.refresh_from_db()
    assert person.email == "ana@example.com"  # a blank filled, nothing overwritten


@pytest.mark.django_db
def test_an_open_inquiry_at_another_facility_refuses_the_row(facility, other_facility, web_source) -> None:
    InquiryFactory(person=PersonFactory(phone="+18135550101"), facility=other_facility)
    rows = [["Ana", "", "813 555 0101", "", "2025-03-01", "new", "Web", ""]]
    job = run(job_for(csv_bytes(HEADER, rows), facility=facility))
    assert job.counts() == {"new": 0, "merged": 0, "skipped": 0, "invalid": 1}
    assert "another facility" in ImportRefusal.objects.get(job=job).errors[0]["message"]


@pytest.mark.django_db
def test_stage_history_is_imported_without_side_effects(facility, web_source) -> None:
    header = ["first_name", "phone", "created_at", "stage", "contacted_at", "closed_at", "lost_reason"]
    rows = [
        [
            "Dee",
            "8135550104",
            "2024-01-02 08:00",
            "closed",
            "2024-01-02 08:05",
            "2024-02-01 12:00",
            "Declined / not ready",
        ]
    ]
    job = run(job_for(csv_bytes(header, rows), facility=facility))
    assert job.counts()["new"] == 1
    inquiry = Inquiry.objects.get()
    assert (inquiry.stage, inquiry.lost_reason) == (Stage.CLOSED, "declined")
    assert inquiry.contacted_at == datetime(2024, 1, 2, 13, 5, tzinfo=UTC)
    assert inquiry.stage_changed_at == inquiry.closed_at == datetime(2024, 2, 1, 17, 0, tzinfo=UTC)
    changes = list(
        InquiryEvent.objects.filter(inquiry=inquiry, kind="stage_changed")
        .order_by("at")
        .values_list("data", flat=True)
    )
    assert changes == [
        {"from": "new", "to": "contacted", "imported": job.pk},
        {"from": "contacted", "to": "closed", "imported": job.pk},
    ]
    assert FollowUp.objects.count() == 0
    assert ContactConsent.objects.count() == 0


@pytest.mark.django_db
def test_an_import_samples_the_tables_it_grows(facility, web_source, monkeypatch) -> None:
    from django.db import connection

    from admissions.imports import engine

    monkeypatch.setattr(engine, "STATISTICS_FIRST_REFRESH", 1)
    run(job_for(csv_bytes(HEADER, _rows()), facility=facility))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL AND relname = ANY(%s)",
            [["admissions_person", "admissions_inquiry", "admissions_importedrow"]],
        )
        assert sorted(r[0] for r in cursor.fetchall()) == [
            "admissions_importedrow", "admissions_inquiry", "admissions_person",
        ]  # fmt: skip
