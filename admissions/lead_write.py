"""The lead write: a lead becomes a new inquiry, or a touch on the open inquiry it duplicates.

One module owns every statement of it: the Idempotency-Key's claim, the lookup of the person and
of duplicates, routing, and the inserts; all in one transaction (``lead_ingest``). People,
consents and insurance are written by the same functions for a lead and for a coordinator's
intake (``person_for``, ``consents_record``, ``insurance_record``), so both doors keep one set
of fill-in and consent rules.

Concurrent leads for the same person never race to a unique index: each lead first takes
transaction-scoped advisory locks on what identifies it (phone, email, the source's id for it),
so a second lead for a person waits for the first to commit and then finds its inquiry and
merges. The server never refuses an insert, so it never logs the key of a refused one. Rows
that may exist already (consents, substances, insurance, follow-ups) go in with
``INSERT ... ON CONFLICT DO NOTHING`` (``bulk_create(ignore_conflicts=True)``).
"""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from admissions.cross_facility import lead_joined_elsewhere
from admissions.leads import LeadConsent, LeadData, LeadResult, UnknownSubstances
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
from admissions.pipeline import OPEN_STAGES
from admissions.services import TouchData, inquiry_create, inquiry_event, touch_add
from crm import phones
from crm.audit import audit_record
from crm.models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

    from crm.models import User
    from programs.models import Payer

_OPEN_STAGE_LIST = sorted(OPEN_STAGES)  # the same list as the partial unique indexes use

