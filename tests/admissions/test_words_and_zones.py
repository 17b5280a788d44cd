"""What a coordinator reads: codes as words on the timeline, and times in the facility's zone.

The facility here is in Los Angeles, three hours from the server's zone (settings.TIME_ZONE,
New York): every time the pages show must be Pacific, with its abbreviation.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime
from html import unescape

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from admissions.models import InquiryEvent
from crm.models import AuditEvent
from crm.roles import Role
from tests.factories import FacilityFactory, InquiryFactory, UserFactory
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

PACIFIC = "America/Los_Angeles"


@pytest.fixture
def pacific(db):  # type: ignore[no-untyped-def]
    assert settings.TIME_ZONE != PACIFIC
    return FacilityFactory(name="Harbor Point Long Beach", city="Long Beach", state="CA", time_zone=PACIFIC)


def _client(role, facility):  # type: ignore[no-untyped-def]
    from django.test import Client

    return login_verified(
        Client(), UserFactory(username=f"u-{role.name.lower()}", role=role, facilities=[facility])
    )


def _january_15(hour: int, minute: int) -> datetime:
    """A winter moment of this year (standard time in both zones) in UTC."""
    return datetime(timezone.now().year, 1, 15, hour, minute, tzinfo=UTC)


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _timeline(body: str) -> str:
    start = body.index('<section class="card timeline"')
    return body[start : body.index("</section>", start)]


def test_the_timeline_reads_as_words_in_the_facilitys_zone(pacific):
    client = _client(Role.COORDINATOR, pacific)
    inquiry = InquiryFactory(facility=pacific)
    at = _january_15(17, 5)  # 9:05 AM in Los Angeles, 12:05 PM in New York

    def event(kind, **values):  # type: ignore[no-untyped-def]
        return InquiryEvent.objects.create(inquiry=inquiry, kind=kind, at=at, **values)

    event("insurance", data={"fields": [], "vob_status": "viable"})  # as older entries were written
    event(
        "insurance",
        data={"fields": ["authorization_required", "member_id", "vob_status"], "vob_status": "not_viable"},
    )
    event("insurance", data={"fields": ["payer_id", "payer_name"], "from": "pre-screen"})
    event(
        "message",
        actor_label="follow-up",
        body="We received your message",
        data={
            "direction": "outbound",
            "channel": "email",
            "message": 1,
            "followup": 1,
            "kind": "acknowledgement",
        },
    )
    event("message", body="yes please", data={"direction": "inbound", "channel": "sms", "message": 2})
    event(
        "note",
        actor_label="follow-up",
        body="Call them.",
        data={"followup": 3, "kind": "call_task", "alert": True},
    )
    event(
        "red_flag",
        body="Arrange medically managed withdrawal. Why: daily benzodiazepine use.",
        data={
            "flags": [{"code": "sedative_withdrawal", "route_to": "clinical_review"}],
            "alert": "clinical_reviewers",
        },
    )
    event("screening", data={"flags": ["sedative_withdrawal"], "complete": False, "provisional_level": "3.7"})
    event(
        "stage_changed",
        data={"from": "contacted", "to": "clinical_review", "reason": "Red flag: sedative_withdrawal"},
    )
    event(
        "call",
        call_direction="inbound",
        call_outcome="no_answer",
        data={"call_id": "CA42", "provider": "callrail", "answered": False, "duration_seconds": 0},
    )

    response = client.get(reverse("admissions:inquiry", args=[inquiry.pk]))

    assert response.status_code == 200
    timeline = _timeline(response.content.decode())
    words = _text(timeline)
    assert "Verification of benefits: viable." in words
    assert "Verification of benefits: not viable. Changed authorization required and member ID." in words
    assert "Changed payer and payer name from the pre-screen." in words
    assert "Email sent · Acknowledge a new inquiry" in words
    assert "Text message received" in words
    assert "Note · Call task" in words
    assert "Flags: Sedative withdrawal risk" in words
    assert "Contacted → Clinical review: Red flag: Sedative withdrawal risk" in words
    assert "Inbound call · No answer" in words
    assert "CallRail call CA42" in words
    # no code reaches the coordinator
    assert re.findall(r"\b\w+_\w+\b", words) == []
    assert "viable. ." not in words
    assert "VOB status" not in words
    # times: Pacific, with the zone's abbreviation, never the server's zone
    assert words.count("Jan 15, 9:05 AM PST") == 10
    assert "12:05" not in words
    assert f'datetime="{timezone.now().year}-01-15T09:05:00-08:00"' in timeline


def test_the_signoff_page_shows_the_signing_time_in_the_facilitys_zone(pacific):
    from admissions.screening.models import Screening, ScreeningForm
    from admissions.screening.services import screening_form_current
    from tests.factories import LevelRef

    form: ScreeningForm = screening_form_current()
    inquiry = InquiryFactory(facility=pacific)
    clinician = _client(Role.CLINICAL_REVIEWER, pacific)
    Screening.objects.create(
        inquiry=inquiry,
        form=form,
        answers={},
        result={},
        complete=True,
        final_level=LevelRef.get("3.7-WM"),
        signed_by=UserFactory(username="signer", role=Role.CLINICAL_REVIEWER, facilities=[pacific]),
        signed_at=_january_15(23, 30),  # 3:30 PM in Los Angeles, 6:30 PM in New York
    )

    response = clinician.get(reverse("screening_ui:signoff", kwargs={"inquiry_id": inquiry.pk}))

    assert response.status_code == 200
    words = _text(response.content.decode())
    assert "Signed off" in words
    assert "on Jan 15, 3:30 PM PST" in words
    assert "6:30 PM" not in words
    assert "18:30" not in words


def test_list_pages_show_times_in_the_users_facility_zone(pacific):
    """A page with no one record (the audit log) shows the signed-in user's facility's zone."""
    manager = _client(Role.MANAGER, pacific)
    inquiry = InquiryFactory(facility=pacific)
    row = AuditEvent.objects.create(
        action="view", object_type="admissions.inquiry", object_id=str(inquiry.pk), fields=["person"]
    )
    pacific_time = timezone.localtime(row.at, zoneinfo.ZoneInfo(PACIFIC))
    eastern_time = timezone.localtime(row.at, zoneinfo.ZoneInfo(settings.TIME_ZONE))

    response = manager.get(reverse("audit:index"))

    assert response.status_code == 200
    words = _text(response.content.decode())
    abbreviation = pacific_time.tzname()
    assert abbreviation in ("PST", "PDT")
    assert f"{pacific_time:%b} {pacific_time.day}, {pacific_time.year}, " in words
    assert f"{pacific_time.strftime('%I:%M:%S').lstrip('0')} {pacific_time:%p} {abbreviation}" in words
    assert f"{eastern_time.strftime('%I:%M:%S').lstrip('0')} {eastern_time:%p}" not in words
    assert f"Viewed Inquiry #{inquiry.pk} person" in words


def test_a_session_from_before_sign_in_kept_the_zone_gets_it_once(pacific):
    from crm.time_zones import SESSION_KEY

    client = _client(Role.MANAGER, pacific)
    assert client.session[SESSION_KEY] == PACIFIC  # kept at sign-in
    session = client.session
    del session[SESSION_KEY]
    session.save()

    assert client.get(reverse("audit:index")).status_code == 200
    assert client.session[SESSION_KEY] == PACIFIC


def test_times_written_into_the_timeline_are_in_the_facilitys_zone(pacific):
    """A call-back note says its time once, when written: in the facility's zone, not the writer's."""
    from datetime import timedelta

    from admissions.casework import callback_schedule

    inquiry = InquiryFactory(facility=pacific)
    coordinator = UserFactory(username="writer", role=Role.COORDINATOR, facilities=[pacific])
    due = (timezone.now() + timedelta(days=2)).replace(hour=20, minute=15, second=0, microsecond=0)  # UTC
    local = timezone.localtime(due, zoneinfo.ZoneInfo(PACIFIC))

    with timezone.override(zoneinfo.ZoneInfo(settings.TIME_ZONE)):  # a worker, or a user elsewhere
        callback_schedule(inquiry=inquiry, actor=coordinator, due_at=due, note="")

    body = InquiryEvent.objects.get(inquiry=inquiry, kind="note").body
    assert body.startswith("Call-back planned for ")
    assert f"{local:%b} {local.day}, {local:%I:%M %p} {local.tzname()}.".replace(", 0", ", ") in body
    assert local.hour in (12, 13)  # 20:15 UTC in Los Angeles, not New York (15 or 16)
