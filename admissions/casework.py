"""Writes behind the coordinator pages: quick intake, notes, call-backs, insurance, merging.

Stage changes still go through ``admissions.services.inquiry_advance``; this module only adds
what a person on the phone does that the lead API does not.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from admissions.cross_facility import INTAKE_PAUSED, intake_paused_for
from admissions.lead_write import ConsentGiven, PersonDetails, consents_record, insurance_record, person_for
from admissions.models import (
    Caller,
    Channel,
    CrossFacilityDuplicate,
    FollowUp,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    LeadSource,
    Substance,
    Touch,
)
from admissions.normalise import text_clean
from admissions.pipeline import OPEN_STAGES, Stage, TransitionError
from admissions.services import TouchData, handoff_alert, inquiry_advance, inquiry_create, inquiry_event
from crm.audit import audit_list, audit_record
from crm.models import AuditEvent, Facility, User
from crm.roles import Role, has_role
from crm.scoping import facility_ids_for
from crm.time_zones import moment_text
from programs.models import Payer

if TYPE_CHECKING:
    from django.http import HttpRequest

OPEN_STAGE_LIST = sorted(OPEN_STAGES)


class CaseworkError(ValueError):
    """An action that cannot be done as asked; ``field`` names the form field to blame."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def open_inquiries_matching(*, phone: str = "", email: str = "") -> QuerySet[Inquiry]:
    """Open inquiries with this phone or email, on the inquiry or on its person.

    The inquiry arms are served by the partial unique indexes on open phone and email, the
    person arms by the person indexes; no arm scans a table.
    """
    arms = Q(pk__in=[])
    if phone:
        arms |= Q(phone=phone) | Q(person__phone=phone)
    if email:
        arms |= Q(email=email) | Q(person__email=email)
    return Inquiry.objects.filter(arms, stage__in=OPEN_STAGE_LIST)


@dataclass(frozen=True)
class IntakeData:
    """What a coordinator records in the first minute of a live call."""

    facility: Facility
    first_name: str
    last_name: str = ""
    phone: str = ""
    email: str = ""
    date_of_birth: date | None = None
    state: str = ""
    postal_code: str = ""
    caller_relationship: str = Caller.Relationship.SELF
    caller_name: str = ""
    caller_phone: str = ""
    lead_source: LeadSource | None = None
    substances: Iterable[Substance] = ()
    message: str = ""
    consent_sms: bool = False
    consent_email: bool = False
    consent_call: bool = False
    consent_text: str = ""
    ok_to_text: bool | None = None
    ok_to_voicemail: bool | None = None
    payer: Payer | None = None
    payer_name: str = ""
    member_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def refused_from_caller(self) -> str:
        """The first consent a caller who is not the person gave for them ("" if none): only the
        person can agree to texts, calls or emails (TCPA), as on the pre-screen."""
        if self.caller_relationship == Caller.Relationship.SELF:
            return ""
        given = (
            ("consent_sms", self.consent_sms),
            ("consent_call", self.consent_call),
            ("consent_email", self.consent_email),
            ("ok_to_text", self.ok_to_text),
        )
        return next((name for name, value in given if value), "")


ONLY_THE_PERSON_CONSENTS = (
    "Only the person can agree to texts, calls or emails; record their consent when you speak with them."
)


def _refuse_open_elsewhere(
    matches: list[Inquiry], *, data: IntakeData, actor: User, field: str, request: HttpRequest | None
) -> None:
    """Refuse an intake whose caller has an open inquiry: named when the coordinator may see it,
    otherwise neither named nor placed, and recorded for a manager (``CrossFacilityDuplicate``)."""
    allowed = facility_ids_for(actor)
    visible = [m for m in matches if allowed is None or m.facility_id in allowed]
    if visible:
        raise CaseworkError(
            f"Inquiry #{visible[0].pk} is already open for this phone or email; work that one.",
            field=field,
        )
    hidden = matches[0]
    matched_on = (
        CrossFacilityDuplicate.MatchedOn.PHONE
        if data.phone and data.phone in (hidden.phone, hidden.person.phone)
        else CrossFacilityDuplicate.MatchedOn.EMAIL
    )
    duplicate = CrossFacilityDuplicate.objects.create(
        inquiry=hidden, facility=data.facility, taken_by=actor, matched_on=matched_on
    )
    audit_record(
        action=AuditEvent.Action.CREATE, obj=duplicate, actor=actor, fields=["matched_on"], request=request
    )
    raise CaseworkError(HIDDEN_MATCH, field=field)


