"""One row of an import file, read into the values an inquiry needs, or refused with reasons.

Normalisation is the lead API's and intake's (``admissions.normalise``): a phone number or email
address is stored the same way whichever door it came in by. The messages name the problem,
never the value (a refusal report holds no health information).
"""

from __future__ import annotations

import functools
import hashlib
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.utils import timezone

from admissions.imports.columns import DATE_FIELDS, PRESETS
from admissions.imports.readers import Value
from admissions.models import Caller, Campaign, LeadSource
from admissions.normalise import email_normalise, phone_normalise, text_clean
from admissions.pipeline import OPEN_STAGES, STAGE_TIMESTAMP_FIELD, LostReason, Stage
from crm import places


class Reason:
    """The reasons a row is refused, one sentence each (tests and the report use these)."""

    NAME_MISSING = "A first name is needed."
    NO_CONTACT = "A phone number or an email address is needed."
    PHONE = "Not a valid phone number."
    EMAIL = "Not a valid email address."
    DATE = "Not a date that can be read (use YYYY-MM-DD or MM/DD/YYYY, with a time if known)."
    FUTURE = "Is in the future."
    BEFORE_CREATED = "Is before the inquiry was created."
    CREATED_MISSING = "When the inquiry arrived is needed."
    STAGE = "Not a pipeline stage."
    STAGE_DUPLICATE = "Inquiries closed as duplicates are not imported."
    LOST_REASON_MISSING = "A closed row needs its lost reason."
    LOST_REASON = "Not a lost reason."
    DESTINATION_MISSING = "A referred-out row needs where the person was referred."
    ADMITTED_AT_MISSING = "An admitted row needs when the person was admitted."
    SOURCE = "No lead source has this name; add it under lead sources first."
    SOURCE_INACTIVE = "This lead source is switched off."
    CAMPAIGN = "The lead source has no campaign of this name."
    CAMPAIGN_WITHOUT_SOURCE = "A campaign needs the row's lead source."
    STATE = "Use a two-letter US state code."
    POSTAL_CODE = "Not a US ZIP code."
    RELATIONSHIP = "Use self, family, professional or other."
    CONSENT_VALUE = "Use yes or no."
    CONSENT_UNRECORDED = (
        "Consent is marked yes without the wording agreed to and when; consent is never assumed."
    )
    CONSENT_NO_ADDRESS = "Consent is marked yes for a channel the row has no address for."
    TOO_LONG = "Longer than {n} characters."
    OPEN_ELSEWHERE = (
        "An open inquiry for this phone or email is at another facility; a manager there decides."
    )


MAX_LENGTH: dict[str, int] = {
    "external_id": 100,
    "first_name": 80,
    "last_name": 80,
    "gender": 20,
    "street": 200,
    "city": 100,
    "preferred_language": 35,
    "caller_name": 120,
    "referred_out_to": 160,
    "insurance_payer": 120,
    "insurance_member_id": 60,
    "insurance_group": 60,
    "notes": 20_000,
    "consent_text": 5_000,
}

_YES = frozenset({"yes", "y", "true", "1", "x", "opted in", "opt in"})
_NO = frozenset({"no", "n", "false", "0", "", "opted out", "opt out"})
# US dates as exports and spreadsheets write them (3/1/2025, 03/01/2025 9:30 AM, 3/1/25 14:05:10),
# and ISO dates with a one-digit hour (2025-03-01 9:30); parsed by one pattern each, as strptime
# cost a fifth of a row's time.
_US_DATE = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*([AaPp][Mm])?)?"
)
_LOOSE_ISO = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_STAGE_OF_NAME: dict[str, str] = {
    **{s.value: s.value for s in Stage},
    **{s.label.casefold(): s.value for s in Stage},
}
_LOST_OF_NAME: dict[str, str] = {
    **{r.value: r.value for r in LostReason},
    **{r.label.casefold(): r.value for r in LostReason},
}
_RELATIONSHIPS = {r.value: r.value for r in Caller.Relationship} | {
    r.label.casefold(): r.value for r in Caller.Relationship
}


