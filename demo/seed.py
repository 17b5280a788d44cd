"""A synthetic demo center: facilities, programs, staff, attribution and inquiries.

Reference data (facilities, programs, payers, lead sources, staff) goes through the
ORM and is idempotent by natural key, so a second run tops up. Inquiries and the rows
that hang off them are generated in chunks with primary keys allocated here (children
reference parents without round trips) and written with COPY on PostgreSQL, or
executemany on SQLite. Every name, email (example.com / example.org), phone number
(555) and IP address (192.0.2.0/24) is synthetic. Nothing here logs personal data.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import math
import random
import secrets
import time
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.db import connection, models, transaction
from django.db.models import NOT_PROVIDED, Max
from django.utils import timezone

from admissions.followup_policy import NEW_INQUIRY_CADENCE
from admissions.followups import alert_text
from admissions.models import (
    Caller,
    Campaign,
    ContactConsent,
    FollowUp,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    LeadSource,
    Person,
    ReferralPartner,
    Substance,
    Touch,
)
from admissions.pipeline import OPEN_STAGES, STAGE_TIMESTAMP_FIELD, LostReason, Stage
from admissions.services import TOUCH_ATTRIBUTION_FIELDS
from crm.fields import EncryptedJSONField, EncryptedTextField
from crm.models import Facility, User
from crm.places import place_of_postal_code
from crm.roles import Role
from programs.models import CapacityHold, Census, LevelOfCare, Payer, Program, Specialty

Progress = Callable[[str], None]

# --- reference data -------------------------------------------------------------------


@dataclass(frozen=True)
class FacilitySpec:
    """One demo facility; ``edition`` is the placement criteria its programs use."""

    name: str
    sender: str
    street: str
    city: str
    state: str
    postal_code: str
    time_zone: str
    phone: str
    edition: str
    weight: float
    # (program name, level code, capacity, gender, min age, max age, specialty codes, payers)
    programs: tuple[tuple[str, str, int, str, int, int | None, tuple[str, ...], str], ...]


_ANY, _WOMEN, _MEN = Program.Gender.ANY, Program.Gender.WOMEN, Program.Gender.MEN

FACILITIES: tuple[FacilitySpec, ...] = (
    FacilitySpec(
        "Harbor Point Tampa",
        "Harbor Point Health",
        "1200 Example Bayshore Blvd",
        "Tampa",
        "FL",
        "33606",
        "America/New_York",
        "+18135550100",
        "ASAM 3",
        0.45,
        (
            ("Medical Detox", "3.7-WM", 18, _ANY, 18, None, ("co-occurring", "mat"), "commercial"),
            ("Women's Detox", "3.7-WM", 8, _WOMEN, 18, None, ("women", "mat", "pregnancy"), "commercial"),
            (
                "Hospital-Level Withdrawal",
                "4-WM",
                6,
                _ANY,
                18,
                None,
                ("co-occurring", "medical"),
                "commercial",
            ),
            ("Residential Treatment", "3.5", 40, _ANY, 18, None, ("trauma",), "commercial"),
            ("Women's Residential", "3.5", 20, _WOMEN, 18, None, ("women", "trauma"), "commercial"),
            ("Men's Residential", "3.5", 24, _MEN, 18, None, ("men",), "commercial"),
            ("Young Adult Residential", "3.5", 12, _ANY, 18, 26, ("young-adult",), "commercial"),
            (
                "Co-occurring Residential",
                "3.7",
                16,
                _ANY,
                18,
                None,
                ("co-occurring",),
                "commercial",
            ),
            (
                "Licensed Professionals Program",
                "3.3",
                10,
                _ANY,
                21,
                None,
                ("professionals",),
                "commercial",
            ),
            ("Partial Hospitalization", "2.5", 30, _ANY, 18, None, ("co-occurring",), "commercial"),
            (
                "Co-occurring PHP",
                "2.5",
                15,
                _ANY,
                18,
                None,
                ("co-occurring", "trauma"),
                "commercial",
            ),
            ("Day IOP", "2.1", 30, _ANY, 18, None, (), "medicaid"),
            ("Evening IOP", "2.1", 30, _ANY, 18, None, ("professionals",), "medicaid"),
            ("Young Adult IOP", "2.1", 16, _ANY, 18, 26, ("young-adult",), "medicaid"),
            ("Outpatient Therapy", "1", 60, _ANY, 18, None, (), "medicaid"),
            ("MAT Outpatient", "1-WM", 50, _ANY, 18, None, ("mat",), "medicaid"),
        ),
    ),
    FacilitySpec(
        "Blue Ridge Asheville",
        "Blue Ridge Wellness",
        "40 Example Mountain Road",
        "Asheville",
        "NC",
        "28801",
        "America/New_York",
        "+18285550100",
        "ASAM 4",
        0.33,
        (
            (
                "Medically Managed Withdrawal",
                "3.7",
                12,
                _ANY,
                18,
                None,
                ("mat", "co-occurring"),
                "commercial",
            ),
            ("Residential", "3.5", 28, _ANY, 18, None, ("trauma", "veterans"), "commercial"),
            ("Women's Residential", "3.5", 14, _WOMEN, 18, None, ("women", "trauma"), "commercial"),
            (
                "Pregnant and Postpartum Residential",
                "3.5",
                8,
                _WOMEN,
                18,
                None,
                ("pregnancy", "women", "mat"),
                "medicaid",
            ),
            ("Transitional Residential", "3.1", 16, _ANY, 18, None, ("lgbtq",), "commercial"),
            (
                "High-Intensity Outpatient",
                "2.5",
                20,
                _ANY,
                18,
                None,
                ("co-occurring",),
                "commercial",
            ),
            (
                "Medically Managed Intensive Outpatient",
                "2.7",
                12,
                _ANY,
                18,
                None,
                ("mat",),
                "commercial",
            ),
            ("Intensive Outpatient", "2.1", 24, _ANY, 18, None, (), "medicaid"),
            ("Professionals IOP", "2.1", 12, _ANY, 21, None, ("professionals",), "commercial"),
            ("Outpatient Therapy", "1.5", 50, _ANY, 18, None, ("lgbtq",), "medicaid"),
            ("Medically Managed Outpatient", "1.7", 40, _ANY, 18, None, ("mat",), "medicaid"),
            ("Recovery Monitoring", "1.0", 80, _ANY, 18, None, (), "medicaid"),
        ),
    ),
    FacilitySpec(
        "Desert Springs Scottsdale",
        "Desert Springs Health",
        "7000 Example Camelback Road",
        "Scottsdale",
        "AZ",
        "85251",
        "America/Phoenix",
        "+14805550100",
        "ASAM 3",
        0.22,
        (
            ("Detox", "3.7-WM", 10, _ANY, 18, None, ("mat",), "commercial"),
            ("Social Detox", "3.2-WM", 8, _ANY, 18, None, (), "commercial"),
            ("Residential", "3.5", 24, _ANY, 18, None, ("spanish",), "commercial"),
            ("Men's Residential", "3.5", 12, _MEN, 18, None, ("men", "veterans"), "commercial"),
            ("Partial Hospitalization", "2.5", 20, _ANY, 18, None, ("co-occurring",), "commercial"),
            ("Intensive Outpatient", "2.1", 24, _ANY, 18, None, ("spanish",), "medicaid"),
            ("Evening IOP", "2.1", 18, _ANY, 18, None, ("professionals",), "commercial"),
            ("Outpatient", "1", 40, _ANY, 18, None, (), "medicaid"),
            ("Older Adult Outpatient", "1", 20, _ANY, 55, None, ("older-adults",), "medicare"),
        ),
    ),
)

SPECIALTIES: tuple[tuple[str, str], ...] = (
    ("co-occurring", "Co-occurring mental health"),
    ("medical", "Enhanced medical care"),
    ("mat", "Medication for addiction treatment (MAT)"),
    ("pregnancy", "Pregnant and postpartum"),
    ("young-adult", "Young adults"),
    ("women", "Women"),
    ("men", "Men"),
    ("professionals", "Licensed professionals"),
    ("older-adults", "Older adults"),
    ("trauma", "Trauma-informed care"),
    ("veterans", "Veterans"),
    ("lgbtq", "LGBTQ+ affirming"),
    ("spanish", "Spanish-speaking"),
)

# (name, self-pay, group, weight among callers with insurance)
PAYERS: tuple[tuple[str, bool, str, float], ...] = (
    ("Atlantic Mutual Health", False, "commercial", 16),
    ("Summit Care Insurance", False, "commercial", 13),
    ("Piedmont Health Partners", False, "commercial", 10),
    ("Gulf Coast Health Plan", False, "commercial", 10),
    ("Sonoran Health Plan", False, "commercial", 7),
    ("Keystone Federal Employee Plan", False, "commercial", 5),
    ("Liberty Benefit Administrators", False, "commercial", 6),
    ("Evergreen Medicaid Managed Care", False, "medicaid", 14),
    ("Silver Years Medicare Advantage", False, "medicare", 5),
    ("Self-pay", True, "self", 8),
)
_PAYER_GROUPS = {
    "commercial": {"commercial", "self"},
    "medicaid": {"commercial", "medicaid", "self"},
    "medicare": {"commercial", "medicare", "self"},
}

# (name, kind, facility index or None for every facility with the city in the name)
LEAD_SOURCES: tuple[tuple[str, str, int | None], ...] = (
    ("Website form", LeadSource.Kind.WEBSITE, 0),
    ("Website chat", LeadSource.Kind.CHAT, 0),
    ("Paid search calls", LeadSource.Kind.CALL_TRACKING, 0),
    ("Organic search calls", LeadSource.Kind.CALL_TRACKING, 0),
    ("Directory listing: CareFinder (example)", LeadSource.Kind.DIRECTORY, 0),
    ("Referral intake", LeadSource.Kind.REFERRAL, 0),
    ("Admit line {city}", LeadSource.Kind.ADMIT_LINE, None),
    ("Walk-in {city}", LeadSource.Kind.WALK_IN, None),
)

# (lead source, campaign name, utm_campaign, starts days ago, ends days ago or None)
CAMPAIGNS: tuple[tuple[str, str, str, int, int | None], ...] = (
    ("Website form", "Brand search", "brand-search", 720, None),
    ("Website form", "Family support guide", "family-guide", 600, None),
    ("Website form", "Spring outreach", "spring-outreach", 420, 330),
    ("Website form", "Insurance check landing page", "insurance-check", 240, None),
    ("Website chat", "After-hours chat", "after-hours-chat", 500, None),
    ("Paid search calls", "Brand search calls", "brand-calls", 720, None),
    ("Paid search calls", "Non-brand search calls", "nonbrand-calls", 700, None),
    ("Paid search calls", "Local search Tampa Bay", "local-tampa", 365, 60),
    ("Paid search calls", "Local search Asheville", "local-asheville", 300, None),
    ("Directory listing: CareFinder (example)", "Premium listing", "premium-listing", 540, None),
)

# (organisation, kind, contact name)
REFERRAL_PARTNERS: tuple[tuple[str, str, str], ...] = (
    ("Bayview General Hospital ED (example)", ReferralPartner.Kind.HOSPITAL, "Pat Example"),
    ("Mountain View Regional Hospital (example)", ReferralPartner.Kind.HOSPITAL, "Lee Sample"),
    ("Sonoran Valley Medical Center (example)", ReferralPartner.Kind.HOSPITAL, "Kim Demo"),
    ("Gulfside Behavioral Hospital (example)", ReferralPartner.Kind.HOSPITAL, "Ray Placeholder"),
    ("Coastal Counseling Associates (example)", ReferralPartner.Kind.CLINICIAN, "Dana Sample"),
    ("Ridgeview Family Medicine (example)", ReferralPartner.Kind.CLINICIAN, "Jo Example"),
    ("Saguaro Psychiatry Group (example)", ReferralPartner.Kind.CLINICIAN, "Ali Demo"),
    ("Bright Path Therapy (example)", ReferralPartner.Kind.CLINICIAN, "Sam Placeholder"),
    ("Harborline Employee Assistance (example)", ReferralPartner.Kind.EAP, "Chris Sample"),
    ("Summit Workforce EAP (example)", ReferralPartner.Kind.EAP, "Robin Example"),
    ("Pilots Assistance Network (example)", ReferralPartner.Kind.EAP, "Drew Demo"),
    ("Bay County Treatment Court (example)", ReferralPartner.Kind.LEGAL, "Morgan Sample"),
    ("Blue Ridge Probation Office (example)", ReferralPartner.Kind.LEGAL, "Jesse Example"),
    ("Desert Diversion Program (example)", ReferralPartner.Kind.LEGAL, "Avery Demo"),
    ("Sunrise Outpatient Clinic (example)", ReferralPartner.Kind.TREATMENT, "Quinn Sample"),
    ("New Leaf Sober Living (example)", ReferralPartner.Kind.TREATMENT, "Casey Example"),
    ("Lakeside Recovery Residence (example)", ReferralPartner.Kind.TREATMENT, "Reese Demo"),
    ("Cedar Interventionist Services (example)", ReferralPartner.Kind.TREATMENT, "Skyler Sample"),
    ("Harbor Point Alumni Network", ReferralPartner.Kind.COMMUNITY, "Jordan Example"),
    ("Recovery Community Center (example)", ReferralPartner.Kind.COMMUNITY, "Taylor Demo"),
    ("Faith Outreach Ministry (example)", ReferralPartner.Kind.COMMUNITY, "Rowan Sample"),
    ("Campus Health Services (example)", ReferralPartner.Kind.CLINICIAN, "Emery Example"),
)

# (username, first, last, role, on duty)
DEMO_LOGINS: tuple[tuple[str, str, str, Role, bool], ...] = (
    ("coordinator", "Casey", "Coordinator", Role.COORDINATOR, True),
    ("clinician", "Cleo", "Clinician", Role.CLINICAL_REVIEWER, False),
    ("vob", "Val", "Verifier", Role.VOB_SPECIALIST, False),
    ("manager", "Morgan", "Manager", Role.MANAGER, False),
    ("marketing", "Mara", "Marketer", Role.MARKETING, False),
    ("admin", "Ada", "Administrator", Role.ADMINISTRATOR, False),
)
_EXTRA_COORDINATOR_NAMES = (
    ("Jamie", "Bayfront"),
    ("Riley", "Seaside"),
    ("Avery", "Harborview"),
    ("Rowan", "Ridgeline"),
    ("Emery", "Foothill"),
    ("Sage", "Canyon"),
    ("Parker", "Mesa"),
    ("Dakota", "Sunstone"),
    ("Hayden", "Clearwater"),
)

# --- synthetic people -----------------------------------------------------------------

_FIRST_NAMES = (
    "Alex",
    "Jordan",
    "Taylor",
    "Morgan",
    "Casey",
    "Riley",
    "Jamie",
    "Avery",
    "Quinn",
    "Reese",
    "Skyler",
    "Drew",
    "Parker",
    "Rowan",
    "Emery",
    "Hayden",
    "Dakota",
    "Sage",
    "Blake",
    "Cameron",
    "Logan",
    "Peyton",
    "Charlie",
    "Finley",
    "Harper",
    "Kendall",
    "Marlowe",
    "Noel",
    "Oakley",
    "Remy",
    "Sawyer",
    "Tatum",
    "Wren",
    "Arden",
    "Bellamy",
    "Ellis",
    "Jules",
    "Lane",
    "Monroe",
    "Shiloh",
)
# Invented surnames, so a demo record never matches a real person by accident.
_LAST_NAMES = (
    "Ashgrove",
    "Birchwell",
    "Brightwater",
    "Cobblestone",
    "Crestfield",
    "Dunmere",
    "Elmsworth",
    "Fairbrook",
    "Fernsby",
    "Glenhollow",
    "Greywick",
    "Hallowmere",
    "Hazelton",
    "Ironbridge",
    "Juniperly",
    "Kestrelton",
    "Lakemoor",
    "Larkspur",
    "Maplecroft",
    "Mossgrove",
    "Northwind",
    "Oakhollow",
    "Pebbleford",
    "Quillfeather",
    "Ravenscar",
    "Redfern",
    "Rosethorne",
    "Saltmarsh",
    "Silverbrook",
    "Stonebridge",
    "Thistlewood",
    "Underhill",
    "Valeford",
    "Westbury",
    "Whitlock",
    "Willowmere",
    "Windermere",
    "Yarrowby",
    "Zephyrton",
    "Copperfield",
)
# Real area codes with their state and time zone; line numbers are always 555-xxxx.
_AREA_CODES: tuple[tuple[str, str, str], ...] = tuple(
    (code, state, tz)
    for state, tz, codes in (
        ("FL", "America/New_York", "305 321 352 386 407 561 727 754 772 786 813 863 904 941 954"),
        ("NC", "America/New_York", "252 336 704 828 910 919 980 984"),
        ("SC", "America/New_York", "803 843 864"),
        ("GA", "America/New_York", "229 404 470 478 678 706 762 770 912"),
        ("TN", "America/Chicago", "615 629 731 901 931"),
        ("AL", "America/Chicago", "205 251 256 334"),
        ("VA", "America/New_York", "276 434 540 571 703 757 804"),
        ("AZ", "America/Phoenix", "480 520 602 623 928"),
        ("TX", "America/Chicago", "210 214 281 512 713 817 832 972"),
        ("NY", "America/New_York", "212 315 516 518 585 607 631 716 718 914"),
        ("OH", "America/New_York", "216 330 419 513 614 937"),
        ("PA", "America/New_York", "215 267 412 484 610 717"),
        ("IL", "America/Chicago", "312 630 708 773 847"),
        ("CO", "America/Denver", "303 719 720 970"),
        ("CA", "America/Los_Angeles", "213 310 415 619 714 818 916"),
    )
    for code in codes.split()
)
# The fictional 555-0100..0199 block first, then the rest of the 555 exchange.
_LINES: tuple[str, ...] = tuple(
    f"{n:04d}" for n in itertools.chain(range(100, 200), range(0, 100), range(200, 10_000))
)
_PHONE_SPACE = len(_AREA_CODES) * len(_LINES)
_CITIES = {
    "FL": "Tampa",
    "NC": "Charlotte",
    "SC": "Columbia",
    "GA": "Atlanta",
    "TN": "Nashville",
    "AL": "Birmingham",
    "VA": "Richmond",
    "AZ": "Phoenix",
    "TX": "Austin",
    "NY": "Albany",
    "OH": "Columbus",
    "PA": "Harrisburg",
    "IL": "Chicago",
    "CO": "Denver",
    "CA": "Sacramento",
}


def _person_phone(person_id: int) -> tuple[str, str, str]:
    """A 555 number derived from the person id (unique up to ``_PHONE_SPACE``), state, zone."""
    n = person_id % _PHONE_SPACE
    area, state, tz = _AREA_CODES[n % len(_AREA_CODES)]
    return f"+1{area}555{_LINES[n // len(_AREA_CODES)]}", state, tz


def _caller_phone(caller_id: int) -> str:
    """A 555 number for a caller, drawn from the top of the exchange to stay clear of people."""
    n = caller_id % _PHONE_SPACE
    area = _AREA_CODES[(n * 7) % len(_AREA_CODES)][0]
    return f"+1{area}555{_LINES[-1 - (n // len(_AREA_CODES)) % 5000]}"


# (code, weight) of substances named at intake
_SUBSTANCE_WEIGHTS = (
    ("alcohol", 45),
    ("heroin_fentanyl", 25),
    ("stimulants", 18),
    ("rx_opioids", 12),
    ("benzodiazepines", 12),
    ("cannabis", 10),
    ("rx_stimulants", 4),
    ("gabapentinoids", 3),
    ("other", 3),
    ("carisoprodol", 1),
    ("barbiturates", 0.5),
    ("baclofen", 0.5),
)
_WEB_MESSAGES = (
    "Please call me back about options.",
    "Looking for help for a family member.",
    "What does my insurance cover?",
    "Can someone call me after 5pm?",
    "I would like to talk to someone today.",
    "Do you have openings this week?",
    "",
)
_REFERRED_OUT_TO = (
    "Adolescent program (outside network)",
    "Psychiatric inpatient unit (example)",
    "County crisis stabilization unit (example)",
    "Outpatient provider closer to home (example)",
    "Medicaid residential program (example)",
    "Hospital-based medical detox (example)",
    "Eating disorder program (example)",
)
_INVALID_NOTES = (
    "Spam submission",
    "Wrong number",
    "Job seeker",
    "Vendor solicitation",
    "Test submission",
)
_CRISIS_NOTES = (
    "Routed to 988 crisis line",
    "Routed to 911 / emergency department",
    "Advised emergency department; clinician notified",
)
_FAMILY = ("mother", "father", "spouse", "partner", "sister", "brother", "daughter", "son")
_CONSENT_TEXT = (
    "I agree that {sender} may call and text me about my inquiry at the number I gave, "
    "including with automated technology. Consent is not a condition of any service. "
    "Message and data rates may apply. Reply STOP to opt out."
)
_EMAIL_CONSENT_TEXT = "I agree that {sender} may email me about my inquiry. I can unsubscribe at any time."

# --- pipeline shapes ------------------------------------------------------------------


class S:
    """Stage values as plain strings: enum member access is slow in the per-row loop."""

    NEW = Stage.NEW.value
    CONTACT_ATTEMPTED = Stage.CONTACT_ATTEMPTED.value
    CONTACTED = Stage.CONTACTED.value
    PRESCREENED = Stage.PRESCREENED.value
    INSURANCE_VERIFICATION = Stage.INSURANCE_VERIFICATION.value
    CLINICAL_REVIEW = Stage.CLINICAL_REVIEW.value
    APPROVED = Stage.APPROVED.value
    ADMISSION_SCHEDULED = Stage.ADMISSION_SCHEDULED.value
    ADMITTED = Stage.ADMITTED.value
    REFERRED_OUT = Stage.REFERRED_OUT.value
    CLOSED = Stage.CLOSED.value
    CRISIS_ROUTED = Stage.CRISIS_ROUTED.value
    NURTURE = Stage.NURTURE.value
    DUPLICATE = Stage.DUPLICATE.value
    INVALID = Stage.INVALID.value


_ALL_STAGES: tuple[str, ...] = tuple(Stage.values)
_OPEN_WEIGHTS = (
    (S.NEW, 10),
    (S.CONTACT_ATTEMPTED, 26),
    (S.CONTACTED, 16),
    (S.PRESCREENED, 12),
    (S.INSURANCE_VERIFICATION, 13),
    (S.CLINICAL_REVIEW, 8),
    (S.APPROVED, 7),
    (S.ADMISSION_SCHEDULED, 8),
)
_SETTLED_WEIGHTS = (
    (S.ADMITTED, 14),
    (S.CLOSED, 58),
    (S.REFERRED_OUT, 9),
    (S.NURTURE, 6),
    (S.CRISIS_ROUTED, 1.5),
    (S.DUPLICATE, 5),
    (S.INVALID, 6.5),
)


class L:
    """Lost reasons as plain strings, for the same reason."""

    UNREACHABLE = LostReason.UNREACHABLE.value
    DECLINED = LostReason.DECLINED.value
    NEEDS_OTHER_LEVEL = LostReason.NEEDS_OTHER_LEVEL.value
    EXCLUSION = LostReason.EXCLUSION.value
    OUT_OF_NETWORK = LostReason.OUT_OF_NETWORK.value
    NOT_COVERED = LostReason.NOT_COVERED.value
    AUTH_DENIED = LostReason.AUTH_DENIED.value
    CANNOT_AFFORD = LostReason.CANNOT_AFFORD.value
    CHOSE_OTHER = LostReason.CHOSE_OTHER.value
    NO_CAPACITY = LostReason.NO_CAPACITY.value
    NO_SHOW = LostReason.NO_SHOW.value
    LEGAL = LostReason.LEGAL.value


# lost reason -> (weight, the working stages it is typically lost from)
_LOST: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    (L.UNREACHABLE, 33, (S.CONTACT_ATTEMPTED,)),
    (L.DECLINED, 20, (S.CONTACTED, S.PRESCREENED)),
    (L.OUT_OF_NETWORK, 7, (S.INSURANCE_VERIFICATION,)),
    (L.NOT_COVERED, 4, (S.INSURANCE_VERIFICATION,)),
    (L.AUTH_DENIED, 3, (S.INSURANCE_VERIFICATION, S.CLINICAL_REVIEW)),
    (L.CANNOT_AFFORD, 4, (S.INSURANCE_VERIFICATION,)),
    (L.NEEDS_OTHER_LEVEL, 5, (S.CLINICAL_REVIEW, S.PRESCREENED)),
    (L.EXCLUSION, 2, (S.PRESCREENED,)),
    (L.CHOSE_OTHER, 9, (S.CONTACTED, S.PRESCREENED, S.INSURANCE_VERIFICATION, S.APPROVED)),
    (L.NO_CAPACITY, 2, (S.APPROVED,)),
    (L.NO_SHOW, 7, (S.ADMISSION_SCHEDULED,)),
    (L.LEGAL, 2, (S.CONTACTED, S.PRESCREENED)),
)
_INSURANCE_LOSSES = frozenset({L.OUT_OF_NETWORK, L.NOT_COVERED, L.AUTH_DENIED})
_STAMP_FIELDS = (
    "first_attempt_at",
    "contacted_at",
    "prescreened_at",
    "vob_started_at",
    "clinical_review_at",
    "approved_at",
    "scheduled_at",
    "admitted_at",
    "crisis_routed_at",
    "nurture_at",
    "closed_at",
)
_STAMP_SLOT = {stage: _STAMP_FIELDS.index(f) for stage, f in STAGE_TIMESTAMP_FIELD.items()}
# Typical gap before reaching a stage: (median minutes, log-normal sigma, floor s, cap s)
_GAPS: dict[str, tuple[float, float, int, int]] = {
    S.CONTACTED: (150, 1.3, 300, 5 * 86400),
    S.PRESCREENED: (25, 0.8, 180, 2 * 86400),
    S.INSURANCE_VERIFICATION: (40, 1.0, 120, 2 * 86400),
    S.CLINICAL_REVIEW: (180, 1.0, 600, 3 * 86400),
    S.APPROVED: (240, 1.0, 900, 4 * 86400),
    S.ADMISSION_SCHEDULED: (300, 1.2, 600, 5 * 86400),
    S.ADMITTED: (1800, 0.8, 3600, 10 * 86400),
    S.REFERRED_OUT: (180, 1.2, 300, 7 * 86400),
    S.CLOSED: (1440, 1.2, 600, 21 * 86400),
    S.NURTURE: (4320, 1.0, 3600, 30 * 86400),
    S.CRISIS_ROUTED: (20, 1.0, 60, 86400),
    S.DUPLICATE: (30, 1.5, 60, 3 * 86400),
    S.INVALID: (120, 1.5, 60, 5 * 86400),
}
# Speed to first attempt: (cumulative share, shortest s, longest s or 0 for "next morning")
_SPEED_BUSINESS = (
    (0.66, 20, 300),
    (0.9, 300, 1800),
    (0.98, 1800, 3 * 3600),
    (1.0, 3 * 3600, 86400),
)
_SPEED_AFTER_HOURS = ((0.35, 30, 300), (0.65, 300, 3600), (0.85, 3600, 8 * 3600), (1.0, 0, 0))
HISTORY_DAYS = 548  # 18 months
_HOUR_WEIGHTS = (
    4,
    3,
    3,
    2,
    2,
    3,
    4,
    6,
    8,
    10,
    11,
    11,
    10,
    10,
    10,
    10,
    9,
    9,
    9,
    9,
    8,
    7,
    6,
    5,
)
_WEEKDAY_WEIGHTS = (1.0, 1.0, 0.97, 0.95, 0.9, 0.72, 0.7)


def _cum(weights: Iterable[float]) -> list[float]:
    return list(itertools.accumulate(weights))


# --- writing rows -----------------------------------------------------------------------


_ENCRYPTED_FIELDS = (EncryptedTextField, EncryptedJSONField)


class _Sink:
    """Writes rows of one model with COPY."""

    def write(self, model: type[models.Model], cols: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (values in ``cols`` order, attnames) into ``model``'s table."""
        if not rows:
            return
        fields = {f.attname: f for f in model._meta.concrete_fields}
        extra_cols, extra = _defaults(model, cols)
        if extra_cols:
            cols = (*cols, *extra_cols)
            rows = [row + extra for row in rows]
        # Columns encrypted at rest get the field's own stored form (the raw write bypasses it).
        sealed = [i for i, c in enumerate(cols) if isinstance(fields[c], _ENCRYPTED_FIELDS)]
        if sealed:
            rows = [
                tuple(
                    fields[cols[i]].get_prep_value(v) if i in sealed and v is not None else v
                    for i, v in enumerate(row)
                )
                for row in rows
            ]
        table = connection.ops.quote_name(model._meta.db_table)
        names = ", ".join(connection.ops.quote_name(fields[c].column) for c in cols)
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)


