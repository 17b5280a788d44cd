"""Writes of the pre-screen: saving answers, acting on red flags, sign-off and match override.

Matching lives in ``programs.matching`` and knows nothing of inquiries: ``screening_needs``
is the one place a screen becomes a plain ``Needs``. Email to clinical reviewers goes out
after commit and holds no health details, only the inquiry number and a link path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from admissions.casework import VOB_DONE, insurance_save
from admissions.lead_write import (
    ConsentGiven,
    PersonDetails,
    consents_record,
    consents_revoke,
    person_fill_blanks,
)
from admissions.messaging.consent import consents_active
from admissions.models import Caller, ContactConsent, FollowUp, Inquiry, InquiryEvent, InsurancePolicy, Person
from admissions.pipeline import Stage, TransitionError, check_transition
from admissions.screening.definition import FORMS, LATEST_VERSION, AnswersInvalid, FormDefinition, answer_date
from admissions.screening.models import Screening, ScreeningForm
from admissions.screening.rules import (
    NEED_LABELS,
    Flag,
    LevelChoice,
    LevelsChosen,
    Modifier,
    RulesOutcome,
    SafetyFlag,
    evaluate,
    level_allows,
    levels_pick,
)
from admissions.services import followups_cancel, handoff_alert, inquiry_advance, inquiry_event
from crm.audit import audit_record
from crm.models import AuditEvent, User
from crm.places import place_of_postal_code
from crm.roles import Role, has_role
from programs.catalogue import INTEGRATED_EDITIONS
from programs.matching import MatchResult, Needs, matches_withheld, programs_match
from programs.models import LevelOfCare, Payer, Program

log = logging.getLogger(__name__)

# Timeline kinds written by the screening.
EVENT_SCREENING = InquiryEvent.Kind.SCREENING
EVENT_RED_FLAG = InquiryEvent.Kind.RED_FLAG
EVENT_REFER_OUT = InquiryEvent.Kind.REFER_OUT_PROPOSED
EVENT_SIGNOFF = InquiryEvent.Kind.SCREENING_SIGNOFF
EVENT_MATCH_OVERRIDE = InquiryEvent.Kind.MATCH_OVERRIDE

SCREENING_ROLES = (Role.COORDINATOR, Role.CLINICAL_REVIEWER, Role.MANAGER)
SIGNOFF_ROLES = (Role.CLINICAL_REVIEWER,)
OVERRIDE_ROLES = (Role.COORDINATOR, Role.MANAGER)
MIN_OVERRIDE_REASON = 10


class ScreeningError(ValueError):
    """A screening action that cannot be done; the message says why and ``field`` where."""

    def __init__(self, message: str, *, field: str = "non_field_errors") -> None:
        super().__init__(message)
        self.field = field


class SignoffRefused(ScreeningError):
    """A sign-off below what the safety flags require."""


@dataclass(frozen=True)
class ScreeningSaved:
    screening: Screening
    outcome: RulesOutcome
    matches: MatchResult
    new_flags: tuple[SafetyFlag, ...]


def screening_form_current() -> ScreeningForm:
    """The newest active form (seeded from ``definition.FORMS`` if the table is empty)."""
    form = ScreeningForm.objects.filter(is_active=True).order_by("-version").first()
    if form is None:
        form, _ = ScreeningForm.objects.get_or_create(
            version=LATEST_VERSION, defaults={"definition": FORMS[LATEST_VERSION]}
        )
    return form


def screening_latest(*, inquiry_id: int, inquiry: Inquiry | None = None) -> Screening | None:
    """The inquiry's newest screening with its form and levels loaded.

    A caller that holds the inquiry passes it: joining the inquiry and its person again makes
    PostgreSQL plan a much dearer query (the inquiry table has many indexes to weigh).
    """
    related = ["form", "provisional_level", "final_level", "override_program", "signed_by"]
    if inquiry is None:
        related.append("inquiry__person")
    screening = (
        Screening.objects.select_related(*related)
        .filter(inquiry_id=inquiry_id)
        .order_by("-created_at", "-pk")
        .first()
    )
    if screening is not None and inquiry is not None:
        screening.inquiry = inquiry
    return screening


def _levels(edition: str) -> tuple[list[LevelChoice], list[LevelChoice]]:
    """The active levels of ``edition``, and those of the integrated editions (one query)."""
    rows = LevelOfCare.objects.filter(
        edition__in=[edition, *sorted(INTEGRATED_EDITIONS - {edition})], is_active=True
    ).order_by("edition", "intensity", "code")
    levels: list[LevelChoice] = []
    integrated: list[LevelChoice] = []
    for lv in rows:
        choice = LevelChoice(
            id=lv.pk,
            code=lv.code,
            name=lv.name,
            edition=lv.edition,
            intensity=lv.intensity,
            withdrawal_management=lv.withdrawal_management,
        )
        (levels if lv.edition == edition else integrated).append(choice)
    return levels, integrated


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Answers ``new`` over ``old``, section by section (and substance by substance); null clears."""
    merged: dict[str, Any] = {k: dict(v) for k, v in old.items() if isinstance(v, dict)}
    for section, items in new.items():
        if items is None:
            merged.pop(section, None)
            continue
        target = merged.setdefault(section, {})
        for code, value in items.items():
            if value is None:
                target.pop(code, None)
            elif section == "substances" and isinstance(value, dict):
                row = {**(target.get(code) or {}), **value}
                target[code] = {k: v for k, v in row.items() if v is not None}
            else:
                target[code] = value
        if not target:
            merged.pop(section)
    return merged