# The channel a lead arrives by, from its source's kind.
CHANNEL_OF_KIND: dict[str, str] = {
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

    def check(self) -> None:
        """First thing in the lead's transaction: claim the key, or raise to refuse (409, 422) or
        to replay."""

    def complete(self, result: LeadResult) -> None:
        """Last thing in the lead's transaction: store the result for later replays."""


# --- people, consents and insurance: the same rules for a lead and for an intake ---------------


@dataclass(frozen=True)
class PersonDetails:
    """What a lead or a call says about the person (phone and email normalised)."""

    first_name: str
    last_name: str = ""
    phone: str = ""
    email: str = ""
    date_of_birth: date | None = None
    state: str = ""
    postal_code: str = ""
    ok_to_text: bool | None = None
    ok_to_voicemail: bool | None = None
    gender: str = ""
    time_zone: str = ""
    preferred_language: str = ""


# Filled in on a known person only where the record is blank; never overwritten.
_FILL_BLANKS = ("last_name", "phone", "email", "date_of_birth", "state", "postal_code", "gender", "time_zone")
# Answers the person gave now: the latest answer wins.
_LATEST_ANSWER = ("ok_to_text", "ok_to_voicemail")


def person_matching(*, phone: str, email: str, for_update: bool = False) -> Person | None:
    """The person with the phone (preferred) or email; one indexed query. ``for_update``: lock
    the person's row (a lead about to open an inquiry for them)."""
    arms = [Q(phone=phone)] if phone else []
    if email:
        arms.append(Q(email=email))
    if not arms:
        return None
    people = Person.objects.filter(functools.reduce(operator.or_, arms))
    # Neither ORDER BY nor LIMIT: with an order the planner may walk the primary key instead of
    # the two indexes, and with a limit it may read the table in heap order hoping to meet enough
    # matches early. Matches are a handful: leads and intake reuse the person with the phone or
    # email they carry.
    candidates = list(people.select_for_update() if for_update else people)
    if not candidates:
        return None

    def rank(person: Person) -> tuple[bool, bool, int]:
        return (bool(phone) and str(person.phone) == phone, bool(email) and person.email == email, person.pk)

    return max(candidates, key=rank)


def person_fill_blanks(*, person: Person, details: PersonDetails, replace: Iterable[str] = ()) -> Person:
    """Add what is new to a known person: blanks filled, never overwritten; consent-like answers
    (ok to text, ok to leave a voicemail) given now replace older ones. ``replace`` names further
    fields whose answer given now replaces the record (a pre-screen's newer answer)."""
    changes: dict[str, object] = {}
    newer = set(replace)
    for name in (*_FILL_BLANKS, "preferred_language"):
        value = _fitted(name, getattr(details, name))
        if value and (not getattr(person, name) or name in newer) and value != getattr(person, name):
            changes[name] = value
    for name in _LATEST_ANSWER:
        value = getattr(details, name)
        if value is not None and value != getattr(person, name):
            changes[name] = value
    if changes:
        Person.objects.filter(pk=person.pk).update(**changes)
        for name, value in changes.items():
            setattr(person, name, value)
    return person


def person_for(*, details: PersonDetails, for_update: bool = False) -> tuple[Person, bool]:
    """The known person with this phone (preferred) or email, blanks filled; else a new person.
    Returns the person and whether it was created."""
    found = person_matching(phone=details.phone, email=details.email, for_update=for_update)
    if found is not None:
        return person_fill_blanks(person=found, details=details), False
    return _person_create(details), True


def _person_create(details: PersonDetails) -> Person:
    values = {f: _fitted(f, getattr(details, f)) for f in ("first_name", *_FILL_BLANKS, *_LATEST_ANSWER)}
    if details.preferred_language:
        values["preferred_language"] = _fitted("preferred_language", details.preferred_language)
    return Person.objects.create(**values)


def _fitted(name: str, value: object) -> object:
    """A text value cut to its column's length (a source's text may be longer than ours)."""
    if isinstance(value, str):
        max_length = getattr(Person._meta.get_field(name), "max_length", None)
        return value[:max_length] if max_length else value
    return value


@dataclass(frozen=True)
class ConsentGiven:
    """Consent to be contacted, per medium, with the wording and where it was captured."""

    sms: bool = False
    email: bool = False
    call: bool = False
    text: str = ""
    source: str = ""
    captured_at: datetime | None = None
    captured_by: User | None = None
    ip: str | None = None
    page_url: str = ""


def consents_record(*, person_id: int, phone: str, email: str, consent: ConsentGiven) -> list[ContactConsent]:
    """Record the consents given, each for the address it covers (no address, no consent). An
    active consent for the same medium and address is kept as it is."""
    now = timezone.now()
    consents = [
        ContactConsent(
            person_id=person_id,
            medium=medium,
            address=address,
            source=consent.source[:60],
            consent_text=consent.text,
            captured_at=consent.captured_at or now,
            captured_by=consent.captured_by,
            ip=consent.ip or None,
            page_url=consent.page_url[:500],
        )
        for medium, given, address in (
            (ContactConsent.Medium.SMS, consent.sms, phone),
            (ContactConsent.Medium.CALL, consent.call, phone),
            (ContactConsent.Medium.EMAIL, consent.email, email),
        )
        if given and address
    ]
    ContactConsent.objects.bulk_create(consents, ignore_conflicts=True)
    return consents


def consents_revoke(*, person_id: int, medium: str, address: str, source: str) -> int:
    """The person said no: revoke their active consents for ``medium`` at ``address``; returns how
    many. Consents at other addresses and for other media stay as they are."""
    if not address:
        return 0
    return ContactConsent.objects.filter(
        person_id=person_id, medium=medium, address=address, revoked_at__isnull=True
    ).update(revoked_at=timezone.now(), revocation_source=source[:120])


def insurance_record(
    *, inquiry: Inquiry, payer: Payer | None = None, payer_name: str = "", member_id: str = ""
) -> None:
    """The inquiry's primary insurance as given; one that is on file already is kept."""
    if payer is None and not payer_name and not member_id:
        return
    policy = InsurancePolicy(
        inquiry=inquiry,
        rank=InsurancePolicy.Rank.PRIMARY,
        payer=payer,
        payer_name=payer_name[:120],
        member_id=member_id[:60],
    )
    InsurancePolicy.objects.bulk_create([policy], ignore_conflicts=True)


# --- the lead ---------------------------------------------------------------------------------


def lead_ingest(
    *,
    lead: LeadData,
    source: LeadSource,
    actor_label: str,
    request: HttpRequest | None = None,
    idempotency: LeadIdempotency | None = None,
) -> LeadResult:
    """Normalise a lead, then merge it into the matching open inquiry or open a new one."""
    lead = _normalised(lead, region=phones.region_of(source.default_facility.phone))
    try:
        return _ingest_once(
            lead=lead, source=source, actor_label=actor_label, request=request, idempotency=idempotency
        )
    except IntegrityError:
        # A lead whose person was found by email while another lead found the same phone on
        # another person: the identity locks did not meet. On retry the lookup sees the winner.
        return _ingest_once(
            lead=lead, source=source, actor_label=actor_label, request=request, idempotency=idempotency
        )


def _normalised(lead: LeadData, *, region: str) -> LeadData:
    """Idempotent: values from the API serializer pass through unchanged."""
    if lead.contact_checked:
        phone, email = lead.phone, lead.email
    else:
        phone = phone_normalise(lead.phone, region=region) if lead.phone else ""
        email = email_normalise(lead.email) if lead.email else ""
    if not (phone or email):
        raise ValueError("A lead needs a phone number or an email address.")
    return replace(
        lead,
        first_name=text_clean(lead.first_name),
        last_name=text_clean(lead.last_name),
        phone=phone,
        email=email,
        postal_code=text_clean(lead.postal_code).upper(),
        state=text_clean(lead.state).upper(),
        substances=tuple(dict.fromkeys(text_clean(c).lower() for c in lead.substances)),
        message=text_clean(lead.message, multiline=True),
        insurance_payer=text_clean(lead.insurance_payer),
        insurance_member_id=text_clean(lead.insurance_member_id),
        attribution={k: text_clean(v) for k, v in lead.attribution.items() if v},
        external_id=text_clean(lead.external_id),
        contact_checked=True,
    )


def substance_ids_for(*, codes: Iterable[str]) -> dict[str, int]:
    """Catalogue ids of the given substance codes (unknown codes are absent)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    return dict(Substance.objects.filter(code__in=wanted).values_list("code", "pk"))


_IDENTITY_LOCK_NAMESPACE = "admissions.lead.identity"


def _identity_lock_ids(*, lead: LeadData, source: LeadSource) -> list[int]:
    """Advisory lock ids for what identifies a lead, sorted so two leads take them in one order."""
    keys = [("phone", lead.phone), ("email", lead.email), ("external_id", source.pk, lead.external_id)]
    return sorted(
        int.from_bytes(
            hashlib.blake2b(repr((_IDENTITY_LOCK_NAMESPACE, *key)).encode(), digest_size=8).digest(),
            "big",
            signed=True,
        )
        for key in keys
        if key[-1]
    )


def _identity_lock(*, lead: LeadData, source: LeadSource) -> None:
    """Wait until no other transaction writes a lead with this phone, email or external id
    (transaction-scoped: released when the lead commits or rolls back)."""
    ids = _identity_lock_ids(lead=lead, source=source)
    with connection.cursor() as cursor:
        # Locks taken in the order given, one statement; no ORM expression takes an advisory lock.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(id) FROM unnest(%s::bigint[]) AS id",
            [ids],
        )


def lead_duplicates_query(
    *, lead: LeadData, source: LeadSource, person: Person | None
) -> models.QuerySet[Inquiry]:
    """Open inquiries with the lead's (or its person's) phone or email, the person's open inquiry,
    and any inquiry with the lead's external id. Every OR arm is served by a partial unique
    index, so the lookup never scans the table whatever its size."""
    phone_values = {p for p in (lead.phone, str(person.phone) if person and person.phone else "") if p}
    emails = {e for e in (lead.email, person.email if person else "") if e}
    open_ = Q(stage__in=_OPEN_STAGE_LIST)
    arms = [open_ & Q(phone=phone) for phone in sorted(phone_values)]
    arms += [open_ & Q(email=email) for email in sorted(emails)]
    if person is not None:
        arms.append(open_ & Q(person_id=person.pk))
    if lead.external_id:
        arms.append(Q(lead_source=source, external_id=lead.external_id))
    if not arms:
        return Inquiry.objects.none()
    return Inquiry.objects.filter(functools.reduce(operator.or_, arms))


def inquiries_matching(
    *, lead: LeadData, source: LeadSource, candidates: list[Inquiry]
) -> tuple[Inquiry | None, bool]:
    """The open inquiry this lead joins among ``candidates`` (the rows of ``lead_duplicates_query``),
    and whether its external id is already used: the dedup rule every door shares."""
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
    if idempotency is not None:
        idempotency.check()  # first: a request refused with 409 waits for no lock
    substance_ids = substance_ids_for(codes=lead.substances)
    if unknown := sorted(code for code in lead.substances if code not in substance_ids):
        raise UnknownSubstances(unknown)  # before anything is written; the transaction rolls back
    _identity_lock(lead=lead, source=source)
    details = PersonDetails(
        first_name=lead.first_name,
        last_name=lead.last_name,
        phone=lead.phone,
        email=lead.email,
        date_of_birth=lead.date_of_birth,
        state=lead.state,
        postal_code=lead.postal_code,
    )
    person = person_matching(phone=lead.phone, email=lead.email, for_update=True)
    candidates = list(lead_duplicates_query(lead=lead, source=source, person=person).select_for_update())
    open_match, external_id_taken = inquiries_matching(lead=lead, source=source, candidates=candidates)
    channel = CHANNEL_OF_KIND.get(source.kind, Channel.WEB_FORM)
    campaign_name = lead.attribution.get("utm_campaign", "")
    campaign = (
        Campaign.objects.filter(lead_source=source, utm_campaign=campaign_name).order_by("pk").first()
        if campaign_name
        else None
    )
    touch = TouchData(channel=channel, lead_source=source, campaign=campaign, utm=lead.attribution)
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
        if inquiry.facility_id != source.default_facility_id:  # for a manager of both facilities
            lead_joined_elsewhere(
                inquiry=inquiry,
                lead=lead,
                source=source,
                person=person,
                actor_label=actor_label,
                request=request,
            )
    else:
        if person is None:
            person = _person_create(details)
        else:
            person_fill_blanks(person=person, details=details)
        caller = (
            Caller.objects.create(relationship=lead.caller_relationship) if lead.caller_relationship else None
        )
        inquiry = inquiry_create(
            person=person,
            facility=source.default_facility,
            touch=touch,
            caller=caller,
            actor_label=actor_label,
            phone=lead.phone,
            email=lead.email,
            message=lead.message,
            # A source that reuses its id for a lead whose inquiry is closed gets a fresh inquiry.
            external_id="" if external_id_taken else lead.external_id,
            created_at=now,
        )
        created = True
    if substance_ids:
        Inquiry.substances.through.objects.bulk_create(
            [
                Inquiry.substances.through(inquiry_id=inquiry.pk, substance_id=pk)
                for pk in substance_ids.values()
            ],
            ignore_conflicts=True,
        )
    insurance_record(inquiry=inquiry, payer_name=lead.insurance_payer, member_id=lead.insurance_member_id)
    if lead.consent is not None:
        consents_record(
            person_id=inquiry.person_id,
            phone=lead.phone,
            email=lead.email,
            consent=_consent_given(lead.consent, source=source, channel=channel),
        )
    result = LeadResult(inquiry=inquiry, created=created)
    audit_record(
        action=AuditEvent.Action.API_WRITE,
        obj=inquiry,
        actor_label=actor_label,
        fields=[f"result:{result.status}", f"status:{result.response_status}", *lead.given_fields()],
        request=request,
    )
    if idempotency is not None:
        idempotency.complete(result)
    return result


def _consent_given(consent: LeadConsent, *, source: LeadSource, channel: str) -> ConsentGiven:
    return ConsentGiven(
        sms=consent.sms,
        email=consent.email,
        call=consent.call,
        text=consent.text,
        source=f"{source.name} {Channel(channel).label.lower()}",
        captured_at=consent.captured_at,
        ip=consent.ip,
        page_url=consent.page_url,
    )


def idempotency_records_purge() -> int:
    """Delete Idempotency-Key records past their 72 hours (beat runs this hourly); returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
