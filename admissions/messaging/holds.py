"""Messaging holds: a crisis routing or an unclear reply stops automated messages to a person
until someone allowed to decides otherwise."""

from __future__ import annotations

from datetime import datetime

from django.db import models, transaction
from django.db.models import Case, Exists, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from admissions.followup_policy import NOT_AUTOMATED, PENDING
from admissions.messaging.mediums import MEDIUMS
from admissions.messaging.models import InboundMessage, MessagingHold
from admissions.messaging.reviews import coordinator_review_create
from admissions.models import FollowUp, Inquiry, InquiryEvent, Person
from admissions.services import inquiry_event
from crm.models import User
from crm.roles import Role, has_role


def hold_reason(person_id: int | OuterRef) -> Case:
    """An expression giving why automated messages to the person are held, or "".

    ``person_id``: the person's id, or an ``OuterRef`` to it in the query annotated. Held: an
    active ``MessagingHold``; or a crisis routing no crisis hold covers (an inquiry of the
    person crisis-routed after the newest crisis hold started, or with none at all), so a
    routing that bypassed ``inquiry_advance`` still stops marketing.
    """
    of_person = Q(person_id=person_id)  # an int or an OuterRef
    active = MessagingHold.objects.filter(of_person, released_at__isnull=True)
    crisis_holds = MessagingHold.objects.filter(
        person_id=OuterRef("person_id"), reason=MessagingHold.Reason.CRISIS
    )
    uncovered = Inquiry.objects.filter(of_person, crisis_routed_at__isnull=False).filter(
        Q(crisis_routed_at__gt=Subquery(crisis_holds.order_by("-started_at").values("started_at")[:1]))
        | ~Exists(crisis_holds)
    )
    return Case(
        When(Exists(active), then=Subquery(active.order_by("started_at").values("reason")[:1])),
        When(Exists(uncovered), then=Value(MessagingHold.Reason.CRISIS.value)),
        default=Value(""),
    )


def messaging_held(*, person_id: int) -> str:
    """Why automated messages to the person are held ("" when they are not)."""
    found = (
        Person.objects.filter(pk=person_id).annotate(why=hold_reason(person_id)).values_list("why", flat=True)
    )
    return str(next(iter(found), "") or "")


def people_held(person_ids: set[int]) -> set[int]:
    """Which of these people have automated messages held (one query)."""
    if not person_ids:
        return set()
    rows = Person.objects.filter(pk__in=person_ids).annotate(why=hold_reason(OuterRef("pk")))
    return {pk for pk, why in rows.values_list("pk", "why") if why}


HOLD_REASONS = {
    MessagingHold.Reason.CRISIS.value: "crisis routing: no marketing until a clinician allows it",
    MessagingHold.Reason.UNCLEAR_REPLY.value: "an unclear reply: held until a coordinator checks it",
}


def _automated_pending(person_ids: list[int]) -> models.QuerySet[FollowUp]:
    return FollowUp.objects.filter(
        inquiry__person_id__in=person_ids, state__in=PENDING, channel__in=list(MEDIUMS)
    ).exclude(kind__in=NOT_AUTOMATED)


def unclear_reply_hold(
    *, people: list[Person], inquiry: Inquiry | None, inbound: InboundMessage, now: datetime
) -> int:
    """A reply that may be an opt-out: hold automated messages and ask a coordinator.

    Consent stays as it is (the person may not have meant it); nothing automated goes until
    a coordinator who asked releases the hold or records the opt-out."""
    person_ids = [p.pk for p in people]
    for person in people:
        if not MessagingHold.objects.filter(person=person, released_at__isnull=True).exists():
            MessagingHold.objects.create(
                person=person, inquiry=inquiry, reason=MessagingHold.Reason.UNCLEAR_REPLY, started_at=now
            )
    stopped = _automated_pending(person_ids).update(
        state=FollowUp.State.CANCELLED, finished_at=now, outcome="held: unclear reply"
    )
    if inquiry is not None:
        inquiry_event(
            inquiry=inquiry,
            kind=InquiryEvent.Kind.NOTE,
            actor_label="follow-up",
            body="The person's reply may be an opt-out: automated messages are held. Ask them, then "
            "record the opt-out or allow messages again.",
            data={"alert": True, "inbound": inbound.pk, "held": True, "cadence_stopped": stopped},
            at=now,
        )
        coordinator_review_create(
            inquiry=inquiry,
            key=f"inbound:{inbound.pk}",
            note=f"A {inbound.get_channel_display().lower()} reply may be an opt-out: ask the person.",
            now=now,
        )
    return stopped


def crisis_hold_start(*, inquiry: Inquiry, actor: User | None, at: datetime) -> MessagingHold:
    """A crisis routing stops automated marketing to the person until a clinician allows it.

    Called by ``inquiry_advance`` on every move to Crisis routed, whoever made it."""
    existing = MessagingHold.objects.filter(
        person_id=inquiry.person_id, reason=MessagingHold.Reason.CRISIS, released_at__isnull=True
    ).first()
    if existing is not None:
        return existing
    hold = MessagingHold.objects.create(
        person_id=inquiry.person_id,
        inquiry=inquiry,
        reason=MessagingHold.Reason.CRISIS,
        started_at=at,
        started_by=actor if actor is not None and actor.is_authenticated else None,
    )
    _automated_pending([inquiry.person_id]).update(
        state=FollowUp.State.CANCELLED, finished_at=at, outcome="crisis routing"
    )
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.NOTE,
        actor_label="follow-up",
        body="Crisis routing: automated marketing to this person stops until a clinician allows it.",
        data={"messaging_hold": hold.pk, "held": True},
        at=at,
    )
    return hold


class HoldReleaseError(ValueError):
    """The user may not release this hold, or it is released already."""


@transaction.atomic
def messaging_hold_release(*, hold: MessagingHold, actor: User, note: str) -> MessagingHold:
    """Allow automated messages again: a clinician for a crisis hold, a coordinator, manager or
    clinician for an unclear reply. The decision and its reason go on the timeline."""
    hold = MessagingHold.objects.select_for_update().get(pk=hold.pk)
    note = " ".join(note.split())[:300]
    if hold.released_at is not None:
        raise HoldReleaseError("Already allowed again.")
    if hold.reason == MessagingHold.Reason.CRISIS and not has_role(actor, Role.CLINICAL_REVIEWER):
        raise HoldReleaseError("Only a clinician may allow marketing again after a crisis routing.")
    if not has_role(actor, Role.CLINICAL_REVIEWER, Role.COORDINATOR, Role.MANAGER):
        raise HoldReleaseError("You may not allow automated messages again.")
    if not note:
        raise HoldReleaseError("Say why (the decision goes on the timeline).")
    now = timezone.now()
    hold.released_at, hold.released_by, hold.release_note = now, actor, note
    hold.save(update_fields=["released_at", "released_by", "release_note"])
    inquiry = hold.inquiry or Inquiry.objects.filter(person_id=hold.person_id).order_by("-created_at").first()
    if inquiry is not None:
        inquiry_event(
            inquiry=inquiry,
            kind=InquiryEvent.Kind.NOTE,
            actor=actor,
            body=f"Automated messages allowed again ({hold.get_reason_display().lower()}): {note}",
            data={"messaging_hold": hold.pk, "released": True, "reason": hold.reason},
            at=now,
        )
    return hold
