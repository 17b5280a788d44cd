"""Inbound texts and email replies: recorded on the timeline and acted on (opt-out, help,
re-subscribe, an unclear reply held for a coordinator, a reply that stops the cadence)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from admissions.followup_policy import PENDING, STOPPED_BY_REPLY
from admissions.messaging.holds import unclear_reply_hold
from admissions.messaging.mediums import e164
from admissions.messaging.models import InboundMessage, MessageTemplate
from admissions.messaging.opt_out import optout_apply, resubscribe_apply
from admissions.messaging.replies import email_reply_text, inbound_meaning, inbound_resubscribes
from admissions.messaging.templates import RESUBSCRIBED_CODE
from admissions.models import ContactConsent, FollowUp, Inquiry, InquiryEvent, Person
from admissions.pipeline import OPEN_STAGES, Stage
from admissions.services import dispatcher_kick, inquiry_event


class DuplicateInbound(Exception):
    """The provider's message id was seen before: a replay or a retried webhook."""


def _reply_followup(
    *, inquiry: Inquiry, kind: FollowUp.Kind, inbound: InboundMessage, template_code: str = ""
) -> FollowUp:
    return FollowUp.objects.create(
        inquiry=inquiry,
        kind=kind,
        channel=FollowUp.Channel.SMS,
        template_code=template_code,
        due_at=timezone.now(),
        dedupe_key=f"inbound:{inbound.pk}:{kind}",
    )


_MEANING_RANK = {"opt_out": 3, "unclear": 2, "reply": 1, "help": 0}


@transaction.atomic
def email_inbound_receive(
    *, provider_message_id: str, from_address: str, to_address: str, subject: str, text: str
) -> InboundMessage:
    """Record an email reply and act on it as on a text: opt-out, unclear (hold and ask), reply."""
    key = f"email:{provider_message_id}"[:200]  # never the same as a text's provider id
    if InboundMessage.objects.filter(provider_message_id=key).exists():
        raise DuplicateInbound(provider_message_id)
    now = timezone.now()
    sender = from_address.strip().lower()[:254]
    subject_line = email_reply_text(subject=subject, text="")
    own = email_reply_text(subject="", text=text)
    meaning = max((inbound_meaning(subject_line), inbound_meaning(own)), key=lambda m: _MEANING_RANK[str(m)])
    if meaning == InboundMessage.Meaning.HELP:
        meaning = InboundMessage.Meaning.REPLY  # HELP is a texting keyword; by email it is a reply
    email = ContactConsent.Medium.EMAIL
    people = _people_at(sender, medium=email, on_file=Q(email__iexact=sender)) if sender else []
    person_ids = [p.pk for p in people]
    inquiry = (
        Inquiry.objects.filter(person_id__in=person_ids)
        .annotate(
            rank=Case(When(stage__in=sorted(OPEN_STAGES | {Stage.NURTURE}), then=Value(0)), default=Value(1))
        )
        .order_by("rank", "-created_at")
        .first()
        if person_ids
        else None
    )
    try:
        with transaction.atomic():
            inbound = InboundMessage.objects.create(
                channel=MessageTemplate.Medium.EMAIL,
                provider_message_id=key,
                from_number=sender,
                to_number=to_address.strip()[:20],
                body=email_reply_text(subject=subject, text=text)[:5000],
                meaning=meaning,
                person=next((p for p in people if inquiry and p.pk == inquiry.person_id), None),
                inquiry=inquiry,
                received_at=now,
            )
    except IntegrityError as error:
        raise DuplicateInbound(provider_message_id) from error
    if inquiry is not None:
        inquiry_event(
            inquiry=inquiry,
            kind=InquiryEvent.Kind.MESSAGE,
            actor_label="inbound email",
            body=inbound.body,
            data={"direction": "inbound", "channel": "email", "message": inbound.pk, "meaning": meaning},
            at=now,
        )
    if meaning == InboundMessage.Meaning.OPT_OUT and person_ids:
        changed = optout_apply(person_ids=person_ids, source=f"email reply (inbound {inbound.pk})", now=now)
        if inquiry is not None:
            inquiry_event(
                inquiry=inquiry,
                kind=InquiryEvent.Kind.NOTE,
                actor_label="follow-up",
                body="The person opted out by email: texts and emails stopped."
                if changed
                else "The person asked again by email to stop (already stopped).",
                data={"inbound": inbound.pk, "opted_out": bool(changed)},
                at=now,
            )
    elif meaning == InboundMessage.Meaning.UNCLEAR and person_ids:
        unclear_reply_hold(people=people, inquiry=inquiry, inbound=inbound, now=now)
    elif meaning == InboundMessage.Meaning.REPLY and person_ids:
        stopped = FollowUp.objects.filter(
            inquiry__person_id__in=person_ids, state__in=PENDING, kind__in=STOPPED_BY_REPLY
        ).update(state=FollowUp.State.CANCELLED, finished_at=now, outcome="the person replied")
        if inquiry is not None:
            inquiry_event(
                inquiry=inquiry,
                kind=InquiryEvent.Kind.NOTE,
                actor_label="follow-up",
                body="The person replied by email: please follow up.",
                data={"alert": True, "inbound": inbound.pk, "cadence_stopped": stopped},
                at=now,
            )
    return inbound


