"""Leads from marketing sources: their vocabulary (DTOs, public stages), deduplication, create-or-merge.

The lead API (``admissions.api``) validates a request, then calls ``lead_ingest``
once; everything a lead writes (person, inquiry, touch, consents, insurance,
follow-ups, the audit row and the idempotency result) commits in one transaction.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from admissions.models import (
    Caller,
    Campaign,
    Channel,
    ContactConsent,
    IdempotencyRecord,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    LeadSource,
    Person,
    Substance,
)
from admissions.normalise import email_normalise, phone_normalise, text_clean
from admissions.pipeline import OPEN_STAGES, Stage
from admissions.services import (
    Routed,
    TouchData,
    coordinator_take_params,
    coordinator_take_sql,
    inquiry_create,
    inquiry_event,
    records_insert_later,
    rows_insert_batch,
    rows_insert_later,
    touch_add,
)
from crm.audit import audit_values
from crm.db import prepared_cursor
from crm.models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

_OPEN_STAGE_LIST = sorted(OPEN_STAGES)  # the same list as the partial unique indexes use

# --- what marketing may see of an inquiry ----------------------------------------------


class PublicStage(models.TextChoices):
    """The stage as a lead source sees it: coarse, so it never reveals clinical detail."""

    NEW = "new", "New"
    CONTACT_ATTEMPTED = "contact_attempted", "Contact attempted"
    CONTACTED = "contacted", "Contacted"
    IN_PROGRESS = "in_progress", "In progress"
    ADMITTED = "admitted", "Admitted"
    NURTURE = "nurture", "Nurture"
    CLOSED = "closed", "Closed"
    DUPLICATE = "duplicate", "Duplicate"
    INVALID = "invalid", "Invalid"


# Pre-screen, VOB, clinical review, approval and scheduling are one "in progress";
# referred out, closed and crisis routed are one "closed" (a crisis is clinical data).
PUBLIC_STAGE: dict[str, PublicStage] = {
    Stage.NEW: PublicStage.NEW,
    Stage.CONTACT_ATTEMPTED: PublicStage.CONTACT_ATTEMPTED,
    Stage.CONTACTED: PublicStage.CONTACTED,
    Stage.PRESCREENED: PublicStage.IN_PROGRESS,
    Stage.INSURANCE_VERIFICATION: PublicStage.IN_PROGRESS,
    Stage.CLINICAL_REVIEW: PublicStage.IN_PROGRESS,
    Stage.APPROVED: PublicStage.IN_PROGRESS,
    Stage.ADMISSION_SCHEDULED: PublicStage.IN_PROGRESS,
    Stage.ADMITTED: PublicStage.ADMITTED,
    Stage.NURTURE: PublicStage.NURTURE,
    Stage.REFERRED_OUT: PublicStage.CLOSED,
    Stage.CLOSED: PublicStage.CLOSED,
    Stage.CRISIS_ROUTED: PublicStage.CLOSED,
    Stage.DUPLICATE: PublicStage.DUPLICATE,
    Stage.INVALID: PublicStage.INVALID,
}


def public_stage(stage: str) -> str:
    return PUBLIC_STAGE[stage].value


# --- the lead --------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadConsent:
    """Consent to be contacted, per channel, with the exact wording shown."""

    sms: bool = False
    email: bool = False
    call: bool = False
    text: str = ""
    captured_at: datetime | None = None
    ip: str | None = None
    page_url: str = ""


@dataclass(frozen=True)
class LeadData:
    """One lead as a source sent it (phone and email already normalised)."""

    first_name: str
    last_name: str = ""
    phone: str = ""
    email: str = ""
    date_of_birth: date | None = None
    postal_code: str = ""
    state: str = ""
    caller_relationship: str = ""
    substances: tuple[str, ...] = ()
    message: str = ""
    insurance_payer: str = ""
    insurance_member_id: str = ""
    consent: LeadConsent | None = None
    attribution: dict[str, str] = field(default_factory=dict)
    external_id: str = ""
    # True when ``phone`` and ``email`` were already normalised and validated (the API serializer
    # does both), so ingestion does not parse them a second time.
    contact_checked: bool = False

    def given_fields(self) -> list[str]:
        """Names (never values) of the fields the lead carried, for the audit trail."""
        names = [
            name
            for name in (
                "first_name",
                "last_name",
                "phone",
                "email",
                "date_of_birth",
                "postal_code",
                "state",
                "caller_relationship",
                "substances",
                "message",
                "external_id",
                "attribution",
            )
            if getattr(self, name)
        ]
        if self.insurance_payer or self.insurance_member_id:
            names.append("insurance")
        if self.consent is not None:
            names.append("consent")
        return names


class UnknownSubstances(ValueError):  # noqa: N818 - named for what the lead carried
    """The lead named substance codes that are not in the catalogue; nothing was written."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


