"""Messaging rules: consent, quiet hours, content, cadence planning, inbound texts, unsubscribe.

Every automated or one-to-one message passes ``message_decide`` at send time,
under the lock of the recipient's ``Person`` row (see ``admissions.followups``).
Lock order everywhere: person, then follow-ups.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal

import phonenumbers
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, OuterRef, Q, Value, When
from django.urls import reverse
from django.utils import timezone

from admissions.messaging.content import content_problems, render
from admissions.messaging.envelope import Envelope
from admissions.messaging.models import (
    CadencePlanMark,
    CadenceStep,
    InboundMessage,
    MessageTemplate,
    OutboundMessage,
    facility_forbidden_terms,
)
from admissions.messaging.quiet_hours import next_allowed, recipient_state, recipient_zones, window_for
from admissions.models import ContactConsent, FollowUp, Inquiry, InquiryEvent, Person
from admissions.pipeline import OPEN_STAGES, Stage
from admissions.services import dispatcher_kick, inquiry_event
from crm.models import User

# Automated kinds that a reply from the person makes pointless.
STOPPED_BY_REPLY = frozenset(
    {FollowUp.Kind.ACKNOWLEDGEMENT, FollowUp.Kind.NURTURE_TOUCH, FollowUp.Kind.REFERRAL_CHECK_IN}
)
# Answers to a text the person just sent: no consent or quiet-hour check (carrier rules expect them).
DIRECT_REPLIES = frozenset({FollowUp.Kind.HELP_REPLY, FollowUp.Kind.OPT_OUT_CONFIRMATION})
MESSAGE_CHANNELS = (FollowUp.Channel.SMS, FollowUp.Channel.EMAIL)
_PENDING = (FollowUp.State.SCHEDULED, FollowUp.State.QUEUED)
_UNSUBSCRIBE_SALT = "admissions.messaging.unsubscribe"

HELP_TEXT = "{sender}: for help call {facility_phone}. Reply STOP to opt out of texts."
OPT_OUT_TEXT = "{sender}: you will get no more automated messages from us. Reply HELP for help."
RESUBSCRIBED_TEXT = "{sender}: you will get our texts again. Reply STOP to opt out, HELP for help."
# The confirmation of a START / UNSTOP is an opt-out-status confirmation with this template code.
RESUBSCRIBED_CODE = "resubscribed"


# --- addresses and consent ---------------------------------------------------------


def e164(phone: object) -> str:
    """A phone number as E.164 text, or "" when it is not a valid number."""
    if not phone:
        return ""
    try:
        number = phonenumbers.parse(str(phone), "US")
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def recipient_address(*, person: Person, inquiry: Inquiry | None, medium: str) -> str:
    """The number or email a message to the person goes to."""
    if medium == FollowUp.Channel.SMS:
        return e164(person.phone) or e164(inquiry.phone if inquiry else "")
    return (person.email or (inquiry.email if inquiry else "")).strip().lower()


def consent_active(*, person: Person, medium: str, address: str) -> ContactConsent | None:
    """The active consent of ``person`` for ``medium`` at ``address``, if there is one."""
    if not address:
        return None
    lookup = {"address__iexact": address} if medium == FollowUp.Channel.EMAIL else {"address": address}
    return (
        ContactConsent.objects.filter(person=person, medium=medium, revoked_at__isnull=True, **lookup)
        .order_by("-captured_at")
        .first()
    )


# --- templates -----------------------------------------------------------------------


def template_for(*, facility_id: int, code: str) -> MessageTemplate | None:
    """The facility's own active template with ``code``, else the center-wide one."""
    found = list(
        MessageTemplate.objects.filter(Q(facility_id=facility_id) | Q(facility__isnull=True), code=code)
        .filter(is_active=True)
        .order_by("facility_id")  # NULLs last on both PostgreSQL and SQLite ordering of ascending ids
    )
    own = [t for t in found if t.facility_id == facility_id]
    return (own or found)[0] if found else None