def _people_at(address: str, *, medium: str, on_file: Q) -> list[Person]:
    """Everyone a reply from ``address`` may come from, locked: the people whose record has it,
    and those with a consent for it (a message may have gone to an inquiry's own number)."""
    consented = ContactConsent.objects.filter(address=address, medium=medium).values("person_id")
    return list(Person.objects.select_for_update().filter(on_file | Q(pk__in=consented)).order_by("pk"))


@transaction.atomic
def sms_inbound_receive(
    *, provider_message_id: str, from_number: str, to_number: str, body: str
) -> InboundMessage:
    """Record an inbound text on the timeline and act on it: opt-out, help, or a reply (stops the cadence)."""
    if InboundMessage.objects.filter(provider_message_id=provider_message_id[:80]).exists():
        raise DuplicateInbound(provider_message_id)  # the unique index below still settles races
    now = timezone.now()
    sender = e164(from_number) or from_number[:20]
    meaning = inbound_meaning(body)
    people = _people_at(sender, medium=ContactConsent.Medium.SMS, on_file=Q(phone=sender))
    person_ids = [p.pk for p in people]
    inquiry = (
        Inquiry.objects.filter(person_id__in=person_ids)
        .select_related("facility")
        .annotate(  # an open inquiry first, else the newest
            rank=Case(When(stage__in=sorted(OPEN_STAGES | {Stage.NURTURE}), then=Value(0)), default=Value(1))
        )
        .order_by("rank", "-created_at")
        .first()
        if person_ids
        else None
    )
    try:
        with transaction.atomic():
            inbound = InboundMessage.objects.create(
                provider_message_id=provider_message_id[:80],
                from_number=sender,
                to_number=e164(to_number) or to_number[:20],
                body=body,
                meaning=meaning,
                person=next((p for p in people if inquiry and p.pk == inquiry.person_id), None),
                inquiry=inquiry,
                received_at=now,
            )
    except IntegrityError as error:  # the unique provider id
        if InboundMessage.objects.filter(provider_message_id=provider_message_id[:80]).exists():
            raise DuplicateInbound(provider_message_id) from error
        raise
    if inquiry is not None:
        inquiry_event(
            inquiry=inquiry,
            kind=InquiryEvent.Kind.MESSAGE,
            actor_label="inbound text",
            body=body,
            data={"direction": "inbound", "channel": "sms", "message": inbound.pk, "meaning": meaning},
            at=now,
        )
    if meaning == InboundMessage.Meaning.OPT_OUT and person_ids:
        changed = optout_apply(person_ids=person_ids, source=f"text reply (inbound {inbound.pk})", now=now)
        if changed and inquiry is not None:  # at most one confirmation, and none for a repeated STOP
            _reply_followup(inquiry=inquiry, kind=FollowUp.Kind.OPT_OUT_CONFIRMATION, inbound=inbound)
            dispatcher_kick()
    elif meaning == InboundMessage.Meaning.HELP and inquiry is not None:
        _reply_followup(inquiry=inquiry, kind=FollowUp.Kind.HELP_REPLY, inbound=inbound)
        dispatcher_kick()
    elif meaning == InboundMessage.Meaning.REPLY and inbound_resubscribes(body):
        changed = resubscribe_apply(people=people, address=sender, inbound=inbound, now=now)
        if inquiry is not None:
            inquiry_event(
                inquiry=inquiry,
                kind=InquiryEvent.Kind.NOTE,
                actor_label="follow-up",
                body="The person texted START: texts allowed again."
                if changed
                else "The person texted START (no earlier text consent to restore).",
                data={"inbound": inbound.pk, "resubscribed": changed},
                at=now,
            )
        if changed and inquiry is not None:  # at most one confirmation; a second START sends nothing
            _reply_followup(
                inquiry=inquiry,
                kind=FollowUp.Kind.OPT_OUT_CONFIRMATION,
                inbound=inbound,
                template_code=RESUBSCRIBED_CODE,
            )
            dispatcher_kick()
    elif meaning == InboundMessage.Meaning.UNCLEAR and person_ids:
        unclear_reply_hold(people=people, inquiry=inquiry, inbound=inbound, now=now)
    elif meaning == InboundMessage.Meaning.REPLY and person_ids:
        stopped = FollowUp.objects.filter(
            inquiry__person_id__in=person_ids, state__in=PENDING, kind__in=STOPPED_BY_REPLY
        ).update(state=FollowUp.State.CANCELLED, finished_at=now, outcome="the person replied")
        if inquiry is not None:
            inquiry_event(
                inquiry=inquiry,
                kind=InquiryEvent.Kind.NOTE,
                actor_label="follow-up",
                body="The person replied by text: please follow up.",
                data={"alert": True, "inbound": inbound.pk, "cadence_stopped": stopped},
                at=now,
            )
    return inbound