def _changed_paths(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    paths = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section) or {}, new.get(section) or {}
        paths += [f"{section}.{code}" for code in sorted(set(a) | set(b)) if a.get(code) != b.get(code)]
    return paths


def _gender(text: str) -> str | None:
    value = text.strip().lower()
    if value in ("f", "female", "woman", "w"):
        return "woman"
    if value in ("m", "male", "man"):
        return "man"
    return value or None


def _age(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@dataclass(frozen=True)
class Location:
    """Where the person is, as far as the screen and the lead tell."""

    latitude: float | None
    longitude: float | None
    state: str


def person_location(*, logistics: dict[str, Any], person: Person) -> Location:
    """Coordinates from the screen's location items, else its ZIP code, else the lead's ZIP code
    (``crm.places``); the state from the screen, the ZIP code or the person's record."""
    place = None
    for code in (logistics.get("postal_code"), person.postal_code):
        if isinstance(code, str) and code:
            place = place_of_postal_code(code)
            if place is not None:
                break
    latitude, longitude = logistics.get("latitude"), logistics.get("longitude")
    if (latitude is None or longitude is None) and place is not None:
        latitude, longitude = place.latitude, place.longitude
    state = logistics.get("state") or (place.state if place else "") or person.state or ""
    return Location(
        latitude=float(latitude) if latitude is not None and longitude is not None else None,
        longitude=float(longitude) if latitude is not None and longitude is not None else None,
        state=str(state).upper(),
    )


def _preferred_specialties(definition: FormDefinition, result: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(specialty code, why) for each clinical need of the result the form maps to a specialty."""
    mapping = definition.need_specialties
    out = []
    for need in result.get("needs") or []:
        specialty = mapping.get(need.get("code"))
        if specialty:
            label = NEED_LABELS.get(need["code"], need["code"])
            out.append((specialty, f"{label} ({str(need.get('reason', '')).rstrip('.').lower()})"))
    if not mapping and Modifier.BIOMEDICAL in (result.get("modifiers") or []):
        out.append(("medical", "enhanced medical care (physical health needs)"))  # results of form version 1
    return tuple(out)


def screening_needs(*, screening: Screening, outcome_json: dict[str, Any] | None = None) -> Needs:
    """Turn a screening (and its inquiry's person and insurance) into a plain ``Needs``."""
    result = outcome_json if outcome_json is not None else screening.result
    answers = screening.answers
    inquiry = screening.inquiry
    person = inquiry.person
    logistics = answers.get("logistics") or {}
    insurance = answers.get("insurance") or {}
    readiness = answers.get("readiness") or {}
    payer_id = insurance.get("payer_id")
    if payer_id is None and not insurance.get("self_pay"):
        payer_id = (
            InsurancePolicy.objects.filter(inquiry_id=inquiry.pk, rank=InsurancePolicy.Rank.PRIMARY)
            .values_list("payer_id", flat=True)
            .first()
        )
    payer_name = insurance.get("payer_name") or ""
    if payer_id is not None:
        payer_name = Payer.objects.filter(pk=payer_id).values_list("name", flat=True).first() or payer_name
    modifiers = set(result.get("modifiers") or [])
    preferred = [readiness["preferred_setting"]] if readiness.get("preferred_setting") else []
    where = person_location(logistics=logistics, person=person)
    withdrawal_min = result.get("withdrawal_minimum")
    treatment_min = result.get("treatment_minimum")
    return Needs(
        min_intensity=Decimal(result.get("minimum_intensity") or "1.0"),
        withdrawal_management=bool(result.get("withdrawal_management")),
        withdrawal_min=Decimal(withdrawal_min) if withdrawal_min else None,
        treatment_min=Decimal(treatment_min) if treatment_min else None,
        # Results saved before the two were told apart always put withdrawal management first.
        withdrawal_first=bool(result.get("withdrawal_first", True)),
        co_occurring_enhanced=Modifier.CO_OCCURRING_ENHANCED in modifiers,
        preferred_specialties=_preferred_specialties(screening.form.loaded(), result),
        payer_id=payer_id,
        payer_name=payer_name,
        self_pay=bool(insurance.get("self_pay")),
        age=_age(person.date_of_birth, timezone.localdate()) or logistics.get("age"),
        gender=logistics.get("gender") or _gender(person.gender),
        specialties_wanted=frozenset(logistics.get("specialties_wanted") or []),
        latitude=where.latitude,
        longitude=where.longitude,
        state=where.state,
        preferred_settings=tuple(dict.fromkeys([*preferred, *(readiness.get("willing_settings") or [])])),
        max_distance_miles=logistics.get("max_travel_miles"),
    )


EMERGENCY_NO_PROGRAMS = (
    "Emergency now: call 911 and send the person to the nearest emergency department. "
    "Programs are matched after the emergency is handled."
)


def recommendation_withheld(*, result: dict[str, Any], complete: bool) -> MatchResult | None:
    """No program list while an emergency is on, or until every safety item is answered."""
    if any(flag.get("code") == Flag.EMERGENCY_NOW for flag in result.get("safety_flags") or []):
        return matches_withheld(why="emergency", reason=EMERGENCY_NO_PROGRAMS)
    if not complete:
        missing = len(result.get("missing_safety") or [])
        return matches_withheld(
            why="incomplete",
            reason=f"{missing} safety question{'s' if missing != 1 else ''} not answered yet: no level "
            "and no program until every safety question is answered (or marked refused / not known).",
        )
    return None


def screening_matches(*, screening: Screening, at: datetime | None = None) -> MatchResult:
    """Rank every active program for a saved screening (live capacity, a constant number of queries);
    none while the screen is incomplete or an emergency is on."""
    withheld = recommendation_withheld(result=screening.result or {}, complete=screening.complete)
    if withheld is not None:
        return withheld
    return programs_match(needs=screening_needs(screening=screening), at=at)


# --- callers who are not the person ----------------------------------------------------------


@dataclass(frozen=True)
class CallerConsent:
    """Whether the person's details may be shared with whoever called about them."""

    caller: Caller | None
    on_file: bool

    @property
    def needed(self) -> bool:
        """The caller is someone else and no consent of the person lets us share with them."""
        return self.caller is not None and not self.on_file

    @property
    def caller_label(self) -> str:
        if self.caller is None:
            return ""
        detail = self.caller.relationship_detail or self.caller.get_relationship_display().lower()
        return f"{self.caller.name} ({detail})" if self.caller.name else f"a {detail}"

    def consent_query(self) -> str:
        """Query string that fills the privacy app's consent form in for this caller."""
        values = {"recipient_type": "individual", "purpose": "patient_request"}
        if self.caller is not None and self.caller.name:
            values["recipient_name"] = self.caller.name
        return urlencode(values)


def _same_name(a: str, b: str) -> bool:
    return bool(a.strip()) and " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def caller_consent(*, inquiry: Inquiry) -> CallerConsent:
    """The caller of an inquiry when it is not the person, and whether a valid Part 2 consent of the
    person names them (a named individual or provider) for this facility.

    Part 2 consents are read through the person's reverse relation: the privacy app builds on
    admissions, never the reverse (``retention_purge`` reads them the same way).
    """
    caller = inquiry.caller
    if caller is None or caller.relationship == Caller.Relationship.SELF:
        return CallerConsent(caller=None, on_file=False)
    consents = getattr(inquiry.person, "part2_consents", None)
    if consents is None:
        return CallerConsent(caller=caller, on_file=False)
    today = timezone.localdate()
    rows = (
        consents.filter(
            revoked_at__isnull=True,
            discloser_id=inquiry.facility_id,
            recipient_type__in=["individual", "provider"],
        )
        .exclude(expires_on__lt=today)
        .values_list("recipient_name", flat=True)
    )
    # A caller who gave no name cannot be matched to a consent's recipient: none counts for them.
    names = [n for n in (caller.name, caller.organisation) if n.strip()]
    on_file = bool(names) and any(any(_same_name(name, given) for given in names) for name in rows)
    return CallerConsent(caller=caller, on_file=on_file)


# Automated messages to whoever gave the inquiry's number or address: stopped while the caller is not
# the person and no consent lets us share with them (coordinator texts are checked one by one).
CALLER_MESSAGE_KINDS = (FollowUp.Kind.ACKNOWLEDGEMENT, FollowUp.Kind.NURTURE_TOUCH)


def _stop_messages_to_caller(*, inquiry: Inquiry, actor: User) -> None:
    """The screen has just recorded the person's answers with someone else on the line: stop the
    automated texts and emails still planned, as a red flag does, until the person consents."""
    if not caller_consent(inquiry=inquiry).needed:
        return
    cancelled = followups_cancel(
        inquiry=inquiry, kinds=CALLER_MESSAGE_KINDS, reason="caller is not the person; no consent to share"
    )
    if cancelled:
        inquiry_event(
            inquiry=inquiry,
            kind=InquiryEvent.Kind.NOTE,
            actor=actor,
            body="Automated texts and emails stopped: the caller is not the person, and the person's "
            "consent to share their details with the caller is not on file.",
            data={"followups_cancelled": cancelled, "why": "caller_consent"},
        )


def _clinical_reviewer_emails(*, facility_id: int) -> list[str]:
    return list(
        User.objects.filter(
            is_active=True, facilities__id=facility_id, groups__name=Role.CLINICAL_REVIEWER.value
        )
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
        .distinct()
    )


def _alert_email(*, inquiry_id: int, facility_id: int, urgent: bool) -> None:
    """Tell the facility's clinical reviewers, with no health details in the message."""
    recipients = _clinical_reviewer_emails(facility_id=facility_id)
    if not recipients:
        return
    link = settings.CRM_PUBLIC_URL + reverse("admissions:inquiry", kwargs={"pk": inquiry_id})
    subject = "Urgent: an inquiry needs clinical review now" if urgent else "An inquiry needs clinical review"
    body = (
        f"Inquiry #{inquiry_id} needs clinical review.\n\nOpen it in the CRM (sign in first): {link}\n\n"
        "This message intentionally holds no personal or health details."
    )

    def send() -> None:
        try:
            send_mail(subject, body, None, recipients)
        except Exception:  # the alert is also on the timeline; a mail outage must not fail the save
            log.exception("clinical review alert email failed for inquiry %s", inquiry_id)

    transaction.on_commit(send)


def _route_red_flags(
    *, screening: Screening, new_flags: tuple[SafetyFlag, ...], all_flags: tuple[SafetyFlag, ...], actor: User
) -> None:
    """Move the inquiry to Crisis routed or Clinical review, alert reviewers and stop marketing touches."""
    inquiry = screening.inquiry
    crisis = any(f.route_to == Stage.CRISIS_ROUTED for f in all_flags)
    target = Stage.CRISIS_ROUTED if crisis else Stage.CLINICAL_REVIEW
    reason = "Red flag: " + ", ".join(f.code for f in new_flags)
    moved, stage_note = False, ""
    # Never step back from Crisis routed to Clinical review: only a clinician clears a crisis.
    if inquiry.stage not in (target, Stage.CRISIS_ROUTED):
        try:
            check_transition(inquiry.stage, target, provided={"reason": reason})
        except TransitionError as exc:
            stage_note = f"Stage left at {Stage(inquiry.stage).label}: {exc}"
        else:
            inquiry_advance(inquiry=inquiry, to=target, actor=actor, reason=reason)
            inquiry.refresh_from_db(fields=["stage", "stage_changed_at", "close_note"])
            moved = True
    Inquiry.objects.filter(pk=inquiry.pk).update(has_red_flag=True)
    inquiry.has_red_flag = True
    cancelled = followups_cancel(inquiry=inquiry, reason="red flag on the pre-screen")
    inquiry_event(
        inquiry=inquiry,
        kind=EVENT_RED_FLAG,
        actor=actor,
        body="\n".join(f"{f.action} Why: {f.reason}" for f in new_flags),
        data={
            "screening": screening.pk,
            "flags": [f.to_json() for f in new_flags],
            "route_to": str(target),
            "stage_moved": moved,
            "stage_note": stage_note,
            "alert": "clinical_reviewers",
            "followups_cancelled": cancelled,
        },
    )
    _alert_email(inquiry_id=inquiry.pk, facility_id=inquiry.facility_id, urgent=crisis)


# Screening answers that are also facts of the person or of the primary insurance policy.
_POLICY_ANSWERS = {
    "payer_id": "payer_id",
    "payer_name": "payer_name",
    "member_id": "member_id",
    "group_number": "group_number",
    "subscriber_name": "subscriber_name",
    "subscriber_dob": "subscriber_date_of_birth",
}
# Person fields a pre-screen's newer answer replaces (intake only fills them where blank).
_PERSON_NEWER = ("state", "postal_code", "time_zone", "gender", "preferred_language")
_PERSON_WORDS = {
    "state": "state",
    "postal_code": "ZIP code",
    "time_zone": "time zone",
    "gender": "gender",
    "preferred_language": "preferred language",
    "ok_to_text": "OK to text",
    "ok_to_voicemail": "OK to leave a voicemail",
}
# The wording stored with a text consent given on the pre-screen call.
PRESCREEN_TEXT_CONSENT = 'Said yes to "Is it OK to send a text?" on the pre-screen call.'
PRESCREEN_SOURCE = "pre-screen call"


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _shown(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value) if value not in (None, "") else "blank"


def screening_records_update(*, inquiry: Inquiry, given: dict[str, Any], actor: User) -> None:
    """Answers given in this save update the person and the primary policy, through the services
    intake and the lead API use, so texts, voicemail, quiet hours and the VOB queue use what the
    caller just said. The newer answer wins and the timeline says what changed.

    Consent follows who answered: "OK to text" from the person records a text consent (and "no"
    revokes it); from a family member or anyone else it is not the person's consent, so a "yes"
    changes nothing and the timeline says so. A "no" from anyone stops texts or voicemails.
    """
    _person_answers_record(inquiry=inquiry, logistics=given.get("logistics") or {}, actor=actor)
    _policy_answers_record(inquiry=inquiry, insurance=given.get("insurance") or {}, actor=actor)


def _person_answers_record(*, inquiry: Inquiry, logistics: dict[str, Any], actor: User) -> None:
    person = inquiry.person
    by_person = inquiry.caller is None or inquiry.caller.relationship == Caller.Relationship.SELF
    details: dict[str, Any] = {}
    for code in ("state", "gender", "preferred_language"):
        if logistics.get(code) not in (None, ""):
            details[code] = str(logistics[code]).upper() if code == "state" else logistics[code]
    place = place_of_postal_code(logistics["postal_code"]) if logistics.get("postal_code") else None
    if place is not None and place.postal_code != person.postal_code:
        # Where they are now: for distance, and its time zone for quiet hours.
        details["postal_code"] = place.postal_code
        if "state" not in details and not person.state:
            details["state"] = place.state  # the state they live in is asked on its own
        if place.time_zone:
            details["time_zone"] = place.time_zone
    declined: list[str] = []
    for code in ("ok_to_text", "ok_to_voicemail"):
        answer = logistics.get(code)
        if answer is True and not by_person:
            if getattr(person, code) is not True:
                declined.append(_PERSON_WORDS[code])
            continue
        if isinstance(answer, bool):
            details[code] = answer
    before = {name: getattr(person, name) for name in (*_PERSON_NEWER, "ok_to_text", "ok_to_voicemail")}
    person_fill_blanks(
        person=person,
        details=PersonDetails(first_name=person.first_name, **details),
        replace=_PERSON_NEWER,
    )
    changed = [name for name, value in before.items() if getattr(person, name) != value]
    phone = str(person.phone or inquiry.phone or "")
    # Only an answer that changes the record is a consent act: a value intake recorded and the
    # pre-screen only carried over (pre-filled, saved unchanged) grants and revokes nothing.
    text_answer = logistics.get("ok_to_text")
    consent = (
        _text_consent_record(person=person, phone=phone, answer=text_answer, actor=actor)
        if by_person and isinstance(text_answer, bool) and text_answer is not before["ok_to_text"]
        else ""
    )
    if not (changed or declined or consent):
        return
    lines = [
        f"{_first_upper(_PERSON_WORDS[name])}: {_shown(before[name])} → {_shown(getattr(person, name))}"
        for name in changed
    ]
    if consent:
        lines.append(_CONSENT_WORDS[consent])
    if declined:
        caller = inquiry.caller
        who = (
            (caller.relationship_detail or caller.get_relationship_display().lower()) if caller else "caller"
        )
        lines.append(
            f"{_first_upper(' and '.join(declined))} said by the caller ({who}), not the person: not "
            "recorded as the person's consent. Ask the person."
        )
    if changed:
        audit_record(action=AuditEvent.Action.UPDATE, obj=person, actor=actor, fields=changed)
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.NOTE,
        actor=actor,
        body="Pre-screen answers updated the person's record.\n" + "\n".join(lines),
        data={
            "from": "pre-screen",
            "fields": changed,
            "consent": consent,
            "not_the_persons_consent": declined,
        },
    )


_CONSENT_WORDS = {
    "recorded": "Text consent recorded from the person on the call.",
    "revoked": "Text consent revoked: the person said no on the call.",
}


def _text_consent_record(*, person: Person, phone: str, answer: Any, actor: User) -> str:
    """The person's own answer to "OK to text?" as a text consent at their number (the consent
    services intake and the lead API use): "recorded", "revoked", or "" when nothing changed.
    Only for an answer the person gave themselves: a family caller's answer is not their consent."""
    if not phone or not isinstance(answer, bool):
        return ""
    sms = ContactConsent.Medium.SMS
    if answer:
        if consents_active(person_id=person.pk, medium=sms, address=phone).exists():
            return ""
        consents_record(
            person_id=person.pk,
            phone=phone,
            email="",
            consent=ConsentGiven(
                sms=True, text=PRESCREEN_TEXT_CONSENT, source=PRESCREEN_SOURCE, captured_by=actor
            ),
        )
        return "recorded"
    revoked = consents_revoke(
        person_id=person.pk, medium=sms, address=phone, source="said no on the pre-screen"
    )
    return "revoked" if revoked else ""


def _policy_answers_record(*, inquiry: Inquiry, insurance: dict[str, Any], actor: User) -> None:
    values: dict[str, object] = {
        field: insurance[code]
        for code, field in _POLICY_ANSWERS.items()
        if insurance.get(code) not in (None, "")
    }
    if "subscriber_date_of_birth" in values:
        values["subscriber_date_of_birth"] = answer_date(values["subscriber_date_of_birth"])
    if insurance.get("self_pay") is True:
        values["vob_status"] = InsurancePolicy.VobStatus.SELF_PAY
    if not values:
        return
    policy = InsurancePolicy.objects.filter(inquiry=inquiry, rank=InsurancePolicy.Rank.PRIMARY).first()
    changed = sorted(f for f, v in values.items() if policy is None or getattr(policy, f) != v)
    if not changed:
        return
    body = ""
    if "payer_id" in changed:
        names = dict(
            Payer.objects.filter(
                pk__in=[p for p in (values["payer_id"], policy and policy.payer_id) if p]
            ).values_list("pk", "name")
        )
        old = names.get(policy.payer_id) if policy is not None and policy.payer_id else None
        new = names.get(values["payer_id"], "")  # type: ignore[call-overload]
        body = (
            f"Payer changed on the pre-screen: {old} → {new}."
            if old
            else f"Payer from the pre-screen: {new}."
        )
    insurance_save(inquiry=inquiry, actor=actor, values=values, source="pre-screen", body=body)


def screening_levels(*, form: FormDefinition, outcome: RulesOutcome) -> LevelsChosen:
    """The provisional levels of an outcome from the level catalogue (one query)."""
    levels, integrated = _levels(form.level_edition)
    return levels_pick(outcome=outcome, levels=levels, integrated=integrated)


@transaction.atomic
def screening_save(
    *,
    inquiry_id: int,
    answers: dict[str, Any],
    actor: User,
    request: HttpRequest | None = None,
) -> ScreeningSaved:
    """Merge answers into the inquiry's open screen, run the rules, act on red flags and rank programs."""
    inquiry = (
        Inquiry.objects.select_for_update(of=("self",)).select_related("person", "caller").get(pk=inquiry_id)
    )
    screening = (
        Screening.objects.select_related("form", "provisional_level")
        .filter(inquiry=inquiry, signed_at__isnull=True)
        .first()
    )
    created = screening is None
    if screening is None:
        previous = screening_latest(inquiry_id=inquiry.pk)
        screening = Screening(
            inquiry=inquiry,
            form=screening_form_current(),
            # A re-screen after a sign-off starts from the last answers.
            answers=dict(previous.answers) if previous else {},
        )
    screening.inquiry = inquiry
    form = screening.form.loaded()
    now = timezone.now()
    # Every check runs before the first write: a refused save leaves the stored answers as they were.
    cleaned = form.clean(answers, now=now)
    payer_id = (cleaned.get("insurance") or {}).get("payer_id")
    if payer_id is not None and not Payer.objects.filter(pk=payer_id).exists():
        raise AnswersInvalid({"insurance.payer_id": [f"No payer with id {payer_id}."]})
    before_answers, before_flags = screening.answers, set(screening.safety_flags)
    was_complete, before_level = screening.complete, screening.provisional_level_id
    merged = _merge(before_answers, cleaned)
    form.check_together(merged)
    outcome = evaluate(answers=merged, form=form, now=now)
    # No level until every safety item is answered: what is missing is shown instead.
    chosen = screening_levels(form=form, outcome=outcome) if outcome.complete else None
    level = chosen.provisional if chosen else None
    result = outcome.to_json()
    result["levels"] = chosen.to_json() if chosen else None
    screening.answers = merged
    screening.complete = outcome.complete
    screening.result = result
    screening.provisional_level_id = level.id if level else None
    screening.minimum_intensity = outcome.minimum_intensity
    screening.safety_flags = [f.code for f in outcome.flags]
    screening.has_red_flag = bool(outcome.flags)
    screening.saved_at, screening.saved_by = now, actor
    screening.save()
    audit_record(
        action=AuditEvent.Action.CREATE if created else AuditEvent.Action.UPDATE,
        obj=screening,
        actor=actor,
        fields=_changed_paths(before_answers, merged),
        request=request,
    )
    screening_records_update(inquiry=inquiry, given=cleaned, actor=actor)
    if outcome.complete and inquiry.stage == Stage.CONTACTED:
        inquiry_advance(inquiry=inquiry, to=Stage.PRESCREENED, actor=actor)
        inquiry.refresh_from_db(fields=["stage", "stage_changed_at"])
        # A flag raised while the screen was still partial could not move a Contacted inquiry to
        # Clinical review; now that the screen is complete it goes there (new flags route below).
        earlier = [f for f in outcome.flags if f.code in before_flags]
        if earlier and not any(f.route_to == Stage.CRISIS_ROUTED for f in outcome.flags):
            inquiry_advance(
                inquiry=inquiry,
                to=Stage.CLINICAL_REVIEW,
                actor=actor,
                reason="Red flag: " + ", ".join(f.code for f in earlier),
            )
            inquiry.refresh_from_db(fields=["stage", "stage_changed_at", "close_note"])
    if created or was_complete != outcome.complete or before_level != screening.provisional_level_id:
        inquiry_event(
            inquiry=inquiry,
            kind=EVENT_SCREENING,
            actor=actor,
            data={
                "screening": screening.pk,
                "form_version": form.version,
                "complete": outcome.complete,
                "provisional_level": level.code if level else None,
                "flags": screening.safety_flags,
            },
        )
    new_flags = tuple(f for f in outcome.flags if f.code not in before_flags)
    if new_flags:
        _route_red_flags(screening=screening, new_flags=new_flags, all_flags=outcome.flags, actor=actor)
    _stop_messages_to_caller(inquiry=inquiry, actor=actor)
    _override_recheck(screening=screening, actor=actor)
    matches = recommendation_withheld(result=result, complete=outcome.complete) or programs_match(
        needs=screening_needs(screening=screening)
    )
    if outcome.recommendable and matches.refer_out and screening.refer_out_proposed_at is None:
        screening.refer_out_proposed_at = now
        Screening.objects.filter(pk=screening.pk).update(refer_out_proposed_at=now)
        inquiry_event(
            inquiry=inquiry,
            kind=EVENT_REFER_OUT,
            actor=actor,
            body=matches.refer_out_reason,
            data={"screening": screening.pk, "minimum_intensity": str(outcome.minimum_intensity)},
        )
    return ScreeningSaved(screening=screening, outcome=outcome, matches=matches, new_flags=new_flags)


@transaction.atomic
def screening_signoff(
    *,
    screening: Screening,
    level: LevelOfCare,
    actor: User,
    note: str = "",
    request: HttpRequest | None = None,
) -> Screening:
    """Record the clinician's final level; refused below what a safety flag requires."""
    if not has_role(actor, *SIGNOFF_ROLES):
        raise ScreeningError("Only a clinical reviewer can sign off the level of care.")
    screening = (
        Screening.objects.select_for_update(of=("self",))
        .select_related("inquiry", "provisional_level")
        .get(pk=screening.pk)
    )
    if screening.is_signed:
        raise ScreeningError("This screening is already signed off.")
    if not screening.complete:
        missing = len(screening.result.get("missing_safety") or [])
        raise ScreeningError(f"The screen is not complete: {missing} safety item(s) unanswered.")
    if not level.is_active:
        raise ScreeningError(f"{level} is not an active level.", field="level")
    problems = level_allows(
        intensity=level.intensity,
        withdrawal_management=level.withdrawal_management,
        flags=screening.result.get("safety_flags") or [],
    )
    if problems:
        raise SignoffRefused(" ".join(problems), field="level")
    provisional = screening.provisional_level
    note = note.strip()
    if provisional is not None and level.intensity < provisional.intensity and not note:
        raise ScreeningError(
            f"Signing off below the provisional level {provisional.code} needs a note saying why.",
            field="note",
        )
    now = timezone.now()
    screening.final_level, screening.signed_by, screening.signed_at = level, actor, now
    screening.signoff_note = note
    screening.save(update_fields=["final_level", "signed_by", "signed_at", "signoff_note"])
    inquiry = screening.inquiry
    Inquiry.objects.filter(pk=inquiry.pk).update(approved_level=level)
    inquiry.approved_level = level
    audit_record(
        action=AuditEvent.Action.UPDATE,
        obj=screening,
        actor=actor,
        fields=["final_level", "signed_by", "signed_at", "signoff_note"],
        request=request,
    )
    inquiry_event(
        inquiry=inquiry,
        kind=EVENT_SIGNOFF,
        actor=actor,
        body=note,
        data={
            "screening": screening.pk,
            "final_level": level.code,
            "edition": level.edition,
            "provisional_level": provisional.code if provisional else None,
        },
    )
    _signoff_hand_on(inquiry=inquiry, level=level, actor=actor)
    return screening


def _signoff_hand_on(*, inquiry: Inquiry, level: LevelOfCare, actor: User) -> None:
    """A sign-off in Clinical review moves the inquiry on: to Approved when the VOB is done (or the
    person pays themselves), to the VOB queue while it is pending; the coordinator who owns the
    inquiry is alerted with what is now theirs to do, first in their due list."""
    if inquiry.stage != Stage.CLINICAL_REVIEW:
        return
    policy = InsurancePolicy.objects.filter(inquiry=inquiry, rank=InsurancePolicy.Rank.PRIMARY).first()
    status = policy.vob_status if policy else None
    signed = f"Signed off at {level.code} {level.name}"
    if status in VOB_DONE:
        inquiry_advance(inquiry=inquiry, to=Stage.APPROVED, actor=actor, reason=signed)
        owner_next = f"{signed}. Hold a bed or slot and schedule the admission."
    elif status in (InsurancePolicy.VobStatus.REQUESTED, InsurancePolicy.VobStatus.IN_PROGRESS):
        inquiry_advance(inquiry=inquiry, to=Stage.INSURANCE_VERIFICATION, actor=actor, reason=signed)
        owner_next = ""  # the VOB queue has it; its result moves it to Approved
    else:
        owner_next = f"{signed}. Request the VOB, or record self-pay."
    if owner_next and inquiry.assigned_to_id is not None:
        handoff_alert(inquiry=inquiry, body=owner_next[:120])


def _below_minimum(*, level: LevelOfCare, result: dict[str, Any]) -> str:
    """Why a program's level does not provide what the answers (so far) require, or "".

    Withdrawal management and treatment run concurrently: when withdrawal management can run
    alongside, a level that provides either part is enough; when it comes first, the level must
    reach the first placement's minimum."""
    minimum = Decimal(result.get("minimum_intensity") or "1.0")
    treatment = Decimal(result.get("treatment_minimum") or minimum)
    withdrawal = result.get("withdrawal_minimum")
    if result.get("withdrawal_first", True) or not withdrawal:
        if level.intensity < minimum:
            return f"Level {level.code} is below the minimum {minimum} the answers require."
        return ""
    hospital = level.intensity >= Decimal("4.0")
    integrated = level.withdrawal_management and level.edition in INTEGRATED_EDITIONS
    treats = (not level.withdrawal_management or integrated or hospital) and level.intensity >= treatment
    manages = (level.withdrawal_management or hospital) and level.intensity >= Decimal(withdrawal)
    if treats or manages:
        return ""
    return (
        f"Level {level.code} is below the minimum the answers require: treatment {treatment}, "
        f"or withdrawal management {withdrawal}."
    )


def level_problems(*, screening: Screening, level: LevelOfCare) -> list[str]:
    """Why a program at ``level`` may not be chosen for this screen, or []: no recommendation yet (an
    incomplete screen, an emergency), below what a safety flag or the answers require, or below
    the clinician's signed-off level."""
    result = screening.result or {}
    withheld = recommendation_withheld(result=result, complete=screening.complete)
    problems = [f"{withheld.withheld_reason}"] if withheld is not None else []
    problems += level_allows(
        intensity=level.intensity,
        withdrawal_management=level.withdrawal_management,
        flags=result.get("safety_flags") or [],
    )
    below = _below_minimum(level=level, result=result)
    if below and not any("below the minimum" in p for p in problems):
        problems.append(below)
    if screening.final_level is not None and level.intensity < screening.final_level.intensity:
        problems.append(f"Level {level.code} is below the signed-off level {screening.final_level.code}.")
    return problems


def placement_problems(*, inquiry: Inquiry, program: Program) -> list[str]:
    """Why ``inquiry`` may not be held, scheduled or admitted in ``program``, or []: what its latest
    screen allows (``level_problems``). An inquiry never screened (an import) is not checked."""
    screening = screening_latest(inquiry_id=inquiry.pk)
    if screening is None:
        return []
    return level_problems(screening=screening, level=program.level_of_care)


def _override_recheck(*, screening: Screening, actor: User) -> None:
    """New answers can raise what the screen requires: a program chosen instead of the top match
    that no longer qualifies is set aside, on the timeline, rather than still shown as the choice."""
    if screening.override_program_id is None:
        return
    program = Program.objects.select_related("level_of_care").get(pk=screening.override_program_id)
    problems = level_problems(screening=screening, level=program.level_of_care)
    if not problems:
        return
    screening.override_program = None
    screening.override_reason, screening.override_by, screening.override_at = "", None, None
    screening.save(update_fields=["override_program", "override_reason", "override_by", "override_at"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        obj=screening,
        actor=actor,
        fields=["override_program", "override_reason"],
    )
    inquiry_event(
        inquiry=screening.inquiry,
        kind=EVENT_MATCH_OVERRIDE,
        actor=actor,
        body=f"{program.name} set aside as the chosen program: {' '.join(problems)}",
        data={"screening": screening.pk, "program": program.pk, "cleared": True},
    )


@transaction.atomic
def match_override(
    *,
    screening: Screening,
    program: Program,
    reason: str,
    actor: User,
    request: HttpRequest | None = None,
) -> Screening:
    """Choose a program other than the top match; needs a reason and never goes below a safety flag."""
    if not has_role(actor, *OVERRIDE_ROLES):
        raise ScreeningError("Only an admissions coordinator or manager can override the match.")
    reason = reason.strip()
    if len(reason) < MIN_OVERRIDE_REASON:
        raise ScreeningError(
            f"Say why the match is overridden (at least {MIN_OVERRIDE_REASON} characters).", field="reason"
        )
    screening = (
        Screening.objects.select_for_update(of=("self",))
        .select_related("inquiry", "final_level")
        .get(pk=screening.pk)
    )
    program = Program.objects.select_related("level_of_care").get(pk=program.pk)
    if not program.is_active:
        raise ScreeningError(f"{program.name} is not taking admissions.", field="program")
    level = program.level_of_care
    problems = level_problems(screening=screening, level=level)
    if problems:
        raise ScreeningError(" ".join(problems), field="program")
    now = timezone.now()
    screening.override_program, screening.override_reason = program, reason
    screening.override_by, screening.override_at = actor, now
    screening.save(update_fields=["override_program", "override_reason", "override_by", "override_at"])
    audit_record(
        action=AuditEvent.Action.UPDATE,
        obj=screening,
        actor=actor,
        fields=["override_program", "override_reason"],
        request=request,
    )
    inquiry_event(
        inquiry=screening.inquiry,
        kind=EVENT_MATCH_OVERRIDE,
        actor=actor,
        body=reason,
        data={"screening": screening.pk, "program": program.pk, "level": level.code},
    )
    return screening