def templates_for(*, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], MessageTemplate]:
    """``template_for`` for many (facility id, code) pairs in one query."""
    if not pairs:
        return {}
    found = list(
        MessageTemplate.objects.filter(
            Q(facility_id__in={f for f, _ in pairs}) | Q(facility__isnull=True),
            code__in={c for _, c in pairs},
            is_active=True,
        )
    )
    own = {(t.facility_id, t.code): t for t in found if t.facility_id is not None}
    shared = {t.code: t for t in found if t.facility_id is None}
    chosen = {(f, c): own.get((f, c)) or shared.get(c) for f, c in pairs}
    return {pair: template for pair, template in chosen.items() if template is not None}


def template_values(*, inquiry: Inquiry, person: Person) -> dict[str, str]:
    """The values of template variables for one inquiry."""
    facility = inquiry.facility
    phone = facility.phone
    formatted = (
        phonenumbers.format_number(phone, phonenumbers.PhoneNumberFormat.NATIONAL)  # type: ignore[arg-type]
        if phone
        else ""
    )
    coordinator = inquiry.assigned_to.first_name if inquiry.assigned_to else ""
    return {
        "first_name": person.first_name,
        "sender": facility.neutral_sender_name,
        "facility_phone": formatted,
        "coordinator": coordinator or "our team",
        "admission_date": f"{inquiry.admission_date:%A, %B} {inquiry.admission_date.day}"
        if inquiry.admission_date
        else "",
    }


def unsubscribe_token(*, consent_id: int) -> str:
    return signing.dumps(consent_id, salt=_UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(*, consent_id: int) -> str:
    path = reverse("messaging:unsubscribe", args=[unsubscribe_token(consent_id=consent_id)])
    return f"{settings.CRM_PUBLIC_URL}{path}"


# --- the send-time decision ------------------------------------------------------------


@dataclass(frozen=True)
class SendFacts:
    """What a batch worker already read for one message, so ``message_decide`` need not query again.

    ``consent_id`` and ``replied`` must be read under the person's row lock;
    ``address`` is the address the consent was looked up for (if the message
    goes elsewhere after all, the consent is looked up again).
    """

    address: str
    consent_id: int | None
    replied: bool
    template: MessageTemplate | None
    forbidden_terms: list[str]


@dataclass(frozen=True)
class Decision:
    action: Literal["send", "defer", "block", "cancel"]
    reason: str = ""
    until: datetime | None = None
    envelope_parts: dict[str, str] | None = None


def _still_wanted_message(followup: FollowUp, inquiry: Inquiry, replied: bool | None = None) -> str:
    """Why an automated message should not go any more, or ""."""
    kind = followup.kind
    if kind in DIRECT_REPLIES or kind == FollowUp.Kind.COORDINATOR_TEXT:
        return ""
    if inquiry.has_red_flag:
        return "red flag on the inquiry"
    if kind == FollowUp.Kind.ACKNOWLEDGEMENT and inquiry.stage not in (Stage.NEW, Stage.CONTACT_ATTEMPTED):
        return f"inquiry is {inquiry.stage}"
    stage_of = {
        FollowUp.Kind.ADMISSION_REMINDER: Stage.ADMISSION_SCHEDULED,
        FollowUp.Kind.NURTURE_TOUCH: Stage.NURTURE,
        FollowUp.Kind.REFERRAL_CHECK_IN: Stage.REFERRED_OUT,
    }.get(FollowUp.Kind(kind))
    if stage_of is not None and (inquiry.stage != stage_of or inquiry.stage_changed_at > followup.created_at):
        return f"inquiry is {inquiry.stage} since this was planned"
    if kind in STOPPED_BY_REPLY and (
        replied
        if replied is not None
        else InboundMessage.objects.filter(
            person_id=inquiry.person_id, received_at__gte=followup.created_at
        ).exists()
    ):
        return "the person replied"
    return ""


def _florida_cap_until(*, inquiry: Inquiry, cap: int, now: datetime) -> datetime | None:
    """When the next message on this inquiry may go under a per-24-hour cap, or None if it may now."""
    recent = list(
        OutboundMessage.objects.filter(
            inquiry=inquiry,
            sent_at__gt=now - timedelta(hours=24),
            status__in=[
                OutboundMessage.Status.SENT,
                OutboundMessage.Status.DELIVERED,
                OutboundMessage.Status.SENDING,
            ],
        )
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)[:cap]
    )
    if len(recent) < cap:
        return None
    oldest = recent[-1]
    assert oldest is not None  # noqa: S101 - filtered on sent_at
    return oldest + timedelta(hours=24, minutes=1)