def intake_paused_audit(*, actor: User, what: str, request: HttpRequest | None) -> None:
    """An intake or duplicate check refused while the user's intake is paused: a ``list`` row
    naming no record (nothing was looked up), ``list:intake paused`` or ``list:duplicate check
    paused``."""
    audit_list(model=Inquiry, ids=[], actor=actor, what=f"{what} paused", request=request, even_empty=True)


def cross_facility_duplicates_for(user: User) -> QuerySet[CrossFacilityDuplicate]:
    """Unresolved possible duplicates the user may resolve: both facilities are theirs."""
    rows = CrossFacilityDuplicate.objects.filter(resolved_at__isnull=True)
    allowed = facility_ids_for(user)
    if allowed is not None:
        rows = rows.filter(inquiry__facility_id__in=allowed, facility_id__in=allowed)
    return rows.select_related("inquiry__person", "inquiry__facility", "facility", "taken_by", "lead_source")


def cross_facility_duplicate_resolve(
    *, duplicate: CrossFacilityDuplicate, resolution: str, actor: User
) -> CrossFacilityDuplicate:
    """Close a possible duplicate with how it was settled."""
    duplicate.resolution = CrossFacilityDuplicate.Resolution(resolution)
    duplicate.resolved_at, duplicate.resolved_by = timezone.now(), actor
    duplicate.save(update_fields=["resolution", "resolved_at", "resolved_by"])
    return duplicate


# An open inquiry of the caller at a facility the coordinator does not work at: said without
# naming it or where it is (42 CFR Part 2), and recorded for a manager of both facilities.
HIDDEN_MATCH = (
    "This caller cannot start a new inquiry here. A manager has been asked to review it: keep the "
    "caller's details, help them on this call, and do not open another inquiry for them."
)


def intake_create(*, data: IntakeData, actor: User, request: HttpRequest | None = None) -> Inquiry:
    """Open an inquiry from a live call: person, caller, consents given on the call, insurance.
    Refused, whatever the caller, while the user's intake is paused (``admissions.cross_facility``)."""
    if intake_paused_for(actor):
        intake_paused_audit(actor=actor, what="intake", request=request)
        raise CaseworkError(INTAKE_PAUSED)
    refused = data.refused_from_caller()
    if refused:
        raise CaseworkError(ONLY_THE_PERSON_CONSENTS, field=refused)
    field = "phone" if data.phone else "email"
    matches = list(open_inquiries_matching(phone=data.phone, email=data.email).order_by("pk")[:5])
    if matches:
        _refuse_open_elsewhere(matches, data=data, actor=actor, field=field, request=request)
    return _intake_open(data=data, actor=actor)


@transaction.atomic
def _intake_open(*, data: IntakeData, actor: User) -> Inquiry:
    # The same person, consent and insurance rules as a lead from the API (admissions.lead_write).
    person, _ = person_for(
        details=PersonDetails(
            first_name=data.first_name,
            last_name=data.last_name,
            phone=data.phone,
            email=data.email,
            date_of_birth=data.date_of_birth,
            state=data.state,
            postal_code=data.postal_code,
            ok_to_text=data.ok_to_text,
            ok_to_voicemail=data.ok_to_voicemail,
        )
    )
    caller = None
    if data.caller_relationship != Caller.Relationship.SELF or data.caller_name:
        caller = Caller.objects.create(
            relationship=data.caller_relationship,
            name=data.caller_name,
            phone=data.caller_phone,
        )
    try:
        with transaction.atomic():
            inquiry = inquiry_create(
                person=person,
                facility=data.facility,
                touch=TouchData(channel=Channel.PHONE, lead_source=data.lead_source),
                caller=caller,
                actor=actor,
                # the coordinator on the live call owns what it opens; anyone else's intake is routed
                assign_to=actor if has_role(actor, Role.COORDINATOR) else None,
                phone=data.phone,
                email=data.email,
                message=data.message,
                substances=list(data.substances),
            )
    except IntegrityError as exc:
        # The person already has an open inquiry under another phone or email.
        raise CaseworkError(
            "This person already has an open inquiry; search for them and work that one.",
            field="phone" if data.phone else "email",
        ) from exc
    consents = consents_record(
        person_id=person.pk,
        phone=data.phone,
        email=data.email,
        consent=ConsentGiven(
            sms=data.consent_sms,
            email=data.consent_email,
            call=data.consent_call,
            text=data.consent_text or "Verbal consent given on the call.",
            source="admit line call",
            captured_by=actor,
        ),
    )
    insurance_record(inquiry=inquiry, payer=data.payer, payer_name=data.payer_name, member_id=data.member_id)
    # The call that produced the intake is a conversation: the inquiry is contacted.
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.CALL,
        actor=actor,
        call_direction=InquiryEvent.CallDirection.INBOUND,
        call_outcome=InquiryEvent.CallOutcome.CONNECTED,
        body="Quick intake on the call.",
        data={"consents": sorted(c.medium for c in consents), "caller": data.caller_relationship},
    )
    return inquiry_advance(inquiry=inquiry, to=Stage.CONTACTED, actor=actor)


