"""Reading one row: every reason a row is refused, and the formats dates come in."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from admissions.imports.rows import ImportRow, Reason, Refused, RowContext, datetime_read, row_read
from admissions.models import LeadSource
from tests.factories import CampaignFactory, LeadSourceFactory

TAMPA = zoneinfo.ZoneInfo("America/New_York")
COLUMNS = {
    name: name
    for name in (
        "first_name", "last_name", "phone", "mobile", "email", "date_of_birth", "state", "postal_code",
        "caller_relationship", "caller_phone", "lead_source", "campaign", "stage", "created_at",
        "contacted_at", "admitted_at", "closed_at", "lost_reason", "referred_out_to", "consent_sms",
        "consent_email", "consent_text", "consent_at", "notes", "street",
    )
}  # fmt: skip
GOOD = {"first_name": "Ana", "phone": "(813) 555-0101", "created_at": "2025-03-01 09:30"}


def _read(ctx: RowContext, **values: str) -> ImportRow | Refused:
    return row_read(2, {**GOOD, **values}, columns=COLUMNS, ctx=ctx, origin="file")


@pytest.fixture
def ctx(facility) -> RowContext:  # type: ignore[no-untyped-def]
    web = LeadSourceFactory(name="Web", default_facility=facility)
    CampaignFactory(lead_source=web, name="Spring")
    LeadSourceFactory(name="Old directory", default_facility=facility, is_active=False)
    return RowContext(facility_time_zone="America/New_York", default_source=None, now=timezone.now())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"first_name": ""}, "first_name", Reason.NAME_MISSING),
        ({"phone": ""}, "phone", Reason.NO_CONTACT),
        ({"phone": "555-12"}, "phone", Reason.PHONE),
        ({"phone": "", "mobile": "12"}, "mobile", Reason.PHONE),
        ({"email": "ana@"}, "email", Reason.EMAIL),
        ({"created_at": "31/31/2025"}, "created_at", Reason.DATE),
        ({"created_at": ""}, "created_at", Reason.CREATED_MISSING),
        ({"created_at": "2999-01-01"}, "created_at", Reason.FUTURE),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth", Reason.FUTURE),
        ({"contacted_at": "2025-02-01"}, "contacted_at", Reason.BEFORE_CREATED),
        ({"stage": "maybe later"}, "stage", Reason.STAGE),
        ({"stage": "duplicate"}, "stage", Reason.STAGE_DUPLICATE),
        ({"stage": "closed"}, "lost_reason", Reason.LOST_REASON_MISSING),
        ({"stage": "closed", "lost_reason": "bored"}, "lost_reason", Reason.LOST_REASON),
        ({"stage": "referred_out"}, "referred_out_to", Reason.DESTINATION_MISSING),
        ({"stage": "admitted"}, "admitted_at", Reason.ADMITTED_AT_MISSING),
        ({"lead_source": "Billboard"}, "lead_source", Reason.SOURCE),
        ({"lead_source": "Old directory"}, "lead_source", Reason.SOURCE_INACTIVE),
        ({"lead_source": "Web", "campaign": "Winter"}, "campaign", Reason.CAMPAIGN),
        ({"campaign": "Spring"}, "campaign", Reason.CAMPAIGN_WITHOUT_SOURCE),
        ({"state": "Florida"}, "state", Reason.STATE),
        ({"postal_code": "ABC"}, "postal_code", Reason.POSTAL_CODE),
        ({"caller_relationship": "neighbour"}, "caller_relationship", Reason.RELATIONSHIP),
        ({"caller_phone": "12"}, "caller_phone", Reason.PHONE),
        ({"consent_sms": "maybe"}, "consent_sms", Reason.CONSENT_VALUE),
        ({"consent_sms": "yes"}, "consent_text", Reason.CONSENT_UNRECORDED),
        ({"consent_sms": "yes", "consent_text": "You may text me."}, "consent_at", Reason.CONSENT_UNRECORDED),
        (
            {"consent_email": "yes", "consent_text": "Email me.", "consent_at": "2025-03-01 09:31"},
            "consent_sms",
            Reason.CONSENT_NO_ADDRESS,
        ),
        ({"street": "x" * 201}, "street", Reason.TOO_LONG.format(n=200)),
    ],
)
def test_each_reason_a_row_is_refused(ctx, values, field, message) -> None:
    result = _read(ctx, **values)
    assert isinstance(result, Refused)
    assert result.number == 2
    assert {"field": field, "message": message} in result.errors


@pytest.mark.django_db
def test_a_row_reports_every_problem_not_only_the_first(ctx) -> None:
    result = _read(ctx, first_name="", phone="12", created_at="soon")
    assert isinstance(result, Refused)
    assert [e["field"] for e in result.errors] == ["first_name", "phone", "created_at"]


@pytest.mark.django_db
def test_a_good_row_is_normalised(ctx) -> None:
    row = _read(
        ctx,
        email=" Ana@Example.COM ",
        state="fl",
        postal_code="33602-1234",
        lead_source="web",
        campaign="spring",
        stage="Contact attempted",
        consent_sms="Yes",
        consent_text="You may text me.",
        consent_at="3/1/2025 9:31 AM",
    )
    assert isinstance(row, ImportRow)
    assert (row.phone, row.email, row.state, row.postal_code) == (
        "+18135550101",
        "ana@example.com",
        "FL",
        "33602",
    )
    assert row.lead_source_id == LeadSource.objects.get(name="Web").pk
    assert row.campaign_id is not None
    assert row.stage == "contact_attempted"
    assert row.consent is not None
    assert (row.consent.sms, row.consent.email, row.consent.at) == (
        True,
        False,
        datetime(2025, 3, 1, 14, 31, tzinfo=UTC),
    )
    assert row.key.startswith("fp:")
    assert _read(ctx, email=" Ana@Example.COM ").key != row.key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=TAMPA)),
        ("2025-03-01 9:30", datetime(2025, 3, 1, 9, 30, tzinfo=TAMPA)),
        ("2025-03-01T14:30:00.000Z", datetime(2025, 3, 1, 14, 30, tzinfo=UTC)),
        ("3/1/2025", datetime(2025, 3, 1, tzinfo=TAMPA)),
        ("03/01/2025 9:30 PM", datetime(2025, 3, 1, 21, 30, tzinfo=TAMPA)),
        ("3/1/2025 12:05 AM", datetime(2025, 3, 1, 0, 5, tzinfo=TAMPA)),
        ("3/1/25 14:05:10", datetime(2025, 3, 1, 14, 5, 10, tzinfo=TAMPA)),
        ("2025/03/01", datetime(2025, 3, 1, tzinfo=TAMPA)),
    ],
)
def test_dates_in_the_formats_exports_write(text, expected) -> None:
    assert datetime_read(text, TAMPA) == expected


@pytest.mark.parametrize("text", ["31/31/2025", "2/30/2025", "13:00 3/1/2025", "3/1/2025 13:00 PM", "soon"])
def test_unreadable_dates(text) -> None:
    with pytest.raises(ValueError, match="Not a date"):
        datetime_read(text, TAMPA)