def message_decide(
    *,
    followup: FollowUp,
    person: Person,
    now: datetime,
    message: OutboundMessage | None = None,
    facts: SendFacts | None = None,
) -> Decision:
    """Decide at send time, under the person's row lock, whether a message goes now, later or never."""
    inquiry = followup.inquiry
    why = _still_wanted_message(followup, inquiry, replied=facts.replied if facts else None)
    if why:
        return Decision("cancel", why)
    medium = followup.channel
    address = recipient_address(person=person, inquiry=inquiry, medium=medium)
    if not address:
        return Decision("block", f"no {medium} address")
    direct = followup.kind in DIRECT_REPLIES
    consent_id: int | None = None
    if not direct:
        if facts is not None and facts.address == address:
            consent_id = facts.consent_id
        else:
            consent = consent_active(person=person, medium=medium, address=address)
            consent_id = consent.pk if consent is not None else None
        if consent_id is None:
            return Decision("block", f"no active {medium} consent for this address")
        if medium == FollowUp.Channel.SMS and person.ok_to_text is False:
            return Decision("block", "not OK to text")
    parts = _compose(followup=followup, person=person, inquiry=inquiry, existing=message, facts=facts)
    if parts is None:
        return Decision("block", "no active template")
    visible = parts["body"] if medium == FollowUp.Channel.SMS else f"{parts['subject']}\n{parts['preview']}"
    forbidden = facts.forbidden_terms if facts is not None else facility_forbidden_terms(inquiry.facility)
    found = content_problems(visible, extra_terms=forbidden)
    if found:
        return Decision("block", "content check: " + ", ".join(found))
    if not direct:
        state = recipient_state(state=person.state, phone=address if medium == "sms" else str(person.phone))
        zones = recipient_zones(
            time_zone=person.time_zone,
            state=state,
            phone=str(person.phone or inquiry.phone or ""),
            fallback=inquiry.facility.time_zone,
        )
        window = window_for(state)
        until = next_allowed(now, zones=zones, window=window)
        if until > now:
            return Decision("defer", "quiet hours", until=until)
        if window.max_per_24h_same_subject:
            capped = _florida_cap_until(inquiry=inquiry, cap=window.max_per_24h_same_subject, now=now)
            if capped is not None:
                return Decision(
                    "defer", f"{state} 24-hour cap", until=next_allowed(capped, zones=zones, window=window)
                )
    parts["to"] = address
    if consent_id is not None and medium == FollowUp.Channel.EMAIL:
        parts["unsubscribe_url"] = unsubscribe_url(consent_id=consent_id)
    return Decision("send", envelope_parts=parts)