@dataclass(frozen=True)
class LeadResult:
    inquiry: Inquiry
    created: bool

    @property
    def status(self) -> str:
        return "created" if self.created else "merged"

    @property
    def response_status(self) -> int:
        return 201 if self.created else 200


_CHANNEL_OF_KIND: dict[str, str] = {
    LeadSource.Kind.WEBSITE: Channel.WEB_FORM,
    LeadSource.Kind.DIRECTORY: Channel.WEB_FORM,
    LeadSource.Kind.CALL_TRACKING: Channel.PHONE,
    LeadSource.Kind.ADMIT_LINE: Channel.PHONE,
    LeadSource.Kind.CHAT: Channel.CHAT,
    LeadSource.Kind.REFERRAL: Channel.REFERRAL,
    LeadSource.Kind.WALK_IN: Channel.WALK_IN,
}


class LeadIdempotency(Protocol):
    """The Idempotency-Key of the request a lead came with, as ``lead_ingest`` sees it."""

    def probe_sql(self) -> tuple[str, dict[str, Any]] | None:
        """PostgreSQL: a query of one row (``locked``, ``body_locked``, ``record``) that claims the
        key, run first by the lead's lookup statement; None when there is nothing to claim."""

    def check(self, probed: dict[str, Any] | None = None) -> None:
        """In the lead's transaction, before anything is written: raise to refuse (409, 422) or to
        replay. ``probed``: the row of ``probe_sql``, when the lookup statement read it."""

    def complete(self, result: LeadResult) -> None:
        """Last thing in the lead's transaction: store the result for later replays."""


