"""The demo center's reference data and the shapes of its synthetic history (no I/O)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from admissions.models import (
    LeadSource,
    ReferralPartner,
)
from admissions.pipeline import STAGE_TIMESTAMP_FIELD, LostReason, Stage
from crm.roles import Role
from programs.models import Program

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


ANY, WOMEN, MEN = Program.Gender.ANY, Program.Gender.WOMEN, Program.Gender.MEN

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
            ("Medical Detox", "3.7-WM", 18, ANY, 18, None, ("co-occurring", "mat"), "commercial"),
            ("Women's Detox", "3.7-WM", 8, WOMEN, 18, None, ("women", "mat", "pregnancy"), "commercial"),
            (
                "Hospital-Level Withdrawal",
                "4-WM",
                6,
                ANY,
                18,
                None,
                ("co-occurring", "medical"),
                "commercial",
            ),
            ("Residential Treatment", "3.5", 40, ANY, 18, None, ("trauma",), "commercial"),
            ("Women's Residential", "3.5", 20, WOMEN, 18, None, ("women", "trauma"), "commercial"),
            ("Men's Residential", "3.5", 24, MEN, 18, None, ("men",), "commercial"),
            ("Young Adult Residential", "3.5", 12, ANY, 18, 26, ("young-adult",), "commercial"),
            (
                "Co-occurring Residential",
                "3.7",
                16,
                ANY,
                18,
                None,
                ("co-occurring",),
                "commercial",
            ),
            (
                "Licensed Professionals Program",
                "3.3",
                10,
                ANY,
                21,
                None,
                ("professionals",),
                "commercial",
            ),
            ("Partial Hospitalization", "2.5", 30, ANY, 18, None, ("co-occurring",), "commercial"),
            (
                "Co-occurring PHP",
                "2.5",
                15,
                ANY,
                18,
                None,
                ("co-occurring", "trauma"),
                "commercial",
            ),
            ("Day IOP", "2.1", 30, ANY, 18, None, (), "medicaid"),
            ("Evening IOP", "2.1", 30, ANY, 18, None, ("professionals",), "medicaid"),
            ("Young Adult IOP", "2.1", 16, ANY, 18, 26, ("young-adult",), "medicaid"),
            ("Outpatient Therapy", "1", 60, ANY, 18, None, (), "medicaid"),
            ("MAT Outpatient", "1-WM", 50, ANY, 18, None, ("mat",), "medicaid"),
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
                ANY,
                18,
                None,
                ("mat", "co-occurring"),
                "commercial",
            ),
            ("Residential", "3.5", 28, ANY, 18, None, ("trauma", "veterans"), "commercial"),
            ("Women's Residential", "3.5", 14, WOMEN, 18, None, ("women", "trauma"), "commercial"),
            (
                "Pregnant and Postpartum Residential",
                "3.5",
                8,
                WOMEN,
                18,
                None,
                ("pregnancy", "women", "mat"),
                "medicaid",
            ),
            ("Transitional Residential", "3.1", 16, ANY, 18, None, ("lgbtq",), "commercial"),
            (
                "High-Intensity Outpatient",
                "2.5",
                20,
                ANY,
                18,
                None,
                ("co-occurring",),
                "commercial",
            ),
            (
                "Medically Managed Intensive Outpatient",
                "2.7",
                12,
                ANY,
                18,
                None,
                ("mat",),
                "commercial",
            ),
            ("Intensive Outpatient", "2.1", 24, ANY, 18, None, (), "medicaid"),
            ("Professionals IOP", "2.1", 12, ANY, 21, None, ("professionals",), "commercial"),
            ("Outpatient Therapy", "1.5", 50, ANY, 18, None, ("lgbtq",), "medicaid"),
            ("Medically Managed Outpatient", "1.7", 40, ANY, 18, None, ("mat",), "medicaid"),
            ("Recovery Monitoring", "1.0", 80, ANY, 18, None, (), "medicaid"),
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
            ("Detox", "3.7-WM", 10, ANY, 18, None, ("mat",), "commercial"),
            ("Social Detox", "3.2-WM", 8, ANY, 18, None, (), "commercial"),
            ("Residential", "3.5", 24, ANY, 18, None, ("spanish",), "commercial"),
            ("Men's Residential", "3.5", 12, MEN, 18, None, ("men", "veterans"), "commercial"),
            ("Partial Hospitalization", "2.5", 20, ANY, 18, None, ("co-occurring",), "commercial"),
            ("Intensive Outpatient", "2.1", 24, ANY, 18, None, ("spanish",), "medicaid"),
            ("Evening IOP", "2.1", 18, ANY, 18, None, ("professionals",), "commercial"),
            ("Outpatient", "1", 40, ANY, 18, None, (), "medicaid"),
            ("Older Adult Outpatient", "1", 20, ANY, 55, None, ("older-adults",), "medicare"),
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
PAYER_GROUPS = {
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
EXTRA_COORDINATOR_NAMES = (
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

FIRST_NAMES = (
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
LAST_NAMES = (
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
AREA_CODES: tuple[tuple[str, str, str], ...] = tuple(
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
LINES: tuple[str, ...] = tuple(
    f"{n:04d}" for n in itertools.chain(range(100, 200), range(0, 100), range(200, 10_000))
)
PHONE_SPACE = len(AREA_CODES) * len(LINES)
CITIES = {
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


def person_phone(person_id: int) -> tuple[str, str, str]:
    """A 555 number derived from the person id (unique up to ``PHONE_SPACE``), state, zone."""
    n = person_id % PHONE_SPACE
    area, state, tz = AREA_CODES[n % len(AREA_CODES)]
    return f"+1{area}555{LINES[n // len(AREA_CODES)]}", state, tz


def caller_phone(caller_id: int) -> str:
    """A 555 number for a caller, drawn from the top of the exchange to stay clear of people."""
    n = caller_id % PHONE_SPACE
    area = AREA_CODES[(n * 7) % len(AREA_CODES)][0]
    return f"+1{area}555{LINES[-1 - (n // len(AREA_CODES)) % 5000]}"


# (code, weight) of substances named at intake
SUBSTANCE_WEIGHTS = (
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
WEB_MESSAGES = (
    "Please call me back about options.",
    "Looking for help for a family member.",
    "What does my insurance cover?",
    "Can someone call me after 5pm?",
    "I would like to talk to someone today.",
    "Do you have openings this week?",
    "",
)
CRISIS_REFERRAL = "County crisis stabilization unit (example)"
# A crisis older than this has been reviewed by a clinician and referred on (seconds).
CRISIS_REVIEWED_AFTER = 2 * 86400
REFERRED_OUT_TO = (
    "Adolescent program (outside network)",
    "Psychiatric inpatient unit (example)",
    CRISIS_REFERRAL,
    "Outpatient provider closer to home (example)",
    "Medicaid residential program (example)",
    "Hospital-based medical detox (example)",
    "Eating disorder program (example)",
)
INVALID_NOTES = (
    "Spam submission",
    "Wrong number",
    "Job seeker",
    "Vendor solicitation",
    "Test submission",
)
FAMILY = ("mother", "father", "spouse", "partner", "sister", "brother", "daughter", "son")
CONSENT_TEXT = (
    "I agree that {sender} may call and text me about my inquiry at the number I gave, "
    "including with automated technology. Consent is not a condition of any service. "
    "Message and data rates may apply. Reply STOP to opt out."
)
EMAIL_CONSENT_TEXT = "I agree that {sender} may email me about my inquiry. I can unsubscribe at any time."

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


ALL_STAGES: tuple[str, ...] = tuple(Stage.values)
OPEN_WEIGHTS = (
    (S.NEW, 10),
    (S.CONTACT_ATTEMPTED, 26),
    (S.CONTACTED, 16),
    (S.PRESCREENED, 12),
    (S.INSURANCE_VERIFICATION, 13),
    (S.CLINICAL_REVIEW, 8),
    (S.APPROVED, 7),
    (S.ADMISSION_SCHEDULED, 8),
)
SETTLED_WEIGHTS = (
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
LOST: tuple[tuple[str, float, tuple[str, ...]], ...] = (
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
INSURANCE_LOSSES = frozenset({L.OUT_OF_NETWORK, L.NOT_COVERED, L.AUTH_DENIED})
STAMP_FIELDS = (
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
STAMP_SLOT = {stage: STAMP_FIELDS.index(f) for stage, f in STAGE_TIMESTAMP_FIELD.items()}
# Typical gap before reaching a stage: (median minutes, log-normal sigma, floor s, cap s)
GAPS: dict[str, tuple[float, float, int, int]] = {
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
SPEED_BUSINESS = (
    (0.66, 20, 300),
    (0.9, 300, 1800),
    (0.98, 1800, 3 * 3600),
    (1.0, 3 * 3600, 86400),
)
SPEED_AFTER_HOURS = ((0.35, 30, 300), (0.65, 300, 3600), (0.85, 3600, 8 * 3600), (1.0, 0, 0))
HISTORY_DAYS = 548  # 18 months
# Typical days a person stays, by setting: admissions within it still occupy a bed or slot.
LENGTH_OF_STAY_DAYS = {"withdrawal": 6, "residential": 30, "php": 21, "iop": 42, "op": 90}
HOUR_WEIGHTS = (
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
WEEKDAY_WEIGHTS = (1.0, 1.0, 0.97, 0.95, 0.9, 0.72, 0.7)


def cumulative(weights: Iterable[float]) -> list[float]:
    return list(itertools.accumulate(weights))