def _compose(
    *,
    followup: FollowUp,
    person: Person,
    inquiry: Inquiry,
    existing: OutboundMessage | None,
    facts: SendFacts | None = None,
) -> dict[str, str] | None:
    values = template_values(inquiry=inquiry, person=person)
    if existing is not None and not existing.automated:
        return {"subject": existing.subject, "preview": existing.preview, "body": existing.body}
    if followup.kind == FollowUp.Kind.HELP_REPLY:
        return {"subject": "", "preview": "", "body": HELP_TEXT.format(**values)}
    if followup.kind == FollowUp.Kind.OPT_OUT_CONFIRMATION:
        text = RESUBSCRIBED_TEXT if followup.template_code == RESUBSCRIBED_CODE else OPT_OUT_TEXT
        return {"subject": "", "preview": "", "body": text.format(**values)}
    if facts is not None:
        template = facts.template
    else:
        template = template_for(facility_id=inquiry.facility_id, code=followup.template_code)
    if template is None or template.medium != followup.channel:
        return None
    return {
        "subject": render(template.subject, values),
        "preview": render(template.preview, values),
        "body": render(template.body, values),
    }


def email_footer(*, inquiry: Inquiry, unsubscribe: str) -> str:
    """The CAN-SPAM footer: the sender's postal address and a working unsubscribe link."""
    f = inquiry.facility
    return (
        f"\n\n--\n{f.neutral_sender_name}, {f.street}, {f.city}, {f.state} {f.postal_code}\n"
        f"To stop these emails: {unsubscribe}\n"
    )


def envelope_build(*, message: OutboundMessage, inquiry: Inquiry, parts: dict[str, str]) -> Envelope:
    """The envelope a channel sends for ``message``."""
    body = message.body
    if message.medium == FollowUp.Channel.EMAIL:
        body += email_footer(inquiry=inquiry, unsubscribe=parts.get("unsubscribe_url", ""))
    return Envelope(
        message_id=message.pk,
        inquiry_id=inquiry.pk,
        medium=message.medium,
        to=message.to_address,
        sender_name=message.sender_name,
        subject=message.subject,
        preview=message.preview,
        body=body,
        idempotency_key=message.idempotency_key,
        unsubscribe_url=parts.get("unsubscribe_url", ""),
    )


# --- one-to-one texts ------------------------------------------------------------------


@transaction.atomic
def coordinator_text_send(*, inquiry: Inquiry, actor: User, body: str) -> OutboundMessage:
    """Queue a one-to-one text from a coordinator; it passes the same checks as automated ones."""
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write a message."})
    found = content_problems(body, extra_terms=facility_forbidden_terms(inquiry.facility))
    if found:
        raise ValidationError(
            {"body": "Must not reveal substance use or treatment; remove: " + ", ".join(found)}
        )
    person = Person.objects.select_for_update().get(pk=inquiry.person_id)
    address = recipient_address(person=person, inquiry=inquiry, medium=FollowUp.Channel.SMS)
    if consent_active(person=person, medium=FollowUp.Channel.SMS, address=address) is None:
        raise ValidationError("This person has not consented to texts at this number.")
    if person.ok_to_text is False:
        raise ValidationError("This person said it is not OK to text them.")
    now = timezone.now()
    followup = FollowUp.objects.create(
        inquiry=inquiry,
        kind=FollowUp.Kind.COORDINATOR_TEXT,
        channel=FollowUp.Channel.SMS,
        due_at=now,
        dedupe_key=f"inquiry:{inquiry.pk}:text:{uuid.uuid4().hex}",
    )
    message = OutboundMessage.objects.create(
        person=person,
        inquiry=inquiry,
        followup=followup,
        medium=FollowUp.Channel.SMS,
        to_address=address,
        sender_name=inquiry.facility.neutral_sender_name,
        body=body,
        automated=False,
        sent_by=actor,
        idempotency_key=f"fu-{followup.pk}",
    )
    dispatcher_kick()
    return message


# --- inbound texts -----------------------------------------------------------------------