def substance_ids_for(*, codes: Iterable[str]) -> dict[str, int]:
    """Catalogue ids of the given substance codes (unknown codes are absent)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    # Every lead asks this; plain SQL costs a fraction of building the ORM query.
    with prepared_cursor() as cursor:
        cursor.execute(f"SELECT code, id FROM {Substance._meta.db_table} WHERE code = ANY(%s)", [wanted])  # noqa: S608
        return dict(cursor.fetchall())


def lead_ingest(
    *,
    lead: LeadData,
    source: LeadSource,
    actor_label: str,
    request: HttpRequest | None = None,
    idempotency: LeadIdempotency | None = None,
) -> LeadResult:
    """Normalise a lead, then merge it into the matching open inquiry or open a new one."""
    lead = _normalised(lead)
    try:
        return _ingest_once(
            lead=lead, source=source, actor_label=actor_label, request=request, idempotency=idempotency
        )
    except IntegrityError:
        # Two leads for the same new person raced: the loser's inquiry hit a partial unique
        # index. On retry the dedup query sees the winner's committed inquiry and merges.
        return _ingest_once(
            lead=lead, source=source, actor_label=actor_label, request=request, idempotency=idempotency
        )


def _normalised(lead: LeadData) -> LeadData:
    """Idempotent: values from the API serializer pass through unchanged."""
    if lead.contact_checked:
        phone, email = lead.phone, lead.email
    else:
        phone = phone_normalise(lead.phone) if lead.phone else ""
        email = email_normalise(lead.email) if lead.email else ""
    if not (phone or email):
        raise ValueError("A lead needs a phone number or an email address.")
    return LeadData(
        first_name=text_clean(lead.first_name),
        last_name=text_clean(lead.last_name),
        phone=phone,
        email=email,
        date_of_birth=lead.date_of_birth,
        postal_code=text_clean(lead.postal_code).upper(),
        state=text_clean(lead.state).upper(),
        caller_relationship=lead.caller_relationship,
        substances=tuple(dict.fromkeys(text_clean(c).lower() for c in lead.substances)),
        message=text_clean(lead.message, multiline=True),
        insurance_payer=text_clean(lead.insurance_payer),
        insurance_member_id=text_clean(lead.insurance_member_id),
        consent=lead.consent,
        attribution={k: text_clean(v) for k, v in lead.attribution.items() if v},
        external_id=text_clean(lead.external_id),
        contact_checked=True,
    )


@transaction.atomic
def _ingest_once(
    *,
    lead: LeadData,
    source: LeadSource,
    actor_label: str,
    request: HttpRequest | None,
    idempotency: LeadIdempotency | None,
) -> LeadResult:
    now = timezone.now()
    channel = _CHANNEL_OF_KIND.get(source.kind, Channel.WEB_FORM)
    campaign: Campaign | None
    # The Idempotency-Key is claimed by the lookup statement itself, before its row locks.
    found = _lead_lookup_postgresql(lead=lead, source=source, idempotency=idempotency, route_at=now)
    if idempotency is not None:
        idempotency.check(found.claim)
    person, candidates, campaign = found.person, found.candidates, found.campaign
    substance_ids, new_ids, routed = found.substance_ids, found.new_ids, found.routed
    open_match, external_id_taken = _inquiries_matching(lead=lead, source=source, candidates=candidates)
    touch = TouchData(channel=channel, lead_source=source, campaign=campaign, utm=lead.attribution)
    if unknown := sorted(code for code in lead.substances if code not in substance_ids):
        raise UnknownSubstances(unknown)  # before anything is written; the transaction rolls back
    # Every insert whose new id nobody reads goes out with the batch, in one statement at the end.
    with rows_insert_batch():
        if open_match is not None:
            inquiry, created = open_match, False
            added = touch_add(inquiry=inquiry, touch=touch, at=now)
            inquiry_event(
                inquiry=inquiry,
                kind=InquiryEvent.Kind.TOUCH,
                actor_label=actor_label,
                body=lead.message,
                data={"source": source.name, "channel": channel, "touch": added.pk},
                at=now,
            )
        else:
            # A source that reuses its id for a lead whose inquiry is closed gets a fresh inquiry.
            external_id = "" if external_id_taken else lead.external_id
            if person is None:
                person = Person(
                    pk=new_ids.person,
                    first_name=lead.first_name[:80],
                    last_name=lead.last_name[:80],
                    date_of_birth=lead.date_of_birth,
                    phone=lead.phone,
                    email=lead.email,
                    state=lead.state[:2],
                    postal_code=lead.postal_code[:10],
                    created_at=now,
                )
                rows_insert_later([person])  # at once where its key is not taken yet
            else:
                _person_fill_blanks(person=person, lead=lead)
            caller = None
            if lead.caller_relationship:
                caller = Caller(pk=new_ids.caller, relationship=lead.caller_relationship)
                rows_insert_later([caller])
            inquiry = inquiry_create(
                pk=new_ids.inquiry,
                routed=routed,
                person=person,
                facility=source.default_facility,
                touch=touch,
                caller=caller,
                actor_label=actor_label,
                phone=lead.phone,
                email=lead.email,
                message=lead.message,
                external_id=external_id,
                created_at=now,
            )
            created = True

        if substance_ids:
            records_insert_later(
                Inquiry.substances.through,
                [{"inquiry_id": inquiry.pk, "substance_id": pk} for pk in substance_ids.values()],
                ignore_conflicts=True,
            )
        if lead.insurance_payer or lead.insurance_member_id:
            # One primary policy per inquiry: a merged lead never overwrites what a coordinator has.
            records_insert_later(
                InsurancePolicy,
                [
                    {
                        "inquiry_id": inquiry.pk,
                        "rank": InsurancePolicy.Rank.PRIMARY,
                        "payer_name": lead.insurance_payer[:120],
                        "member_id": lead.insurance_member_id[:60],
                    }
                ],
                ignore_conflicts=True,
            )
        if lead.consent is not None:
            _consents_record(
                person_id=inquiry.person_id,
                lead=lead,
                consent=lead.consent,
                source=source,
                channel=channel,
                now=now,
            )
        result = LeadResult(inquiry=inquiry, created=created)
        audit = audit_values(
            action=AuditEvent.Action.API_WRITE,
            obj=inquiry,
            actor_label=actor_label,
            fields=[f"result:{result.status}", f"status:{result.response_status}", *lead.given_fields()],
            request=request,
        )
        records_insert_later(AuditEvent, [audit])
        if idempotency is not None:
            idempotency.complete(result)
    return result


def person_matching(*, phone: str, email: str) -> Person | None:
    """The person with the lead's phone (preferred) or email; one indexed query."""
    arms = [Q(phone=phone)] if phone else []
    if email:
        arms.append(Q(email=email))
    if not arms:
        return None
    match = functools.reduce(operator.or_, arms)
    # Neither ORDER BY nor LIMIT: with an order the planner may walk the primary key instead of
    # the two indexes, and with a limit it may read the table in heap order hoping to meet enough
    # matches early (it did, reading 75,000 people for a lead, when estimates were off). Matches
    # are a handful: leads and intake reuse the person with the phone or email they carry.
    candidates = list(Person.objects.filter(match))
    if not candidates:
        return None

    def rank(person: Person) -> tuple[bool, bool, int]:
        return (bool(phone) and str(person.phone) == phone, bool(email) and person.email == email, person.pk)

    return max(candidates, key=rank)