@functools.cache
def _state_codes() -> frozenset[str]:
    import zipcodes

    return frozenset(z["state"] for z in zipcodes.list_all())


@dataclass
class Consent:
    sms: bool
    email: bool
    call: bool
    text: str
    at: datetime


@dataclass
class ImportRow:
    """A row that passed every check, normalised."""

    number: int
    key: str  # "id:<external id>" or "fp:<fingerprint>": one row per source
    external_id: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    gender: str
    phone: str
    email: str
    street: str
    city: str
    state: str
    postal_code: str
    preferred_language: str
    caller_relationship: str
    caller_name: str
    caller_phone: str
    lead_source_id: int | None
    campaign_id: int | None
    stage: str
    created_at: datetime
    stage_dates: dict[str, datetime]
    lost_reason: str
    referred_out_to: str
    insurance_payer: str
    insurance_member_id: str
    insurance_group: str
    consent: Consent | None
    notes: str
    fields_given: list[str] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES


@dataclass
class Refused:
    number: int
    errors: list[dict[str, str]]


class RowContext:
    """What checking a row needs from the database, read once per import."""

    def __init__(self, *, facility_time_zone: str, default_source: LeadSource | None, now: datetime) -> None:
        self.tz = zoneinfo.ZoneInfo(facility_time_zone or timezone.get_default_timezone_name())
        self.default_source_id = default_source.pk if default_source else None
        self.now = now
        self.today = now.astimezone(self.tz).date()
        sources = list(LeadSource.objects.only("id", "name", "kind", "is_active"))
        self.sources = {s.name.casefold(): s for s in sources} | {str(s.pk): s for s in sources}
        self.source_kinds: dict[int | None, str] = {s.pk: s.kind for s in sources}
        self.source_names: dict[int | None, str] = {s.pk: s.name for s in sources}
        self.campaigns: dict[tuple[int, str], int] = {}
        for c in Campaign.objects.only("id", "name", "lead_source_id"):
            self.campaigns[(c.lead_source_id, c.name.casefold())] = c.pk
            self.campaigns[(c.lead_source_id, str(c.pk))] = c.pk


def _text(raw: Value) -> str:
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    return text_clean(raw)


def datetime_read(raw: Value, tz: zoneinfo.ZoneInfo) -> datetime:
    """A date and time as spreadsheets and exports write them; a time without a zone is the
    facility's local time, and a date alone is its midnight. ValueError if unreadable."""
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, date):
        value = datetime.combine(raw, time())
    else:
        text = raw.strip()
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            value = _date_pattern_read(text)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=tz)
    return value


def _date_pattern_read(text: str) -> datetime:
    if us := _US_DATE.fullmatch(text):
        month, day, year, hour, minute, second, half = us.groups()
        y = int(year)
        if len(year) == 2:
            y += 2000 if y < 69 else 1900  # as strptime reads %y
        h = int(hour or 0)
        if half:
            if not 1 <= h <= 12:
                raise ValueError(Reason.DATE)
            h = h % 12 + (12 if half.lower() == "pm" else 0)
        ymd = (y, int(month), int(day))
    elif iso := _LOOSE_ISO.fullmatch(text):
        iy, im, iday, hour, minute, second = iso.groups()
        ymd, h = (int(iy), int(im), int(iday)), int(hour or 0)
    else:
        raise ValueError(Reason.DATE)
    try:
        return datetime(*ymd, h, int(minute or 0), int(second or 0))  # noqa: DTZ001 - made aware by the caller
    except ValueError:
        raise ValueError(Reason.DATE) from None