_STOP_WORDS = frozenset(
    {"stop", "stopall", "stop all", "quit", "end", "revoke", "opt out", "optout", "cancel", "unsubscribe",
     "unsub", "stop please", "please stop", "stop now", "stop it"}
)  # fmt: skip
_HELP_WORDS = frozenset({"help", "info", "help me"})
_START_WORDS = frozenset({"start", "unstop", "start again", "unstop please"})
_REFUSALS = re.compile(
    r"\b(?:"
    r"(?:stop|quit|cease|no more|never|don ?t|dont|do not|please don ?t|no longer)\s+(?:\w+\s+){0,3}?"
    r"(?:text|texting|texts|message|messaging|messages|contact|contacting|email|emailing|call|calling|sms)"
    r"|leave me alone|remove me|take me off|unsubscribe me|opt me out|lose (?:this|my) number"
    r"|wrong number|not interested (?:in|any)\w* (?:more )?(?:texts|messages)"
    r")\b"
)


def _inbound_text(body: str) -> str:
    return re.sub(
        r"\s+", " ", re.sub(r"[^a-z]+", " ", body.lower().replace("'", "").replace("’", ""))
    ).strip()


def inbound_meaning(body: str) -> InboundMessage.Meaning:
    """Whether an inbound text opts out, asks for help, or is an ordinary reply."""
    text = _inbound_text(body)
    squashed = text.replace(" ", "")
    if text in _STOP_WORDS or squashed in {w.replace(" ", "") for w in _STOP_WORDS} or _REFUSALS.search(text):
        return InboundMessage.Meaning.OPT_OUT
    if text in _HELP_WORDS or squashed in _HELP_WORDS:
        return InboundMessage.Meaning.HELP
    return InboundMessage.Meaning.REPLY


def inbound_resubscribes(body: str) -> bool:
    """Whether an inbound text is START / UNSTOP (any case, spacing, punctuation): texts again, please."""
    text = _inbound_text(body)
    return text in _START_WORDS or text.replace(" ", "") in {w.replace(" ", "") for w in _START_WORDS}


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


def resubscribe_apply(*, people: list[Person], address: str, inbound: InboundMessage, now: datetime) -> int:
    """START / UNSTOP: give back text consent at ``address`` to people who had it and revoked it.

    A new consent row records the reply (source, time, the words, the number)
    and carries the wording of the consent the person first gave; nobody who
    never consented in writing gets consent from a START alone. Email consent
    and cancelled follow-ups stay as they are. Returns how many people changed.
    """
    changed = 0
    for person in people:
        consents = ContactConsent.objects.filter(
            person=person, medium=ContactConsent.Medium.SMS, address=address
        )
        if consents.filter(revoked_at__isnull=True).exists():
            continue
        earlier = consents.order_by("-captured_at").first()
        if earlier is None:
            continue
        ContactConsent.objects.create(
            person=person,
            medium=ContactConsent.Medium.SMS,
            address=address,
            source=f"text reply (inbound {inbound.pk})"[:60],
            consent_text=(
                f'Texted "{inbound.body.strip()[:40]}" to {inbound.to_number} to receive texts again. '
                f"Consent first given: {earlier.consent_text}"
            ),
            captured_at=now,
        )
        if person.ok_to_text is False:
            person.ok_to_text = True
            person.save(update_fields=["ok_to_text"])
        changed += 1
    return changed