def lead_duplicates_query(
    *, lead: LeadData, source: LeadSource, person: Person | None
) -> models.QuerySet[Inquiry]:
    """Open inquiries with the lead's (or its person's) phone or email, the person's open inquiry,
    and any inquiry with the lead's external id. Every OR arm is served by a partial unique
    index, so the lookup never scans the table whatever its size."""
    phones = {p for p in (lead.phone, str(person.phone) if person and person.phone else "") if p}
    emails = {e for e in (lead.email, person.email if person else "") if e}
    open_ = Q(stage__in=_OPEN_STAGE_LIST)
    arms = [open_ & Q(phone=phone) for phone in sorted(phones)]
    arms += [open_ & Q(email=email) for email in sorted(emails)]
    if person is not None:
        arms.append(open_ & Q(person_id=person.pk))
    if lead.external_id:
        arms.append(Q(lead_source=source, external_id=lead.external_id))
    if not arms:
        return Inquiry.objects.none()
    return Inquiry.objects.filter(functools.reduce(operator.or_, arms))


# Columns the lookup reads: what ranking, merging, filling blanks and the response need.
def _columns_in_model_order(model: type[models.Model], names: set[str]) -> tuple[str, ...]:
    """``Model.from_db`` with some fields deferred expects them in the model's field order."""
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in names)


_PERSON_COLUMNS = _columns_in_model_order(
    Person, {"id", "phone", "email", "last_name", "date_of_birth", "postal_code", "state"}
)
_INQUIRY_COLUMNS = _columns_in_model_order(
    Inquiry, {"id", "person_id", "stage", "phone", "email", "external_id", "lead_source_id"}
)
# The open stages as literals, written like the partial unique indexes' predicates (constants from
# code, not input), and the arms for the matched person's own phone, email and id: each repeats an
# index predicate, so PostgreSQL serves it from that index with the person CTE's value as its key.
_OPEN_SQL = "stage IN ({})".format(", ".join(f"'{stage}'" for stage in _OPEN_STAGE_LIST))
_PERSON_DUPLICATE_ARMS = (
    f"({_OPEN_SQL} AND NOT (phone = '') AND phone = (SELECT phone FROM person))",  # noqa: S608 - constants only
    f"({_OPEN_SQL} AND NOT (email = '') AND email = (SELECT email FROM person))",  # noqa: S608 - constants only
    f"({_OPEN_SQL} AND person_id = (SELECT id FROM person))",  # noqa: S608 - constants only
)


@dataclass(frozen=True)
class NewIds:
    """Primary keys taken from their sequences before the rows exist, so that the rows, and those
    that point at them, can all go to the database in one statement (``rows_insert_batch``).
    A key left unused (the lead merged) is a gap in the sequence, as a rolled-back insert leaves."""

    person: int | None = None
    caller: int | None = None
    inquiry: int | None = None


@dataclass(frozen=True)
class LeadLookup:
    """What ``_lead_lookup_postgresql`` found for a lead."""

    person: Person | None
    candidates: list[Inquiry]  # locked
    campaign: Campaign | None
    substance_ids: dict[str, int]
    new_ids: NewIds
    routed: Routed  # the coordinator taken for a new inquiry (none when the lead merges)
    claim: dict[str, Any] | None  # the Idempotency-Key's claim row, for ``LeadIdempotency.check``