def _defaults(model: type[models.Model], cols: Sequence[str]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """Columns the generator does not fill, with their model defaults.

    The database has no defaults for Django's Python-side ones, so a field added to a
    model later still gets a valid value here instead of breaking the seeder.
    """
    names: list[str] = []
    values: list[Any] = []
    for f in model._meta.concrete_fields:
        if f.attname in cols or f.primary_key or f.db_default is not NOT_PROVIDED:
            continue
        if f.null and not f.has_default():
            continue  # NULL is the column default
        value = f.get_default()
        names.append(f.attname)
        plain_json = isinstance(value, dict | list) and not isinstance(f, _ENCRYPTED_FIELDS)
        values.append(json.dumps(value) if plain_json else value)
    return tuple(names), tuple(values)


def _next_id(model: type[models.Model]) -> int:
    return (model._default_manager.aggregate(m=Max("pk"))["m"] or 0) + 1


def _sync_sequence(model: type[models.Model]) -> None:
    """After writing explicit ids, move the id sequence past them."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'id'), "  # noqa: S608 - table from _meta
            f"GREATEST((SELECT MAX(id) FROM {connection.ops.quote_name(table)}), 1))",
            [table],
        )


_BULK_MODELS: tuple[type[models.Model], ...] = (
    Person,
    Caller,
    CapacityHold,
    Inquiry,
    Inquiry.substances.through,
    Touch,
    InsurancePolicy,
    ContactConsent,
    InquiryEvent,
    FollowUp,
)


@contextmanager
def _bulk_tables(progress: Progress | None) -> Iterator[None]:
    """Drop the bulk tables' foreign keys and secondary indexes; rebuild them on the way out.

    PostgreSQL's own advice for loading a lot of data: per-row foreign key triggers and
    index updates cost more than one validating pass and one index build at the end. It
    must run inside the caller's transaction, so a failure restores everything; primary
    keys, unique constraints and partial or expression indexes (small, and their definitions
    would not read back verbatim) stay.
    """
    qn = connection.ops.quote_name
    foreign_keys: list[tuple[str, str, str]] = []
    indexes: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks before ALTER TABLE
        for model in _BULK_MODELS:
            table = model._meta.db_table
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
                [table],
            )
            foreign_keys += [(table, name, definition) for name, definition in cursor.fetchall()]
            cursor.execute(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary "
                "AND x.indpred IS NULL AND x.indexprs IS NULL AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY 1",
                [table],
            )
            for name, definition in cursor.fetchall():
                indexes.append(definition)
                cursor.execute(f"DROP INDEX {qn(name)}")
        for table, name, _definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT {qn(name)}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    yield
    if progress:
        progress(f"rebuilding {len(indexes)} indexes and {len(foreign_keys)} foreign keys")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem TO '256MB'")
        for definition in indexes:
            cursor.execute(definition)
        for table, name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(name)} {definition}")


_PERSON_COLS = (
    "id",
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "phone",
    "email",
    "street",
    "city",
    "state",
    "postal_code",
    "time_zone",
    "preferred_language",
    "ok_to_voicemail",
    "ok_to_text",
    "created_at",
)
_CALLER_COLS = (
    "id",
    "relationship",
    "relationship_detail",
    "name",
    "phone",
    "email",
    "organisation",
)
_HOLD_COLS = (
    "id",
    "program_id",
    "reference",
    "held_from",
    "held_until",
    "created_at",
    "released_at",
    "release_reason",
)
_INQUIRY_COLS = (
    "id",
    "person_id",
    "caller_id",
    "facility_id",
    "channel",
    "lead_source_id",
    "campaign_id",
    "referral_partner_id",
    "external_id",
    "phone",
    "email",
    "message",
    "program_of_interest_id",
    "assigned_to_id",
    "assigned_at",
    "stage",
    "stage_changed_at",
    "created_at",
    *_STAMP_FIELDS,
    "approved_level_id",
    "approved_program_id",
    "admission_date",
    "capacity_hold_id",
    "admitted_program_id",
    "lost_reason",
    "referred_out_to",
    "close_note",
    "duplicate_of_id",
    "has_red_flag",
)
_SUBSTANCE_COLS = ("inquiry_id", "substance_id")
_TOUCH_COLS = (
    "inquiry_id",
    "at",
    "channel",
    "lead_source_id",
    "campaign_id",
    "referral_partner_id",
    *TOUCH_ATTRIBUTION_FIELDS,
)
_POLICY_COLS = (
    "inquiry_id",
    "rank",
    "payer_id",
    "payer_name",
    "member_id",
    "group_number",
    "subscriber_name",
    "subscriber_date_of_birth",
    "subscriber_relationship",
    "vob_status",
    "vob_requested_at",
    "vob_completed_at",
    "in_network",
    "deductible_remaining",
    "out_of_pocket_remaining",
    "authorization_required",
    "vob_notes",
)
_CONSENT_COLS = (
    "person_id",
    "medium",
    "address",
    "source",
    "consent_text",
    "captured_at",
    "captured_by_id",
    "ip",
    "page_url",
    "revoked_at",
    "revocation_source",
)
_EVENT_COLS = (
    "inquiry_id",
    "at",
    "kind",
    "actor_id",
    "actor_label",
    "call_direction",
    "call_outcome",
    "body",
    "data",
)
_FOLLOWUP_COLS = (
    "inquiry_id",
    "kind",
    "due_at",
    "state",
    "dedupe_key",
    "attempts",
    "lease_until",
    "created_at",
    "finished_at",
    "outcome",
)


@dataclass
class _Batch:
    """Rows of one chunk, per table."""

    persons: list[tuple[Any, ...]] = field(default_factory=list)
    callers: list[tuple[Any, ...]] = field(default_factory=list)
    holds: list[tuple[Any, ...]] = field(default_factory=list)
    inquiries: list[tuple[Any, ...]] = field(default_factory=list)
    substances: list[tuple[Any, ...]] = field(default_factory=list)
    touches: list[tuple[Any, ...]] = field(default_factory=list)
    policies: list[tuple[Any, ...]] = field(default_factory=list)
    consents: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    followups: list[tuple[Any, ...]] = field(default_factory=list)

    def write(self, sink: _Sink) -> Counter[str]:
        """Write every table in dependency order; returns row counts."""
        plan: tuple[tuple[str, type[models.Model], Sequence[str], list[tuple[Any, ...]]], ...] = (
            ("people", Person, _PERSON_COLS, self.persons),
            ("callers", Caller, _CALLER_COLS, self.callers),
            ("capacity holds", CapacityHold, _HOLD_COLS, self.holds),
            ("inquiries", Inquiry, _INQUIRY_COLS, self.inquiries),
            ("inquiry substances", Inquiry.substances.through, _SUBSTANCE_COLS, self.substances),
            ("touches", Touch, _TOUCH_COLS, self.touches),
            ("insurance policies", InsurancePolicy, _POLICY_COLS, self.policies),
            ("contact consents", ContactConsent, _CONSENT_COLS, self.consents),
            ("timeline events", InquiryEvent, _EVENT_COLS, self.events),
            ("follow-ups", FollowUp, _FOLLOWUP_COLS, self.followups),
        )
        counts: Counter[str] = Counter()
        for label, model, cols, rows in plan:
            sink.write(model, cols, rows)
            counts[label] += len(rows)
        return counts


# --- the result -------------------------------------------------------------------------


@dataclass
class SeedResult:
    """What a run wrote (counts only) and the demo logins it set the password on."""

    password: str
    logins: list[tuple[str, str]]
    extra_coordinators: int
    counts: Counter[str]
    seconds: float
    topped_up: bool


class DemoDataError(Exception):
    """The database is not one the demo seeder may write to."""


def demo_password_generate() -> str:
    """A random password good enough for a demo login."""
    return "demo-" + secrets.token_urlsafe(12)


def seed_demo(
    *,
    inquiries: int,
    password: str,
    seed: int = 1,
    chunk_size: int = 25_000,
    now: datetime | None = None,
    bulk_threshold: int = 50_000,
    progress: Progress | None = None,
) -> SeedResult:
    """Create (or top up) the demo center and ``inquiries`` synthetic inquiries."""
    started = time.monotonic()
    now = (now or timezone.now()).replace(microsecond=0)
    demo_names = [spec.name for spec in FACILITIES]
    existing = set(Facility.objects.values_list("name", flat=True))
    if existing and not existing & set(demo_names):
        raise DemoDataError(
            "The database holds facilities that are not the demo center's; refusing to mix "
            "synthetic data into it."
        )
    topped_up = bool(existing)
    rng = random.Random(f"reference:{seed}")  # noqa: S311 - synthetic data, not security
    with transaction.atomic():
        reference = _reference_data(rng=rng, password=password, now=now)
    counts: Counter[str] = Counter()
    if inquiries > 0:
        generator = _InquiryGenerator(reference=reference, seed=seed, now=now)
        bulk = inquiries >= bulk_threshold
        counts = generator.run(total=inquiries, chunk_size=chunk_size, bulk=bulk, progress=progress)
    return SeedResult(
        password=password,
        logins=[(username, role.value) for username, _f, _l, role, _d in DEMO_LOGINS],
        extra_coordinators=len(reference.extra_coordinators),
        counts=counts,
        seconds=time.monotonic() - started,
        topped_up=topped_up,
    )


@dataclass
class _Reference:
    facilities: list[Facility]
    specs: dict[int, FacilitySpec]
    programs: dict[int, list[Program]]
    payers: list[Payer]
    sources: dict[str, LeadSource]
    campaigns: dict[int, list[Campaign]]
    partners: list[ReferralPartner]
    coordinators: dict[int, list[int]]
    extra_coordinators: list[User]
    users: dict[str, User]
    substances: dict[str, int]


def _coordinates(postal_code: str) -> dict[str, Decimal]:
    place = place_of_postal_code(postal_code)
    if place is None or place.latitude is None or place.longitude is None:
        return {}
    return {"latitude": Decimal(f"{place.latitude:.5f}"), "longitude": Decimal(f"{place.longitude:.5f}")}


def _reference_data(*, rng: random.Random, password: str, now: datetime) -> _Reference:
    """Facilities, programs, payers, sources, partners and staff (get or create by name)."""
    levels = {(lv.edition, lv.code): lv for lv in LevelOfCare.objects.all()}
    specialties = {}
    for code, name in SPECIALTIES:
        specialties[code], _ = Specialty.objects.get_or_create(code=code, defaults={"name": name})
    payers = []
    for name, self_pay, _group, _w in PAYERS:
        payer, _ = Payer.objects.get_or_create(name=name, defaults={"is_self_pay": self_pay})
        payers.append(payer)
    payer_group = {p.name: g for (_n, _s, g, _w), p in zip(PAYERS, payers, strict=True)}

    facilities: list[Facility] = []
    specs: dict[int, FacilitySpec] = {}
    programs: dict[int, list[Program]] = {}
    for spec in FACILITIES:
        facility, _ = Facility.objects.get_or_create(
            name=spec.name,
            defaults={
                "neutral_sender_name": spec.sender,
                "street": spec.street,
                "city": spec.city,
                "state": spec.state,
                "postal_code": spec.postal_code,
                "time_zone": spec.time_zone,
                "phone": spec.phone,
                # Coordinates from the postal code (the data the zipcodes package ships), never typed.
                **_coordinates(spec.postal_code),
            },
        )
        facilities.append(facility)
        specs[facility.pk] = spec
        programs[facility.pk] = []
        for name, code, capacity, gender, min_age, max_age, codes, payer_set in spec.programs:
            level = levels[(spec.edition, code)]
            beds = level.setting in ("withdrawal", "residential")
            program, created = Program.objects.get_or_create(
                facility=facility,
                name=name,
                defaults={
                    "setting": level.setting,
                    "level_of_care": level,
                    "capacity_kind": Program.CapacityKind.BEDS if beds else Program.CapacityKind.SLOTS,
                    "capacity": capacity,
                    "gender": gender,
                    "min_age": min_age,
                    "max_age": max_age,
                },
            )
            if created:
                program.specialties.set([specialties[c] for c in codes])
                wanted = _PAYER_GROUPS[payer_set]
                program.accepted_payers.set([p for p in payers if payer_group[p.name] in wanted])
                occupied = round(capacity * rng.uniform(0.5, 0.85))
                turnover = 0.9 if level.setting == "withdrawal" else rng.uniform(0.1, 0.35)
                Census.objects.create(
                    program=program,
                    occupied=occupied,
                    expected_discharges_7d=min(occupied, round(occupied * turnover)),
                    updated_at=now,
                )
            programs[facility.pk].append(program)

    sources: dict[str, LeadSource] = {}
    for name, kind, facility_index in LEAD_SOURCES:
        targets = [facilities[facility_index]] if facility_index is not None else facilities
        for facility in targets:
            label = name.format(city=facility.city)
            sources[label], _ = LeadSource.objects.get_or_create(
                name=label, defaults={"kind": kind, "default_facility": facility}
            )
    campaigns: dict[int, list[Campaign]] = {}
    today = timezone.localdate(now)
    for source_name, name, utm, starts, ends in CAMPAIGNS:
        source = sources[source_name]
        campaign, _ = Campaign.objects.get_or_create(
            lead_source=source,
            name=name,
            defaults={
                "utm_campaign": utm,
                "starts_on": today - timedelta(days=starts),
                "ends_on": today - timedelta(days=ends) if ends is not None else None,
            },
        )
        campaigns.setdefault(source.pk, []).append(campaign)

    users = _staff(password=password, facilities=facilities)
    partners: list[ReferralPartner] = []
    for organisation, kind, contact in REFERRAL_PARTNERS:
        slug = "".join(ch for ch in organisation.lower() if ch.isalnum())[:24]
        partner, _ = ReferralPartner.objects.get_or_create(
            organisation=organisation,
            defaults={
                "kind": kind,
                "contact_name": contact,
                "contact_phone": _caller_phone(len(partners) + 900_000),
                "contact_email": f"contact@{slug}.example.org",
                "relationship_owner": users["manager"],
            },
        )
        partners.append(partner)

    coordinators: dict[int, list[int]] = {f.pk: [] for f in facilities}
    coordinator_group = Group.objects.get(name=Role.COORDINATOR.value)
    for user in coordinator_group.user_set.filter(is_active=True).prefetch_related("facilities"):
        for facility in user.facilities.all():
            if facility.pk in coordinators:
                coordinators[facility.pk].append(user.pk)
    extra = [u for name, u in users.items() if name.startswith("coord.")]
    return _Reference(
        facilities=facilities,
        specs=specs,
        programs=programs,
        payers=payers,
        sources=sources,
        campaigns=campaigns,
        partners=partners,
        coordinators={k: sorted(v) for k, v in coordinators.items()},
        extra_coordinators=extra,
        users=users,
        substances=dict(Substance.objects.values_list("code", "pk")),
    )


def _staff(*, password: str, facilities: list[Facility]) -> dict[str, User]:
    """The demo logins and a few coordinators per facility, all with ``password``."""
    groups = {g.name: g for g in Group.objects.filter(name__in=[r.value for r in Role])}
    wanted: list[tuple[str, str, str, Role, bool, list[Facility]]] = [
        (username, first, last, role, on_duty, facilities)
        for username, first, last, role, on_duty in DEMO_LOGINS
    ]
    names = iter(_EXTRA_COORDINATOR_NAMES)
    for facility in facilities:
        city = facility.city.lower()
        for n in range(1, 4):
            first, last = next(names)
            wanted.append((f"coord.{city}{n}", first, last, Role.COORDINATOR, n != 3, [facility]))
    users: dict[str, User] = {}
    for username, first, last, role, on_duty, where in wanted:
        admin = role == Role.ADMINISTRATOR
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.org",
                "is_on_duty": on_duty,
                "is_staff": admin,
                "is_superuser": admin,
            },
        )
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
        user.groups.add(groups[role.value])
        user.facilities.add(*where)
        users[username] = user
    return users


# --- inquiries --------------------------------------------------------------------------


# Epoch seconds to an aware UTC datetime (a C-level partial: this runs ~20 times per inquiry).
_dt = functools.partial(datetime.fromtimestamp, tz=UTC)


class _InquiryGenerator:
    """Generates inquiries in chronological order and writes them chunk by chunk."""

    def __init__(self, *, reference: _Reference, seed: int, now: datetime) -> None:
        self.ref = reference
        self.now = int(now.timestamp())
        self.now_dt = now
        self.sink = _Sink()
        self.person_id = _next_id(Person)
        self.caller_id = _next_id(Caller)
        self.inquiry_id = _next_id(Inquiry)
        self.hold_id = _next_id(CapacityHold)
        # Seeded by where the ids start, so a top-up run does not repeat the first one.
        self.rng = random.Random(f"inquiries:{seed}:{self.inquiry_id}")  # noqa: S311
        self.json_cache: dict[Any, str] = {}
        self.stages: Counter[str] = Counter()
        open_rows = Inquiry.objects.filter(stage__in=sorted(OPEN_STAGES))
        self.open_phones = {p for p in open_rows.values_list("phone", flat=True) if p}
        self.open_emails = {e for e in open_rows.values_list("email", flat=True) if e}
        self.recent: list[tuple[int, int, int, str, str, int, int]] = []  # for duplicates
        self.repeat_pool: list[tuple[int, str, str, str, str, str]] = []  # settled people
        self.consented: set[tuple[int, str]] = set()
        self.room = self._program_room()
        # Ages at inquiry, skewed to the late twenties and thirties; sampled by index below.
        self.ages = [18 + int(self.rng.betavariate(1.6, 3.2) * 55) for _ in range(2000)]
        self._prepare_tables()

    # -- lookups built once

    def _program_room(self) -> dict[int, int]:
        """Free beds or slots per program, so scheduled inquiries hold real capacity."""
        room = {}
        held = Counter(CapacityHold.objects.active(self.now_dt).values_list("program_id", flat=True))
        for programs in self.ref.programs.values():
            for p in programs:
                occupied = p.census.occupied if hasattr(p, "census") else 0
                room[p.pk] = max(p.capacity - occupied - held[p.pk], 0)
        return room

    def _prepare_tables(self) -> None:
        ref = self.ref
        self.fac = ref.facilities
        self.fac_cum = _cum(ref.specs[f.pk].weight for f in self.fac)
        self.fac_zone = [zoneinfo.ZoneInfo(f.time_zone) for f in self.fac]
        self.fac_admit_line = [ref.sources[f"Admit line {f.city}"].pk for f in self.fac]
        self.fac_walk_in = [ref.sources[f"Walk-in {f.city}"].pk for f in self.fac]
        self.fac_sender = [f.neutral_sender_name for f in self.fac]
        self.coordinators = [ref.coordinators[f.pk] or [ref.users["coordinator"].pk] for f in self.fac]
        self.clinician = ref.users["clinician"].pk
        self.vob_user = ref.users["vob"].pk
        self.manager = ref.users["manager"].pk
        self.source_name = {s.pk: name for name, s in ref.sources.items()}
        src = ref.sources
        # (source id or None, channel, weight, external id prefix, touch style)
        plans: list[tuple[int | None, str, float, str, str]] = [
            (src["Website form"].pk, "web_form", 24, "wf", "web"),
            (src["Website chat"].pk, "chat", 8, "chat", "web"),
            (src["Paid search calls"].pk, "phone", 14, "ct", "paid_call"),
            (src["Organic search calls"].pk, "phone", 5, "ct", "call"),
            (src["Directory listing: CareFinder (example)"].pk, "phone", 5, "dir", "directory"),
            (src["Directory listing: CareFinder (example)"].pk, "web_form", 3, "dir", "directory"),
            (-1, "phone", 17, "", ""),  # the facility's admit line
            (src["Referral intake"].pk, "referral", 15, "", ""),
            (-2, "walk_in", 2, "", ""),  # walk-in at the facility
            (None, "phone", 3, "", ""),  # untracked call
        ]
        self.plans = plans
        self.plan_cum = _cum(p[2] for p in plans)
        self.campaigns: dict[int, list[tuple[int, str, int, int]]] = {}
        for source_id, rows in ref.campaigns.items():
            self.campaigns[source_id] = [
                (
                    c.pk,
                    c.utm_campaign,
                    _day_epoch(c.starts_on) if c.starts_on else 0,
                    _day_epoch(c.ends_on) + 86400 if c.ends_on else 1 << 40,
                )
                for c in rows
            ]
        self.partners = [(p.pk, p.organisation, p.contact_name) for p in ref.partners]
        self.payers = [(p.pk, p.name, p.is_self_pay) for p in ref.payers]
        self.payer_cum = _cum(w for *_x, w in PAYERS)
        self.self_pay = next(p for p in self.payers if p[2])
        self.sub_codes = [ref.substances[c] for c, _w in _SUBSTANCE_WEIGHTS if c in ref.substances]
        self.sub_cum = _cum(w for c, w in _SUBSTANCE_WEIGHTS if c in ref.substances)
        self.open_cum = _cum(w for _s, w in _OPEN_WEIGHTS)
        self.settled_cum = _cum(w for _s, w in _SETTLED_WEIGHTS)
        self.lost_cum = _cum(w for _r, w, _s in _LOST)
        self.hour_cum = _cum(_HOUR_WEIGHTS)
        self.programs: list[list[tuple[int, int, str, int, int, str]]] = [
            [
                (p.pk, p.level_of_care_id, p.gender, p.min_age, p.max_age or 200, p.setting)
                for p in ref.programs[f.pk]
            ]
            for f in self.fac
        ]
        self.fit_cache: dict[tuple[int, str, int], list[tuple[int, int, str, int, int, str]]] = {}

    # -- main loop

    def run(self, *, total: int, chunk_size: int, bulk: bool, progress: Progress | None) -> Counter[str]:
        """Generate ``total`` inquiries, writing every ``chunk_size`` of them.

        In ``bulk`` mode (PostgreSQL) everything is one transaction during which the bulk
        tables have no foreign keys or secondary indexes; they are rebuilt at the end.
        """
        counts: Counter[str] = Counter()
        with transaction.atomic() if bulk else nullcontext():
            with _bulk_tables(progress) if bulk else nullcontext():
                batch = _Batch()
                done = 0
                for day_times in self._arrivals(total):
                    for arrival in day_times:
                        forced = None
                        if total - done <= len(_ALL_STAGES) and done:
                            # Small runs still show every stage: the last arrivals fill the gaps.
                            missing = [s for s in _ALL_STAGES if not self.stages[s]]
                            if len(missing) >= total - done:
                                forced = missing[0]
                        self._inquiry(batch, arrival, forced)
                        done += 1
                        if len(batch.inquiries) >= chunk_size:
                            counts += self._flush(batch)
                            batch = _Batch()
                            if progress:
                                progress(f"{done:,} / {total:,} inquiries")
                counts += self._flush(batch)
        if bulk:
            with connection.cursor() as cursor:
                for model in _BULK_MODELS:
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        return counts

    def _flush(self, batch: _Batch) -> Counter[str]:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO off")
            counts = batch.write(self.sink)
            for model in (Person, Caller, CapacityHold, Inquiry):
                _sync_sequence(model)
        return counts

    def _arrivals(self, total: int) -> Iterable[list[tuple[int, int, int, int]]]:
        """Per day, sorted (epoch, facility index, local minute of day, local weekday)."""
        rng = self.rng
        rand = rng.random
        today = timezone.localdate(self.now_dt)
        days = [today - timedelta(days=HISTORY_DAYS - 1 - i) for i in range(HISTORY_DAYS)]
        weights = [(0.6 + 0.4 * i / HISTORY_DAYS) * _WEEKDAY_WEIGHTS[d.weekday()] for i, d in enumerate(days)]
        cum = _cum(weights)
        per_day = [0] * HISTORY_DAYS
        for _ in range(total):
            per_day[bisect.bisect(cum, rng.random() * cum[-1])] += 1
        offsets: dict[tuple[int, date], int] = {}
        latest = self.now - 90
        for d, n in zip(days, per_day, strict=True):
            arrivals = []
            for _ in range(n):
                fi = bisect.bisect(self.fac_cum, rng.random() * self.fac_cum[-1])
                key = (fi, d)
                if key not in offsets:
                    noon = datetime(d.year, d.month, d.day, 12, tzinfo=self.fac_zone[fi])
                    offsets[key] = _day_epoch(d) - int(noon.utcoffset().total_seconds())  # type: ignore[union-attr]
                hour = bisect.bisect(self.hour_cum, rng.random() * self.hour_cum[-1])
                minute_of_day = hour * 60 + int(rand() * 60)
                epoch = offsets[key] + minute_of_day * 60 + int(rand() * 60)
                if epoch > latest:
                    epoch = latest - int(rand() * 4 * 3600)
                    local = datetime.fromtimestamp(epoch, self.fac_zone[fi])
                    minute_of_day = local.hour * 60 + local.minute
                arrivals.append((epoch, fi, minute_of_day, d.weekday()))
            arrivals.sort()
            yield arrivals

    # -- one inquiry

    def _inquiry(self, b: _Batch, arrival: tuple[int, int, int, int], forced: str | None) -> None:
        """One inquiry and its rows; one linear story reads better than ten small helpers."""
        rng = self.rng
        rand = rng.random
        created, fi, minute_of_day, weekday = arrival
        facility_id = self.fac[fi].pk
        iid = self.inquiry_id
        self.inquiry_id += 1
        age = self.now - created

        # attribution
        source_id, channel, _w, prefix, style = self.plans[
            bisect.bisect(self.plan_cum, rand() * self.plan_cum[-1])
        ]
        if source_id == -1:
            source_id = self.fac_admit_line[fi]
        elif source_id == -2:
            source_id = self.fac_walk_in[fi]
        campaign_id, utm_campaign = None, ""
        if source_id in self.campaigns and rand() < 0.75:
            live = [c for c in self.campaigns[source_id] if c[2] <= created < c[3]]
            if live:
                campaign_id, utm_campaign = live[int(rand() * len(live))][:2]
        partner = self.partners[int(rand() * len(self.partners))] if channel == "referral" else None

        # outcome
        business = weekday < 5 and 8 * 60 <= minute_of_day < 19 * 60
        answered_live = channel == "walk_in" or (channel == "phone" and rand() < (0.75 if business else 0.45))
        stage, lost, last_working = self._outcome(age, forced)
        if stage == S.DUPLICATE and not self.recent:
            stage, lost, last_working = S.INVALID, "", S.NEW
        if lost == L.UNREACHABLE:
            answered_live = False
        path = self._path(stage, last_working, answered_live, lost)

        # who
        duplicate_of = None
        repeat = None
        if stage == S.DUPLICATE:
            original = self.recent[-1 - int(rand() * min(len(self.recent), 50))]
            duplicate_of = original[0]
            person_id, phone, email = original[1], original[3], original[4]
            state_tz = None
            first = last = ""
            gender = ""
        elif self.repeat_pool and rand() < 0.06:
            repeat = self.repeat_pool.pop(int(rand() * len(self.repeat_pool)))
            person_id, phone, email, first, last, gender = repeat
            state_tz = None
        else:
            person_id = self.person_id
            self.person_id += 1
            first = _FIRST_NAMES[int(rand() * len(_FIRST_NAMES))]
            last = _LAST_NAMES[int(rand() * len(_LAST_NAMES))]
            phone, state, tz = _person_phone(person_id)
            email = f"{first}.{last}.{person_id}@example.com".lower()
            state_tz = (state, tz)
            r = rand()
            gender = "female" if r < 0.44 else "male" if r < 0.97 else "nonbinary"
        is_open = stage in OPEN_STAGES
        inquiry_phone = phone if rand() < 0.96 or channel == "phone" else ""
        inquiry_email = email if (channel in ("web_form", "chat") and rand() < 0.9) or rand() < 0.3 else ""
        if is_open:
            if inquiry_phone in self.open_phones:
                inquiry_phone = ""
            if inquiry_email in self.open_emails:
                inquiry_email = ""
            if inquiry_phone:
                self.open_phones.add(inquiry_phone)
            if inquiry_email:
                self.open_emails.add(inquiry_email)

        age_years = self.ages[int(rand() * len(self.ages))]
        zone = self.fac_zone[fi]
        if state_tz is not None:
            dob = None
            if rand() < 0.7:
                dob = _dt(created - age_years * 31_557_600 - int(rand() * 31_000_000)).date()
            contacted = last_working not in (S.NEW, S.CONTACT_ATTEMPTED) or stage in (S.CRISIS_ROUTED,)
            b.persons.append(
                (
                    person_id,
                    first,
                    last,
                    dob,
                    gender if contacted or rand() < 0.3 else "",
                    phone,
                    email,
                    "",
                    _CITIES[state_tz[0]] if rand() < 0.5 else "",
                    state_tz[0],
                    "",
                    state_tz[1],
                    "es" if rand() < 0.07 else "en",
                    (rand() < 0.7) if contacted else None,
                    (rand() < 0.8) if contacted else None,
                    _dt(created),
                )
            )

        # caller
        caller_id = None
        if partner is not None and rand() < 0.8:
            caller_id = self._caller(b, "professional", "referral coordinator", partner[2], partner[1])
        elif channel in ("phone", "walk_in", "chat") and rand() < 0.3:
            detail = _FAMILY[int(rand() * len(_FAMILY))]
            name = f"{_FIRST_NAMES[int(rand() * len(_FIRST_NAMES))]} {last or 'Family'}"
            caller_id = self._caller(b, "family", detail, name, "")

        owner = None
        coordinators = self.coordinators[fi]
        if stage not in (S.NEW, S.INVALID, S.DUPLICATE) or rand() < 0.9:
            owner = coordinators[int(rand() * len(coordinators))]

        # timestamps along the path, squeezed to end before now
        times = self._times(path, created, minute_of_day, business, lost)
        stamps: list[int | None] = [None] * len(_STAMP_FIELDS)
        for s, t in zip(path[1:], times[1:], strict=True):
            slot = _STAMP_SLOT[s]
            if stamps[slot] is None:
                stamps[slot] = t
        final_t = times[-1]

        # programs
        approved_program = approved_level = admitted_program = None
        admission_date = None
        hold_id = None
        reached = set(path)
        if S.APPROVED in reached:
            fit = self._fitting(fi, gender, age_years)
            prog = fit[int(rand() * len(fit))]
            if stage == S.ADMISSION_SCHEDULED:
                roomy = [p for p in fit if self.room[p[0]] > 0]
                if roomy:
                    prog = roomy[int(rand() * len(roomy))]
                    self.room[prog[0]] -= 1
                    hold_id = self.hold_id
                    self.hold_id += 1
                    today = timezone.localdate(self.now_dt)
                    admission_date = today + timedelta(days=int(rand() * 7))
                    until = timezone.make_aware(
                        datetime.combine(admission_date + timedelta(days=1), datetime.min.time())
                    )
                    b.holds.append(
                        (
                            hold_id,
                            prog[0],
                            f"inquiry:{iid}",
                            datetime.fromtimestamp(final_t, zone).date(),
                            until,
                            _dt(final_t),
                            None,
                            "",
                        )
                    )
                else:  # no bed or slot free: still approved, waiting
                    path = path[:-1]
                    times = times[:-1]
                    stamps[_STAMP_SLOT[S.ADMISSION_SCHEDULED]] = None
                    stage = S.APPROVED
                    final_t = times[-1]
            approved_program, approved_level = prog[0], prog[1]
            if S.ADMISSION_SCHEDULED in path and admission_date is None:
                # Admitted, or a no-show: the step after scheduling happens on or after the day.
                after = times[path.index(S.ADMISSION_SCHEDULED) + 1]
                admission_date = datetime.fromtimestamp(after, zone).date()
            if stage == S.ADMITTED:
                admitted_program = approved_program
                if rand() < 0.08 and len(fit) > 1:
                    admitted_program = fit[int(rand() * len(fit))][0]
        program_of_interest = None
        if channel == "web_form" and rand() < 0.3:
            options = self.programs[fi]
            program_of_interest = options[int(rand() * len(options))][0]

        lost_reason = lost if stage == S.CLOSED else ""
        referred_out_to = (
            _REFERRED_OUT_TO[int(rand() * len(_REFERRED_OUT_TO))] if stage == S.REFERRED_OUT else ""
        )
        close_note = ""
        if stage == S.INVALID:
            close_note = (
                _INVALID_NOTES[1]
                if S.CONTACT_ATTEMPTED in reached
                else _INVALID_NOTES[int(rand() * len(_INVALID_NOTES))]
            )
        elif stage == S.CRISIS_ROUTED:
            close_note = _CRISIS_NOTES[int(rand() * len(_CRISIS_NOTES))]
        red_flag = stage == S.CRISIS_ROUTED or (lost == L.NEEDS_OTHER_LEVEL and rand() < 0.5) or rand() < 0.02
        external_id = f"{prefix}-{iid:08d}" if prefix else ""
        message = _WEB_MESSAGES[int(rand() * len(_WEB_MESSAGES))] if channel in ("web_form", "chat") else ""

        b.inquiries.append(
            (
                iid,
                person_id,
                caller_id,
                facility_id,
                channel,
                source_id,
                campaign_id,
                partner[0] if partner else None,
                external_id,
                inquiry_phone,
                inquiry_email,
                message,
                program_of_interest,
                owner,
                _dt(created) if owner else None,
                stage,
                _dt(final_t),
                _dt(created),
                *[_dt(t) if t is not None else None for t in stamps],
                approved_level,
                approved_program,
                admission_date,
                hold_id,
                admitted_program,
                lost_reason,
                referred_out_to,
                close_note,
                duplicate_of,
                red_flag,
            )
        )
        self.stages[stage] += 1

        # substances
        if stage != S.INVALID:
            n = 1 if rand() < 0.58 else 2 if rand() < 0.75 else 3
            picked = {
                self.sub_codes[bisect.bisect(self.sub_cum, rand() * self.sub_cum[-1])] for _ in range(n)
            }
            b.substances.extend((iid, s) for s in picked)

        # touches
        source_label = self.source_name.get(source_id, "") if source_id else ""
        b.touches.append(
            self._touch(iid, created, channel, source_id, campaign_id, partner, style, utm_campaign)
        )
        logged_by = owner if channel in ("phone", "walk_in") else None
        self._event(
            b,
            iid,
            created,
            "created",
            logged_by,
            "lead api" if style == "web" else "",
            data=("created", channel, source_label),
        )
        if owner:
            self._event(b, iid, created, "assigned", None, "routing", data=("assigned", owner))
        if rand() < 0.2 and final_t - created > 600:
            extra = 1 if rand() < 0.75 else 2
            for k in range(extra):
                at = created + int((final_t - created) * (k + 1 + rand()) / (extra + 2))
                plan = self.plans[int(rand() * 6)]
                b.touches.append(self._touch(iid, at, plan[1], plan[0], None, None, plan[4], ""))
                self._event(
                    b,
                    iid,
                    at,
                    "touch",
                    None,
                    "lead api",
                    data=("touch", plan[1], self.source_name.get(plan[0] or 0, "")),
                )

        # the path: calls and stage changes
        actor = owner or self.manager
        previous = S.NEW
        for s, t in zip(path[1:], times[1:], strict=True):
            if s == S.CONTACT_ATTEMPTED:
                self._call(b, iid, t, actor, "outbound", "voicemail" if rand() < 0.5 else "no_answer")
            elif s == S.CONTACTED:
                direction = "inbound" if previous == S.NEW else "outbound"
                self._call(b, iid, t, actor, direction, "connected")
            elif s == S.INVALID and previous == S.CONTACT_ATTEMPTED:
                self._call(b, iid, t, actor, "outbound", "wrong_number")
            elif s == S.CLOSED and lost == L.UNREACHABLE:
                start = times[path.index(S.CONTACT_ATTEMPTED)]
                for k in range(1 + int(rand() * 2)):
                    at = start + (t - start) * (k + 1) // 4
                    self._call(b, iid, at, actor, "outbound", "no_answer")
            elif s == S.ADMISSION_SCHEDULED and hold_id is not None:
                self._event(b, iid, t, "capacity_held", actor, "", data=("held", approved_program, hold_id))
            step_actor = self.clinician if previous == S.CLINICAL_REVIEW and s == S.APPROVED else actor
            self._event(
                b,
                iid,
                t,
                "stage_changed",
                step_actor,
                "",
                data=(
                    "stage",
                    str(previous),
                    str(s),
                    close_note if s in (S.INVALID, S.CRISIS_ROUTED) else "",
                    lost_reason if s == S.CLOSED else "",
                    referred_out_to if s == S.REFERRED_OUT else "",
                ),
            )
            previous = s

        # insurance
        if S.PRESCREENED in reached or (channel == "web_form" and rand() < 0.25):
            self._insurance(b, iid, path, times, stamps, lost, first, last, created)

        # consent
        if phone and (
            (channel == "web_form" and rand() < 0.55)
            or stage == S.NURTURE
            or (channel == "phone" and S.CONTACTED in reached and rand() < 0.25)
        ):
            key = (person_id, "sms")
            if key not in self.consented:
                self.consented.add(key)
                web = channel == "web_form"
                captured = created if web else (stamps[_STAMP_SLOT[S.CONTACTED]] or created)
                revoked = captured + int(rand() * 30 * 86400) if rand() < 0.05 else None
                if revoked is not None and revoked >= self.now:
                    revoked = None
                if revoked is not None:
                    self.consented.discard(key)
                b.consents.append(
                    (
                        person_id,
                        "sms",
                        phone,
                        "web form" if web else "admit line call",
                        _CONSENT_TEXT.format(sender=self.fac_sender[fi]),
                        _dt(captured),
                        None if web else actor,
                        f"192.0.2.{1 + int(rand() * 250)}" if web else None,
                        "https://www.example.org/contact" if web else "",
                        _dt(revoked) if revoked else None,
                        "STOP reply" if revoked else "",
                    )
                )
            if (
                email
                and channel == "web_form"
                and rand() < 0.3
                and (person_id, "email") not in self.consented
            ):
                self.consented.add((person_id, "email"))
                b.consents.append(
                    (
                        person_id,
                        "email",
                        email,
                        "web form",
                        _EMAIL_CONSENT_TEXT.format(sender=self.fac_sender[fi]),
                        _dt(created),
                        None,
                        f"192.0.2.{1 + int(rand() * 250)}",
                        "https://www.example.org/contact",
                        None,
                        "",
                    )
                )

        # follow-ups for inquiries nobody has tried yet
        if stage == S.NEW:
            self._followups(b, iid, created)

        # bookkeeping for duplicates and returning people
        if stage != S.DUPLICATE:
            self.recent.append(
                (iid, person_id, created, inquiry_phone or phone, inquiry_email or email, fi, 0)
            )
            if len(self.recent) > 200:
                del self.recent[:100]
        if not is_open and stage not in (S.DUPLICATE, S.INVALID, S.ADMITTED) and first:
            entry = (person_id, phone, email, first, last, gender)
            if len(self.repeat_pool) < 5000:
                self.repeat_pool.append(entry)
            else:
                self.repeat_pool[int(rand() * 5000)] = entry
        elif repeat is not None and not is_open:
            self.repeat_pool.append(repeat)

    def _outcome(self, age: int, forced: str | None) -> tuple[str, str, str]:
        """Final stage, lost reason and the last working stage before an exit."""
        rand = self.rng.random
        if forced is not None:
            stage = forced
        else:
            days = age / 86400
            p_open = 0.9 if days < 1 else 0.75 * math.exp(-(days - 1) / 10) + 0.02 * (days < 60)
            if rand() < p_open:
                stage = _OPEN_WEIGHTS[bisect.bisect(self.open_cum, rand() * self.open_cum[-1])][0]
            else:
                stage = _SETTLED_WEIGHTS[bisect.bisect(self.settled_cum, rand() * self.settled_cum[-1])][0]
        if stage in OPEN_STAGES or stage == S.ADMITTED:
            return stage, "", stage
        if stage == S.CLOSED:
            reason, _w, froms = _LOST[bisect.bisect(self.lost_cum, rand() * self.lost_cum[-1])]
            return stage, reason, froms[int(rand() * len(froms))]
        if stage == S.DUPLICATE:
            return stage, "", S.NEW
        if stage == S.INVALID:
            return stage, "", S.CONTACT_ATTEMPTED if rand() < 0.3 else S.NEW
        if stage == S.CRISIS_ROUTED:
            return stage, "", S.CONTACTED if rand() < 0.7 else S.PRESCREENED
        if stage == S.NURTURE:
            return stage, "", S.CONTACTED if rand() < 0.6 else S.PRESCREENED
        # referred out
        froms = (
            S.CONTACTED,
            S.PRESCREENED,
            S.PRESCREENED,
            S.INSURANCE_VERIFICATION,
            S.CLINICAL_REVIEW,
        )
        return stage, "", froms[int(rand() * len(froms))]

    def _path(self, stage: str, last: str, answered_live: bool, lost: str) -> list[str]:
        """The stages visited, in order, following the legal transitions."""
        rand = self.rng.random
        path = [S.NEW]
        target = S.ADMITTED if stage == S.ADMITTED else last
        order = (
            S.CONTACT_ATTEMPTED,
            S.CONTACTED,
            S.PRESCREENED,
            S.INSURANCE_VERIFICATION,
            S.CLINICAL_REVIEW,
            S.APPROVED,
            S.ADMISSION_SCHEDULED,
            S.ADMITTED,
        )
        depth = order.index(target) if target != S.NEW else -1
        if depth >= 0:
            if not answered_live or target == S.CONTACT_ATTEMPTED:
                path.append(S.CONTACT_ATTEMPTED)
            if depth >= 1:
                path.append(S.CONTACTED)
            if depth >= 2:
                path.append(S.PRESCREENED)
            if depth >= 3:
                r = rand()
                if target == S.INSURANCE_VERIFICATION:
                    path += (
                        [S.CLINICAL_REVIEW, S.INSURANCE_VERIFICATION]
                        if r < 0.15
                        else [S.INSURANCE_VERIFICATION]
                    )
                elif target == S.CLINICAL_REVIEW:
                    path += [S.INSURANCE_VERIFICATION, S.CLINICAL_REVIEW] if r < 0.7 else [S.CLINICAL_REVIEW]
                elif r < 0.55:
                    path += [S.INSURANCE_VERIFICATION, S.CLINICAL_REVIEW, S.APPROVED]
                elif r < 0.85:
                    path += [S.INSURANCE_VERIFICATION, S.APPROVED]
                else:
                    path += [S.CLINICAL_REVIEW, S.INSURANCE_VERIFICATION, S.APPROVED]
            if depth >= 6:
                path.append(S.ADMISSION_SCHEDULED)
            if depth >= 7:
                path.append(S.ADMITTED)
        if stage != target:
            path.append(stage)
        return path

    def _times(
        self, path: list[str], created: int, minute_of_day: int, business: bool, lost: str
    ) -> list[int]:
        """Epoch seconds for each stage on the path, increasing, all before now."""
        rng = self.rng
        rand = rng.random
        gaps: list[int] = []
        previous = S.NEW
        for s in path[1:]:
            if s == S.CONTACT_ATTEMPTED:
                r = rand()
                speeds = _SPEED_BUSINESS if business else _SPEED_AFTER_HOURS
                _share, low, high = next(b for b in speeds if r < b[0])
                if high:
                    gap = low + int(rand() * (high - low))
                else:  # nobody picked it up overnight: next morning, once the shift starts
                    gap = ((8 * 60 - minute_of_day) % 1440) * 60 + int(rand() * 5400)
            elif s == S.CONTACTED and previous == S.NEW:
                gap = 15 + int(rand() * 225)
            elif s == S.CLOSED and lost == L.UNREACHABLE:
                gap = 3 * 86400 + int(rand() * 11 * 86400)
            else:
                median, sigma, floor, cap = _GAPS[s]
                if s == S.CLINICAL_REVIEW and previous == S.PRESCREENED:
                    median = 30
                gap = int(math.exp(math.log(median * 60) + sigma * rng.gauss(0.0, 1.0)))
                if s in (S.CLINICAL_REVIEW, S.APPROVED) and previous == S.INSURANCE_VERIFICATION:
                    weekday = ((created + sum(gaps)) // 86400 + 3) % 7
                    gap = int(gap * (1.8 if weekday >= 5 else 1.0))
                gap = min(max(gap, floor), cap)
            gaps.append(gap)
            previous = s
        total = sum(gaps)
        room = self.now - 60 - created
        if total > room:
            # Squeeze the story into the time that has passed, keeping every step >= 1 s.
            factor = max(room - len(gaps), 0) / total
            gaps = [1 + int(g * factor) for g in gaps]
        times = [created]
        for g in gaps:
            times.append(times[-1] + g)
        return times

    def _fitting(self, fi: int, gender: str, age: int) -> list[tuple[int, int, str, int, int, str]]:
        key = (fi, gender, age)
        found = self.fit_cache.get(key)
        if found is None:
            who = {"female": Program.Gender.WOMEN, "male": Program.Gender.MEN}.get(gender, "")
            found = [
                p
                for p in self.programs[fi]
                if p[3] <= age <= p[4] and (p[2] == Program.Gender.ANY or p[2] == who)
            ] or self.programs[fi]
            self.fit_cache[key] = found
        return found

    def _caller(self, b: _Batch, relationship: str, detail: str, name: str, organisation: str) -> int:
        caller_id = self.caller_id
        self.caller_id += 1
        email = f"caller{caller_id}@example.org" if self.rng.random() < 0.4 else ""
        b.callers.append(
            (caller_id, relationship, detail, name, _caller_phone(caller_id), email, organisation)
        )
        return caller_id

    def _touch(
        self,
        iid: int,
        at: int,
        channel: str,
        source_id: int | None,
        campaign_id: int | None,
        partner: tuple[int, str, str] | None,
        style: str,
        utm_campaign: str,
    ) -> tuple[Any, ...]:
        rand = self.rng.random
        utm_source = utm_medium = gclid = landing = referrer = tracking = ""
        if style == "web":
            paid = campaign_id is not None
            utm_source = "search-engine" if paid else ""
            utm_medium = "cpc" if paid else ""
            gclid = f"demo-{iid:x}-{int(rand() * 1e9):x}" if paid and rand() < 0.8 else ""
            landing = "https://www.example.org/" + ("insurance" if rand() < 0.3 else "contact")
            referrer = "https://search.example.com/" if rand() < 0.6 else ""
        elif style in ("paid_call", "call", "directory"):
            tracking = f"CT{iid:09d}"
            utm_source = "directory" if style == "directory" else "search-engine"
            utm_medium = "cpc" if style == "paid_call" else "organic" if style == "call" else "listing"
        return (
            iid,
            _dt(at),
            channel,
            source_id,
            campaign_id,
            partner[0] if partner else None,
            utm_source,
            utm_medium,
            utm_campaign if campaign_id else "",
            "",
            "",
            gclid,
            landing,
            referrer,
            tracking,
        )

    def _json(self, key: tuple[Any, ...]) -> str:
        found = self.json_cache.get(key)
        if found is None:
            kind = key[0]
            if kind == "created" or kind == "touch":
                value: dict[str, Any] = {"channel": key[1], "source": key[2]}
            elif kind == "assigned":
                value = {"to": key[1], "how": "round robin"}
            elif kind == "held":
                value = {"program": key[1], "hold": key[2]}
            elif kind == "stage":
                value = {
                    "from": key[1],
                    "to": key[2],
                    "reason": key[3],
                    "lost_reason": key[4],
                    "destination": key[5],
                }
            elif kind == "insurance":
                value = {"vob_status": key[1]}
            elif kind == "followup":
                value = {"kind": key[1], "alert": True}
            else:
                value = {}
            found = json.dumps(value)
            if len(self.json_cache) < 10_000:
                self.json_cache[key] = found
        return found

    def _event(
        self,
        b: _Batch,
        iid: int,
        at: int,
        kind: str,
        actor: int | None,
        label: str,
        *,
        data: tuple[Any, ...] = ("",),
        body: str = "",
    ) -> None:
        b.events.append((iid, _dt(at), kind, actor, label, "", "", body, self._json(data)))

    def _call(self, b: _Batch, iid: int, at: int, actor: int, direction: str, outcome: str) -> None:
        b.events.append((iid, _dt(at), "call", actor, "", direction, outcome, "", "{}"))

    def _insurance(
        self,
        b: _Batch,
        iid: int,
        path: list[str],
        times: list[int],
        stamps: list[int | None],
        lost: str,
        first: str,
        last: str,
        created: int,
    ) -> None:
        rng = self.rng
        rand = rng.random
        if lost == L.CANNOT_AFFORD or rand() < 0.05:
            payer = self.self_pay
        else:
            payer = self.payers[bisect.bisect(self.payer_cum, rand() * self.payer_cum[-1])]
        self_pay = payer[2]
        status = InsurancePolicy.VobStatus.NOT_REQUESTED
        requested = completed = None
        in_network = authorization = None
        deductible = oop = None
        notes = ""
        if S.INSURANCE_VERIFICATION in path:
            at = path.index(S.INSURANCE_VERIFICATION)
            requested = times[at]
            if at == len(path) - 1:  # waiting in the VOB queue now
                status = (
                    InsurancePolicy.VobStatus.REQUESTED
                    if rand() < 0.6
                    else InsurancePolicy.VobStatus.IN_PROGRESS
                )
            else:
                completed = times[at + 1] - min(600, (times[at + 1] - times[at]) // 2)
                if self_pay:
                    status = InsurancePolicy.VobStatus.SELF_PAY
                elif lost in _INSURANCE_LOSSES:
                    status = InsurancePolicy.VobStatus.NOT_VIABLE
                    in_network = lost != L.OUT_OF_NETWORK and rand() < 0.5
                    notes = "Verification complete."
                else:
                    status = InsurancePolicy.VobStatus.VIABLE
                    in_network = rand() < 0.85
                    authorization = rand() < 0.6
                    deductible = f"{int(rand() * 60) * 100}.00"
                    oop = f"{int(rand() * 90) * 100}.00"
                    notes = "Verification complete."
                self._event(
                    b,
                    iid,
                    completed,
                    "insurance",
                    self.vob_user,
                    "",
                    data=("insurance", str(status)),
                )
        member = "" if self_pay else f"XD{int(rand() * 1e9):09d}"
        group = "" if self_pay else f"G{int(rand() * 1e5):05d}"
        subscriber_self = rand() < 0.7
        b.policies.append(
            (
                iid,
                "primary",
                payer[0],
                payer[1],
                member,
                group,
                ""
                if self_pay
                else (f"{first} {last}".strip() if subscriber_self or not last else f"Pat {last}"),
                None,
                "" if self_pay else ("self" if subscriber_self else "parent" if rand() < 0.5 else "spouse"),
                status,
                _dt(requested) if requested else None,
                _dt(completed) if completed else None,
                in_network,
                deductible,
                oop,
                authorization,
                notes,
            )
        )
        if not self_pay and rand() < 0.04:
            other = self.payers[int(rand() * (len(self.payers) - 1))]
            if other[0] != payer[0] and not other[2]:
                b.policies.append(
                    (
                        iid,
                        "secondary",
                        other[0],
                        other[1],
                        f"XD{int(rand() * 1e9):09d}",
                        "",
                        "",
                        None,
                        "spouse",
                        InsurancePolicy.VobStatus.NOT_REQUESTED,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        "",
                    )
                )

    def _followups(self, b: _Batch, iid: int, created: int) -> None:
        for kind, offset, key in NEW_INQUIRY_CADENCE:
            due = created + int(offset.total_seconds())
            if due <= self.now - 60:
                # The dispatcher already ran it: an alert note on the timeline, the row done.
                finished = min(due + 20, self.now - 30)
                b.followups.append(
                    (
                        iid,
                        kind,
                        _dt(due),
                        FollowUp.State.DONE,
                        f"inquiry:{iid}:{key}",
                        1,
                        None,
                        _dt(created),
                        _dt(finished),
                        "alert posted",
                    )
                )
                self._event(
                    b,
                    iid,
                    finished,
                    "note",
                    None,
                    "follow-up",
                    data=("followup", str(kind)),
                    body=alert_text(kind=kind, minutes=(finished - created) // 60),
                )
            else:
                b.followups.append(
                    (
                        iid,
                        kind,
                        _dt(due),
                        FollowUp.State.SCHEDULED,
                        f"inquiry:{iid}:{key}",
                        0,
                        None,
                        _dt(created),
                        None,
                        "",
                    )
                )


def _day_epoch(d: date) -> int:
    """Seconds from the epoch to midnight UTC of ``d``."""
    return (d.toordinal() - 719163) * 86400