def optout_apply(*, person_ids: list[int], source: str, now: datetime) -> int:
    """Revoke SMS and email consent of these people, stop texts, cancel pending automated messages."""
    revoked = ContactConsent.objects.filter(
        person_id__in=person_ids,
        medium__in=[ContactConsent.Medium.SMS, ContactConsent.Medium.EMAIL],
        revoked_at__isnull=True,
    ).update(revoked_at=now, revocation_source=source[:120])
    stopped_texting = (
        Person.objects.filter(pk__in=person_ids).exclude(ok_to_text=False).update(ok_to_text=False)
    )
    FollowUp.objects.filter(
        inquiry__person_id__in=person_ids, state__in=_PENDING, channel__in=MESSAGE_CHANNELS
    ).exclude(kind__in=DIRECT_REPLIES).update(
        state=FollowUp.State.CANCELLED, finished_at=now, outcome="person opted out"
    )
    return revoked + stopped_texting


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
    people = list(Person.objects.select_for_update().filter(phone=sender).order_by("pk"))
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
    elif meaning == InboundMessage.Meaning.REPLY and person_ids:
        stopped = FollowUp.objects.filter(
            inquiry__person_id__in=person_ids, state__in=_PENDING, kind__in=STOPPED_BY_REPLY
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


_STATUS_RANK = {
    OutboundMessage.Status.PENDING: 0,
    OutboundMessage.Status.SENDING: 1,
    OutboundMessage.Status.SENT: 2,
    OutboundMessage.Status.DELIVERED: 3,
    OutboundMessage.Status.UNDELIVERED: 3,
    OutboundMessage.Status.FAILED: 3,
}
_PROVIDER_STATUS = {
    "accepted": OutboundMessage.Status.SENDING,
    "queued": OutboundMessage.Status.SENDING,
    "sending": OutboundMessage.Status.SENDING,
    "sent": OutboundMessage.Status.SENT,
    "delivered": OutboundMessage.Status.DELIVERED,
    "undelivered": OutboundMessage.Status.UNDELIVERED,
    "failed": OutboundMessage.Status.FAILED,
}


def sms_status_update(*, provider_message_id: str, provider_status: str) -> int:
    """Record a delivery status from the provider; a status never moves backwards."""
    status = _PROVIDER_STATUS.get(provider_status.lower())
    if status is None or not provider_message_id:
        return 0
    lower = [s for s, rank in _STATUS_RANK.items() if rank < _STATUS_RANK[status]]
    return OutboundMessage.objects.filter(provider_message_id=provider_message_id, status__in=lower).update(
        status=status, status_at=timezone.now()
    )


# --- email unsubscribe ----------------------------------------------------------------------


def unsubscribe_consent(token: str) -> ContactConsent | None:
    """The email consent a signed unsubscribe token names, or None if the token is not ours."""
    try:
        consent_id = signing.loads(token, salt=_UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return ContactConsent.objects.filter(pk=consent_id, medium=ContactConsent.Medium.EMAIL).first()


@transaction.atomic
def email_unsubscribe(*, consent: ContactConsent, source: str) -> int:
    """Revoke email consent for that address and cancel pending automated emails to it."""
    now = timezone.now()
    Person.objects.select_for_update().filter(pk=consent.person_id).first()
    revoked = ContactConsent.objects.filter(
        person_id=consent.person_id,
        medium=ContactConsent.Medium.EMAIL,
        address__iexact=consent.address,
        revoked_at__isnull=True,
    ).update(revoked_at=now, revocation_source=source[:120])
    FollowUp.objects.filter(
        inquiry__person_id=consent.person_id, state__in=_PENDING, channel=FollowUp.Channel.EMAIL
    ).update(state=FollowUp.State.CANCELLED, finished_at=now, outcome="person unsubscribed")
    return revoked


# --- cadence planning ---------------------------------------------------------------------------

_STAGE_TRIGGERS = {
    Stage.NURTURE: CadenceStep.Trigger.NURTURE,
    Stage.REFERRED_OUT: CadenceStep.Trigger.REFERRED_OUT,
    Stage.ADMISSION_SCHEDULED: CadenceStep.Trigger.ADMISSION_SCHEDULED,
}
_TRIGGER_STAGE = {v: k for k, v in _STAGE_TRIGGERS.items()}


def _step_matches(step: CadenceStep, inquiry: Inquiry) -> bool:
    if step.facility_id and step.facility_id != inquiry.facility_id:
        return False
    if step.inquiry_channel and step.inquiry_channel != inquiry.channel:
        return False
    kind = inquiry.lead_source.kind if inquiry.lead_source else ""
    return not (step.lead_source_kind and step.lead_source_kind != kind)


def _step_due(step: CadenceStep, inquiry: Inquiry, event: InquiryEvent, now: datetime) -> datetime | None:
    if step.trigger != CadenceStep.Trigger.ADMISSION_SCHEDULED:
        return event.at + step.offset
    if inquiry.admission_date is None:
        return None
    import zoneinfo  # noqa: PLC0415

    anchor = datetime.combine(
        inquiry.admission_date, time(9, 0), tzinfo=zoneinfo.ZoneInfo(inquiry.facility.time_zone)
    )
    if anchor <= now:
        return None
    return max(anchor + step.offset, now)


def cadences_plan(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Turn recent triggers (new inquiries, stage changes) into follow-ups from the cadence steps."""
    now = now or timezone.now()
    since = now - timedelta(hours=settings.FOLLOWUP_PLAN_LOOKBACK_HOURS)
    events = list(
        InquiryEvent.objects.filter(
            Q(kind=InquiryEvent.Kind.CREATED)
            | Q(kind=InquiryEvent.Kind.STAGE_CHANGED, data__to__in=[str(s) for s in _STAGE_TRIGGERS]),
            at__gte=since,
        )
        .exclude(Exists(CadencePlanMark.objects.filter(event_id=OuterRef("pk"))))
        .select_related("inquiry__lead_source", "inquiry__facility", "inquiry__person")
        .order_by("at")[:limit]
    )
    if not events:
        return 0
    steps = list(CadenceStep.objects.filter(is_active=True))
    rows: list[FollowUp] = []
    for event in events:
        inquiry = event.inquiry
        if event.kind == InquiryEvent.Kind.CREATED:
            trigger = CadenceStep.Trigger.NEW_INQUIRY
            current = inquiry.stage in (Stage.NEW, Stage.CONTACT_ATTEMPTED)
        else:
            trigger = _STAGE_TRIGGERS[Stage(event.data["to"])]
            current = inquiry.stage == _TRIGGER_STAGE[trigger] and inquiry.stage_changed_at <= event.at
        if not current or inquiry.has_red_flag:
            continue
        for step in steps:
            if step.trigger != trigger or not _step_matches(step, inquiry):
                continue
            if step.channel in MESSAGE_CHANNELS:
                address = recipient_address(person=inquiry.person, inquiry=inquiry, medium=step.channel)
                if consent_active(person=inquiry.person, medium=step.channel, address=address) is None:
                    continue  # only with consent; the send-time check runs again anyway
            due = _step_due(step, inquiry, event, now)
            if due is None:
                continue
            rows.append(
                FollowUp(
                    inquiry=inquiry,
                    kind=step.kind,
                    channel=step.channel,
                    template_code=step.template_code,
                    cadence_step=step,
                    due_at=due,
                    dedupe_key=f"inquiry:{inquiry.pk}:{step.key}:{event.pk}:0",
                    created_at=now,
                )
            )
    with transaction.atomic():
        FollowUp.objects.bulk_create(rows, ignore_conflicts=True)
        CadencePlanMark.objects.bulk_create(
            [CadencePlanMark(event=e, planned_at=now) for e in events], ignore_conflicts=True
        )
    return len(rows)


def cadence_repeat(*, followup: FollowUp) -> FollowUp | None:
    """Plan the next touch of a repeating step (e.g. the monthly nurture touch)."""
    step = followup.cadence_step
    if step is None or step.repeat_every is None or not step.is_active:
        return None
    if step.max_repeats and followup.sequence >= step.max_repeats:
        return None
    stem = followup.dedupe_key.rsplit(":", 1)[0]
    next_one = FollowUp(
        inquiry_id=followup.inquiry_id,
        kind=followup.kind,
        channel=followup.channel,
        template_code=followup.template_code,
        cadence_step=step,
        sequence=followup.sequence + 1,
        due_at=followup.due_at + step.repeat_every,
        dedupe_key=f"{stem}:{followup.sequence + 1}",
        created_at=followup.created_at,  # still planned for the same stay in the stage
    )
    FollowUp.objects.bulk_create([next_one], ignore_conflicts=True)
    return next_one