# Route only a lead that opens an inquiry: its claim held and no open inquiry to merge into.
_ROUTE_OPEN_MATCH = f"SELECT 1 FROM match WHERE {_OPEN_SQL}"  # noqa: S608 - constants only
_ROUTE_WHEN = f"CASE WHEN (SELECT locked FROM claim) THEN NOT EXISTS ({_ROUTE_OPEN_MATCH}) END"  # noqa: S608


def _lead_lookup_postgresql(
    *, lead: LeadData, source: LeadSource, idempotency: LeadIdempotency | None = None, route_at: datetime
) -> LeadLookup:
    """In one statement: the Idempotency-Key's claim (first), ``person_matching``,
    ``lead_duplicates_query`` (locked, unless the claim failed: a request refused with 409 waits
    for no row), routing when there is no open inquiry to merge into (the next coordinator on duty
    at the source's facility, stamped at ``route_at``), the campaign, the catalogue ids of the
    lead's substance codes (``substance_ids_for``) and the new rows' keys (``NewIds``: the
    person's only when none matched, the caller's only for a lead with one).

    The person is ranked in SQL exactly as ``person_matching`` ranks it in Python, and the
    duplicate arms are those of ``lead_duplicates_query``: the arms for the person's own phone and
    email repeat the partial indexes' predicates, so those arms are index scans too."""
    probe = idempotency.probe_sql() if idempotency is not None else None
    claim_sql, claim_params = probe or (
        "SELECT true AS locked, true AS body_locked, NULL::json AS record",
        {},
    )
    params: dict[str, Any] = {
        **claim_params,
        **coordinator_take_params(facility=source.default_facility, at=route_at),
        "phone": lead.phone,
        "email": lead.email,
        "source": source.pk,
        "external_id": lead.external_id,
        "campaign": lead.attribution.get("utm_campaign", ""),
        "caller": bool(lead.caller_relationship),
        "codes": list(lead.substances),
    }
    person_arms = [
        arm for arm, given in (("phone = %(phone)s", lead.phone), ("email = %(email)s", lead.email)) if given
    ]
    inquiry_arms = list(_PERSON_DUPLICATE_ARMS)
    if lead.phone:
        inquiry_arms.insert(0, f"({_OPEN_SQL} AND NOT (phone = '') AND phone = %(phone)s)")
    if lead.email:
        inquiry_arms.insert(0, f"({_OPEN_SQL} AND NOT (email = '') AND email = %(email)s)")
    if lead.external_id:
        inquiry_arms.append(
            "(lead_source_id = %(source)s AND NOT (external_id = '') AND external_id = %(external_id)s)"
        )
    # Neither ORDER BY nor LIMIT in the candidate scan (see ``person_matching``).
    sql = f"""
        WITH claim AS MATERIALIZED ({claim_sql}),
        candidate AS MATERIALIZED (
            SELECT {", ".join(_PERSON_COLUMNS)} FROM {Person._meta.db_table}
            WHERE {" OR ".join(person_arms) or "false"}
        ), person AS (
            SELECT * FROM candidate
            ORDER BY (%(phone)s <> '' AND phone = %(phone)s) DESC,
                (%(email)s <> '' AND email = %(email)s) DESC, id DESC
            LIMIT 1
        ), match AS MATERIALIZED (
            SELECT {", ".join(_INQUIRY_COLUMNS)} FROM {Inquiry._meta.db_table}
            WHERE {" OR ".join(inquiry_arms)}
            FOR UPDATE
        ), owner AS ({coordinator_take_sql(_ROUTE_WHEN)})
        SELECT
            (SELECT row_to_json(claim) FROM claim),
            (SELECT row_to_json(person) FROM person),
            CASE WHEN (SELECT locked FROM claim)
                THEN (SELECT coalesce(json_agg(match), '[]'::json) FROM match) END,
            (SELECT id FROM {Campaign._meta.db_table}
             WHERE %(campaign)s <> '' AND lead_source_id = %(source)s AND utm_campaign = %(campaign)s
             ORDER BY id LIMIT 1),
            (SELECT coalesce(json_object_agg(code, id), '{{}}') FROM {Substance._meta.db_table}
             WHERE code = ANY(%(codes)s::text[])),
            CASE WHEN NOT EXISTS (SELECT 1 FROM person) THEN nextval({_sequence(Person)}) END,
            CASE WHEN %(caller)s THEN nextval({_sequence(Caller)}) END,
            nextval({_sequence(Inquiry)}),
            (SELECT id FROM owner)
    """  # noqa: S608 - only names from the models are interpolated; every value is a parameter
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        claim, person_row, inquiry_rows, campaign_id, substance_ids, *new_ids, owner_id = cursor.fetchone()
    person = None
    if person_row is not None:
        birth = person_row["date_of_birth"]
        person_row["date_of_birth"] = date.fromisoformat(birth) if birth else None
        person_row["phone"] = _PERSON_PHONE.to_python(person_row["phone"])
        person = Person.from_db("default", list(_PERSON_COLUMNS), [person_row[c] for c in _PERSON_COLUMNS])
    candidates = [
        Inquiry.from_db("default", list(_INQUIRY_COLUMNS), [row[c] for c in _INQUIRY_COLUMNS])
        for row in inquiry_rows or ()
    ]
    campaign = Campaign.from_db("default", ["id"], [campaign_id]) if campaign_id is not None else None
    routed = Routed(owner_id)
    return LeadLookup(
        person, candidates, campaign, substance_ids, NewIds(*new_ids), routed, claim if probe else None
    )