@transaction.atomic
def note_add(*, inquiry: Inquiry, actor: User, body: str) -> InquiryEvent:
    body = text_clean(body, multiline=True)
    if not body:
        raise CaseworkError("Write the note.", field="body")
    return inquiry_event(inquiry=inquiry, kind=InquiryEvent.Kind.NOTE, actor=actor, body=body)


@transaction.atomic
def callback_schedule(*, inquiry: Inquiry, actor: User, due_at: datetime, note: str = "") -> FollowUp:
    """A call-back at a time the coordinator chose; it shows in their due list and alerts when due."""
    if due_at <= timezone.now():
        raise CaseworkError("Choose a time in the future.", field="due_at")
    if not inquiry.is_open:
        raise CaseworkError("Call-backs are for open inquiries.", field="due_at")
    followup = FollowUp.objects.create(
        inquiry=inquiry,
        kind=FollowUp.Kind.CALLBACK,
        channel=FollowUp.Channel.TASK,
        due_at=due_at,
        dedupe_key=f"inquiry:{inquiry.pk}:callback:{uuid.uuid4().hex}",
    )
    when = moment_text(due_at, inquiry.facility)
    about = text_clean(note, multiline=True)
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.NOTE,
        actor=actor,
        body=f"Call-back planned for {when}" + (f": {about}" if about else "."),
        data={"callback_due": due_at.isoformat(), "followup": followup.pk},
    )
    return followup


VOB_STAMPS = {
    InsurancePolicy.VobStatus.REQUESTED: "vob_requested_at",
    InsurancePolicy.VobStatus.VIABLE: "vob_completed_at",
    InsurancePolicy.VobStatus.NOT_VIABLE: "vob_completed_at",
    InsurancePolicy.VobStatus.SELF_PAY: "vob_completed_at",
}


@transaction.atomic
def insurance_save(
    *,
    inquiry: Inquiry,
    actor: User,
    values: dict[str, object],
    source: str = "",
    body: str = "",
) -> InsurancePolicy:
    """Create or change the primary policy; the VOB status stamps its request and completion times.
    ``source`` names where the values came from (e.g. "pre-screen") and ``body`` says on the
    timeline what changed, in words that never repeat member ids."""
    policy = (
        InsurancePolicy.objects.select_for_update()
        .filter(inquiry=inquiry, rank=InsurancePolicy.Rank.PRIMARY)
        .first()
    ) or InsurancePolicy(inquiry=inquiry, rank=InsurancePolicy.Rank.PRIMARY)
    before = policy.vob_status if policy.pk else None
    changed = sorted(name for name, value in values.items() if getattr(policy, name) != value)
    for name, value in values.items():
        setattr(policy, name, value)
    stamp = VOB_STAMPS.get(policy.vob_status)  # type: ignore[call-overload]
    if stamp and policy.vob_status != before and getattr(policy, stamp) is None:
        setattr(policy, stamp, timezone.now())
    policy.save()
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.INSURANCE,
        actor=actor,
        body=body,
        # Field names only: the timeline never repeats member ids.
        data={"fields": changed, "vob_status": policy.vob_status, **({"from": source} if source else {})},
    )
    if before != policy.vob_status:
        _vob_hand_on(inquiry=inquiry, status=policy.vob_status, actor=actor)
    return policy