def row_read(
    number: int, raw: dict[str, Value], *, columns: dict[str, str], ctx: RowContext, origin: str
) -> ImportRow | Refused:
    """Check and normalise one row; every problem in it is reported, not only the first."""
    errors: list[dict[str, str]] = []

    def err(name: str, message: str) -> None:
        errors.append({"field": name, "message": message})

    values: dict[str, Value] = {}
    for name, header in columns.items():
        value = raw.get(header, "")
        if isinstance(value, str):
            value = value.strip()
        if value != "":
            values[name] = value
    text: dict[str, str] = {}
    for name, value in values.items():
        if name in DATE_FIELDS or name == "date_of_birth":
            continue
        cleaned = (
            text_clean(value, multiline=name in ("notes", "consent_text"))
            if isinstance(value, str)
            else _text(value)
        )
        limit = MAX_LENGTH.get(name)
        if limit is not None and len(cleaned) > limit:
            err(name, Reason.TOO_LONG.format(n=limit))
        text[name] = cleaned

    first_name = text.get("first_name", "")
    if not first_name:
        err("first_name", Reason.NAME_MISSING)
    phone = email = ""
    for name in ("phone", "mobile"):
        if name in text and not phone:
            try:
                phone = phone_normalise(text[name])
            except ValueError:
                err(name, Reason.PHONE)
    if "email" in text:
        try:
            email = email_normalise(text["email"])
        except ValueError:
            err("email", Reason.EMAIL)
    if not phone and not email and not any(e["field"] in ("phone", "mobile", "email") for e in errors):
        err("phone", Reason.NO_CONTACT)
    caller_phone = ""
    if "caller_phone" in text:
        try:
            caller_phone = phone_normalise(text["caller_phone"])
        except ValueError:
            err("caller_phone", Reason.PHONE)
    relationship = ""
    if "caller_relationship" in text:
        relationship = _RELATIONSHIPS.get(text["caller_relationship"].casefold(), "")
        if not relationship:
            err("caller_relationship", Reason.RELATIONSHIP)
    elif text.get("caller_name") or caller_phone:
        relationship = Caller.Relationship.OTHER
    state = text.get("state", "").upper()
    if state and state not in _state_codes():
        err("state", Reason.STATE)
    postal_code = ""
    if "postal_code" in text:
        postal_code = places.postal_code_five(text["postal_code"])
        if not postal_code:
            err("postal_code", Reason.POSTAL_CODE)

    dates: dict[str, datetime] = {}
    for name in sorted(DATE_FIELDS & values.keys()):
        try:
            dates[name] = datetime_read(values[name], ctx.tz)
        except ValueError:
            err(name, Reason.DATE)
            continue
        if dates[name] > ctx.now:
            err(name, Reason.FUTURE)
    date_of_birth = None
    if "date_of_birth" in values:
        try:
            date_of_birth = datetime_read(values["date_of_birth"], ctx.tz).date()
        except ValueError:
            err("date_of_birth", Reason.DATE)
        else:
            if date_of_birth > ctx.today:
                err("date_of_birth", Reason.FUTURE)
    created_at = dates.pop("created_at", None)
    if created_at is None and "created_at" not in values:
        err("created_at", Reason.CREATED_MISSING)
    consent_at = dates.pop("consent_at", None)
    if created_at is not None:
        for name, at in dates.items():
            if at < created_at:
                err(name, Reason.BEFORE_CREATED)

    stage = Stage.NEW.value
    if "stage" in text:
        preset = PRESETS.get(origin)
        name = text["stage"].casefold()
        stage = (preset.stages.get(name) if preset else None) or _STAGE_OF_NAME.get(name, "")
        if not stage:
            err("stage", Reason.STAGE)
        elif stage == Stage.DUPLICATE:
            err("stage", Reason.STAGE_DUPLICATE)
    lost_reason = ""
    if "lost_reason" in text:
        lost_reason = _LOST_OF_NAME.get(text["lost_reason"].casefold(), "")
        if not lost_reason:
            err("lost_reason", Reason.LOST_REASON)
    elif stage == Stage.CLOSED:
        err("lost_reason", Reason.LOST_REASON_MISSING)
    if stage == Stage.REFERRED_OUT and not text.get("referred_out_to"):
        err("referred_out_to", Reason.DESTINATION_MISSING)
    if stage == Stage.ADMITTED and "admitted_at" not in dates and "admitted_at" not in values:
        err("admitted_at", Reason.ADMITTED_AT_MISSING)

    source = None
    if "lead_source" in text:
        source = ctx.sources.get(text["lead_source"].casefold())
        if source is None:
            err("lead_source", Reason.SOURCE)
        elif not source.is_active:
            err("lead_source", Reason.SOURCE_INACTIVE)
    source_id = (
        source.pk if source is not None else (None if "lead_source" in text else ctx.default_source_id)
    )
    campaign_id = None
    if "campaign" in text:
        if source_id is None:
            if "lead_source" not in text:
                err("campaign", Reason.CAMPAIGN_WITHOUT_SOURCE)
        else:
            campaign_id = ctx.campaigns.get((source_id, text["campaign"].casefold()))
            if campaign_id is None:
                err("campaign", Reason.CAMPAIGN)

    consent = None
    flags: dict[str, bool] = {}
    for medium in ("sms", "email", "call"):
        name = f"consent_{medium}"
        if name in text:
            word = text[name].casefold()
            if word not in _YES and word not in _NO:
                err(name, Reason.CONSENT_VALUE)
            flags[medium] = word in _YES
    if any(flags.values()):
        if not text.get("consent_text") or consent_at is None:
            err("consent_text" if not text.get("consent_text") else "consent_at", Reason.CONSENT_UNRECORDED)
        elif (flags.get("sms") or flags.get("call")) and not phone or flags.get("email") and not email:
            err("consent_sms", Reason.CONSENT_NO_ADDRESS)
        else:
            consent = Consent(
                sms=flags.get("sms", False),
                email=flags.get("email", False),
                call=flags.get("call", False),
                text=text["consent_text"],
                at=consent_at,
            )

    if errors:
        return Refused(number, errors)
    assert created_at is not None  # noqa: S101 - a missing one is an error above
    external_id = text.get("external_id", "")
    row = ImportRow(
        number=number,
        key="",
        external_id=external_id,
        first_name=first_name,
        last_name=text.get("last_name", ""),
        date_of_birth=date_of_birth,
        gender=text.get("gender", ""),
        phone=phone,
        email=email,
        street=text.get("street", ""),
        city=text.get("city", ""),
        state=state,
        postal_code=postal_code,
        preferred_language=text.get("preferred_language", ""),
        caller_relationship=relationship,
        caller_name=text.get("caller_name", ""),
        caller_phone=caller_phone,
        lead_source_id=source_id,
        campaign_id=campaign_id,
        stage=stage,
        created_at=created_at,
        stage_dates={name: at for name, at in dates.items() if name in _STAGE_DATE_NAMES},
        lost_reason=lost_reason,
        referred_out_to=text.get("referred_out_to", ""),
        insurance_payer=text.get("insurance_payer", ""),
        insurance_member_id=text.get("insurance_member_id", ""),
        insurance_group=text.get("insurance_group", ""),
        consent=consent,
        notes=text.get("notes", ""),
        fields_given=sorted(values),
    )
    row.key = _key(row)
    return row


_STAGE_DATE_NAMES = frozenset(STAGE_TIMESTAMP_FIELD.values())


def _key(row: ImportRow) -> str:
    """The external id when the file has one, else a fingerprint of the row's normalised values."""
    if row.external_id:
        key = f"id:{row.external_id}"
        return key if len(key) <= 120 else "id#" + hashlib.sha256(key.encode()).hexdigest()
    values: list[Any] = [
        getattr(row, name)
        for name in (
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
            "caller_relationship",
            "caller_name",
            "caller_phone",
            "lead_source_id",
            "campaign_id",
            "stage",
            "created_at",
            "lost_reason",
            "referred_out_to",
            "insurance_payer",
            "insurance_member_id",
            "insurance_group",
            "notes",
        )
    ]
    values.append(sorted((k, v.isoformat()) for k, v in row.stage_dates.items()))
    digest = hashlib.sha256(repr(values).encode()).hexdigest()
    return f"fp:{digest}"