def _sequence(model: type[models.Model]) -> str:
    """SQL naming the sequence of ``model``'s primary key (constants from the model only)."""
    return f"pg_get_serial_sequence('{model._meta.db_table}', '{model._meta.pk.column}')"  # type: ignore[union-attr]


_PERSON_PHONE: models.Field = Person._meta.get_field("phone")  # type: ignore[type-arg,assignment]


def _inquiries_matching(
    *, lead: LeadData, source: LeadSource, candidates: list[Inquiry]
) -> tuple[Inquiry | None, bool]:
    """The open inquiry this lead joins, and whether its external id is already used.

    ``candidates`` are the rows of ``lead_duplicates_query``, already locked."""
    external_id_taken = bool(lead.external_id) and any(
        c.lead_source_id == source.pk and c.external_id == lead.external_id for c in candidates
    )
    open_candidates = [c for c in candidates if c.stage in OPEN_STAGES]
    if not open_candidates:
        return None, external_id_taken

    def rank(inquiry: Inquiry) -> tuple[bool, bool, bool, int]:
        return (
            bool(lead.external_id) and inquiry.external_id == lead.external_id,
            bool(lead.phone) and str(inquiry.phone) == lead.phone,
            bool(lead.email) and inquiry.email == lead.email,
            -inquiry.pk,
        )

    return max(open_candidates, key=rank), external_id_taken


def _person_fill_blanks(*, person: Person, lead: LeadData) -> None:
    """Add what the lead knows and the person record lacks; never overwrite."""
    changes: dict[str, object] = {}
    if lead.email and not person.email:
        changes["email"] = lead.email
    if lead.phone and not person.phone:
        changes["phone"] = lead.phone
    if lead.last_name and not person.last_name:
        changes["last_name"] = lead.last_name[:80]
    if lead.date_of_birth and not person.date_of_birth:
        changes["date_of_birth"] = lead.date_of_birth
    if lead.postal_code and not person.postal_code:
        changes["postal_code"] = lead.postal_code[:10]
    if lead.state and not person.state:
        changes["state"] = lead.state[:2]
    if changes:
        Person.objects.filter(pk=person.pk).update(**changes)
        for name, value in changes.items():
            setattr(person, name, value)


def _consents_record(
    *, person_id: int, lead: LeadData, consent: LeadConsent, source: LeadSource, channel: str, now: datetime
) -> None:
    wanted = [
        (ContactConsent.Medium.SMS, consent.sms, lead.phone),
        (ContactConsent.Medium.CALL, consent.call, lead.phone),
        (ContactConsent.Medium.EMAIL, consent.email, lead.email),
    ]
    label = f"{source.name} {Channel(channel).label.lower()}"[:60]
    records = [
        {
            "person_id": person_id,
            "medium": medium,
            "address": address,
            "source": label,
            "consent_text": consent.text,
            "captured_at": consent.captured_at or now,
            "ip": consent.ip or None,
            "page_url": consent.page_url[:500],
        }
        for medium, given, address in wanted
        if given and address
    ]
    # An active consent for the same address and medium is already on file: keep it.
    records_insert_later(ContactConsent, records, ignore_conflicts=True)


def idempotency_records_purge() -> int:
    """Delete Idempotency-Key records past their 72 hours (beat runs this hourly); returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