VOB_DONE = (InsurancePolicy.VobStatus.VIABLE, InsurancePolicy.VobStatus.SELF_PAY)


def _vob_hand_on(*, inquiry: Inquiry, status: str, actor: User) -> None:
    """A VOB request or result moves the work to whoever acts next: a request to the VOB queue; a
    result to clinical review, or past it to Approved when a clinician has signed off; a result
    that leaves the next step with the coordinator alerts them (unless they made it)."""
    stage, signed = inquiry.stage, inquiry.approved_level_id is not None
    owner_next = ""
    if status == InsurancePolicy.VobStatus.REQUESTED:
        if stage == Stage.PRESCREENED or (stage == Stage.CLINICAL_REVIEW and signed):
            inquiry_advance(inquiry=inquiry, to=Stage.INSURANCE_VERIFICATION, actor=actor)
    elif status in VOB_DONE:
        result = "self-pay" if status == InsurancePolicy.VobStatus.SELF_PAY else "benefits verified"
        if signed and stage in (Stage.INSURANCE_VERIFICATION, Stage.CLINICAL_REVIEW):
            inquiry_advance(inquiry=inquiry, to=Stage.APPROVED, actor=actor, reason=f"VOB: {result}")
            owner_next = f"VOB: {result}; the level is signed off. Hold a bed or slot and schedule."
        elif stage in (Stage.PRESCREENED, Stage.INSURANCE_VERIFICATION):
            inquiry_advance(inquiry=inquiry, to=Stage.CLINICAL_REVIEW, actor=actor, reason=f"VOB: {result}")
    elif status == InsurancePolicy.VobStatus.NOT_VIABLE and stage == Stage.INSURANCE_VERIFICATION:
        owner_next = "VOB: not viable. Talk through self-pay or a referral with the person."
    if owner_next and inquiry.assigned_to_id not in (None, actor.pk):
        handoff_alert(inquiry=inquiry, body=owner_next)


def same_caller(a: Inquiry, b: Inquiry) -> bool:
    """Whether two inquiries are plainly about one person: the same person record, or a phone
    number or email address in common (the person's or the inquiry's own)."""
    if a.person_id == b.person_id:
        return True
    phones = [{str(p) for p in (i.phone, i.person.phone) if p} for i in (a, b)]
    emails = [{e.strip().casefold() for e in (i.email, i.person.email) if e} for i in (a, b)]
    return bool(phones[0] & phones[1] or emails[0] & emails[1])


@transaction.atomic
def inquiry_merge(*, duplicate: Inquiry, into: Inquiry, actor: User, confirmed: bool = False) -> Inquiry:
    """Close ``duplicate`` as a duplicate of ``into``; its touches join the original's history.
    Two inquiries that share no person record, phone or email merge only when ``confirmed``: a
    mistyped number would otherwise fold one caller's history into a stranger's record."""
    if duplicate.pk == into.pk:
        raise CaseworkError("An inquiry cannot be merged into itself.", field="into")
    if into.stage in (Stage.DUPLICATE, Stage.INVALID):
        raise CaseworkError(
            f"Inquiry #{into.pk} is itself closed as {into.get_stage_display()}.", field="into"
        )
    if not confirmed and not same_caller(duplicate, into):
        raise CaseworkError(
            f"Inquiry #{into.pk} shares no person, phone or email with this one. Check the number, "
            "or tick “Same person” to merge anyway.",
            field="same_person",
        )
    try:
        inquiry_advance(
            inquiry=duplicate,
            to=Stage.DUPLICATE,
            actor=actor,
            duplicate_of=into,
            reason=f"Merged into inquiry #{into.pk}",
        )
    except TransitionError as exc:
        raise CaseworkError(str(exc), field="into") from exc
    moved = Touch.objects.filter(inquiry=duplicate).update(inquiry=into)
    inquiry_event(
        inquiry=into,
        kind=InquiryEvent.Kind.TOUCH,
        actor=actor,
        body=f"Inquiry #{duplicate.pk} merged into this one.",
        data={"merged": duplicate.pk, "touches": moved},
    )
    return into
