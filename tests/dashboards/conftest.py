"""A small hand-built cohort with known answers, and the clients that read it."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from admissions.models import Touch, WaitlistEntry
from admissions.pipeline import Stage
from crm.roles import Role
from dashboards.services import rollup_refresh
from programs.models import CapacityHold
from tests.factories import (
    CampaignFactory,
    InquiryFactory,
    LeadSourceFactory,
    ProgramFactory,
    ReferralPartnerFactory,
    UserFactory,
)
from tests.signin import login_verified

NY = zoneinfo.ZoneInfo("America/New_York")


def cohort_day() -> date:
    """A Wednesday two to three weeks ago: inside the default 90-day range."""
    d = timezone.localdate() - timedelta(days=14)
    return d - timedelta(days=(d.weekday() - 2) % 7)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


@dataclass
class Cohort:
    day: date
    program: object
    source1: object
    source2: object
    campaign: object
    partner: object
    kim: object
    lee: object
    inquiries: dict[str, object]


def _stamps(start: datetime, **offsets: timedelta) -> dict[str, datetime]:
    return {name: start + delta for name, delta in offsets.items()}


@pytest.fixture
def cohort(facility, other_facility) -> Cohort:
    """Six inquiries at facility A on one Wednesday (plus one at B, one scheduled long ago).

    I1 10:00 admitted (2 min to first attempt), I2 10:30 closed out of network (8 min),
    I3 20:00 still attempted (30 min), I4 21:00 referred out (contacted live after 1 min),
    I5 duplicate, I6 invalid.
    """
    day = cohort_day()
    program = ProgramFactory(facility=facility, name="Residential", capacity=10, census=6)
    program.census.expected_discharges_7d = 2
    program.census.save()
    source1 = LeadSourceFactory(name="Website form", default_facility=facility)
    source2 = LeadSourceFactory(name="Paid search calls", default_facility=facility)
    campaign = CampaignFactory(lead_source=source1, name="Brand search")
    partner = ReferralPartnerFactory(organisation="Bayview General Hospital")
    kim = UserFactory(
        username="kim",
        first_name="Kim",
        last_name="Coordinator",
        role=Role.COORDINATOR,
        facilities=[facility],
    )
    lee = UserFactory(
        username="lee",
        first_name="Lee",
        last_name="Coordinator",
        role=Role.COORDINATOR,
        facilities=[facility],
    )
    m = timedelta(minutes=1)
    d = timedelta(days=1)
    t1 = at(day, 10)
    i1 = InquiryFactory(
        facility=facility,
        created_at=t1,
        stage=Stage.ADMITTED,
        lead_source=source1,
        campaign=campaign,
        assigned_to=kim,
        admitted_program=program,
        program_of_interest=program,
        **_stamps(
            t1,
            first_attempt_at=2 * m,
            contacted_at=10 * m,
            prescreened_at=30 * m,
            vob_started_at=60 * m,
            clinical_review_at=90 * m,
            approved_at=120 * m,
            scheduled_at=d,
            admitted_at=3 * d,
        ),
    )
    Touch.objects.create(inquiry=i1, at=t1, channel="web_form", lead_source=source1)
    Touch.objects.create(inquiry=i1, at=t1 + d, channel="phone", lead_source=source2)
    t2 = at(day, 10, 30)
    i2 = InquiryFactory(
        facility=facility,
        created_at=t2,
        stage=Stage.CLOSED,
        lost_reason="out_of_network",
        lead_source=source1,
        assigned_to=kim,
        **_stamps(t2, first_attempt_at=8 * m, contacted_at=9 * m, prescreened_at=20 * m, closed_at=d),
    )
    t3 = at(day, 20)
    i3 = InquiryFactory(
        facility=facility,
        created_at=t3,
        stage=Stage.CONTACT_ATTEMPTED,
        lead_source=source2,
        channel="phone",
        assigned_to=lee,
        **_stamps(t3, first_attempt_at=30 * m),
    )
    t4 = at(day, 21)
    i4 = InquiryFactory(
        facility=facility,
        created_at=t4,
        stage=Stage.REFERRED_OUT,
        referred_out_to="=Other Rehab Center",
        referral_partner=partner,
        channel="referral",
        **_stamps(t4, contacted_at=m, closed_at=d),
    )
    i5 = InquiryFactory(
        facility=facility, created_at=at(day, 11), stage=Stage.DUPLICATE, duplicate_of=i1, lead_source=source1
    )
    i6 = InquiryFactory(facility=facility, created_at=at(day, 12), stage=Stage.INVALID)
    # facility B: must never show up for facility A's manager
    other_program = ProgramFactory(facility=other_facility, name="Detox B", capacity=8, census=3)
    t7 = at(day, 9)
    i7 = InquiryFactory(
        facility=other_facility,
        created_at=t7,
        stage=Stage.ADMITTED,
        admitted_program=other_program,
        **_stamps(t7, first_attempt_at=m, contacted_at=2 * m, admitted_at=d),
    )
    # scheduled long ago for the next days: counts on the census page, outside every cohort range here
    long_ago = at(timezone.localdate() - timedelta(days=400), 10)
    scheduled = InquiryFactory(
        facility=facility,
        created_at=long_ago,
        stage=Stage.ADMISSION_SCHEDULED,
        approved_program=program,
        admission_date=timezone.localdate() + timedelta(days=2),
        **_stamps(long_ago, contacted_at=m, scheduled_at=2 * d),
    )
    CapacityHold.objects.create(
        program=program, reference=f"inquiry:{scheduled.pk}", held_until=timezone.now() + timedelta(days=3)
    )
    CapacityHold.objects.create(
        program=program,
        reference="inquiry:old",
        held_until=timezone.now() + d,
        released_at=timezone.now(),
        release_reason="cancelled",
    )
    # the waitlist: I3 waits for the program; I4 was offered a place and declined; I7 waits at B
    WaitlistEntry.objects.create(inquiry=i3, program=program, earliest_start=day, created_at=at(day, 21))
    WaitlistEntry.objects.create(
        inquiry=i4,
        program=program,
        earliest_start=day,
        created_at=at(day, 22),
        state="declined",
        offered_at=at(day + timedelta(days=1), 9),
        offer_expires_at=at(day + timedelta(days=1), 11),
        ended_at=at(day + timedelta(days=1), 10),
    )
    WaitlistEntry.objects.create(inquiry=i7, program=other_program, earliest_start=day, created_at=at(day, 9))
    rollup_refresh(full=True)
    return Cohort(
        day,
        program,
        source1,
        source2,
        campaign,
        partner,
        kim,
        lee,
        {"i1": i1, "i2": i2, "i3": i3, "i4": i4, "i5": i5, "i6": i6, "i7": i7, "scheduled": scheduled},
    )


@pytest.fixture
def administrator_client(administrator) -> Client:
    client = Client()
    login_verified(client, administrator)
    return client


@pytest.fixture
def other_manager_client(other_facility) -> Client:
    user = UserFactory(username="manager_b", role=Role.MANAGER, facilities=[other_facility])
    client = Client()
    login_verified(client, user)
    return client
