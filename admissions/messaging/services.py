"""Messaging rules: consent, quiet hours, content, cadence planning, inbound texts, unsubscribe.

Every automated or one-to-one message passes ``message_decide`` at send time,
under the lock of the recipient's ``Person`` row (see ``admissions.followups``).
Lock order everywhere: person, then follow-ups.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal

import phonenumbers
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Case, Exists, OuterRef, Q, Subquery, Value, When
from django.urls import reverse
from django.utils import timezone

from admissions.messaging.content import content_problems, render
from admissions.messaging.envelope import Envelope
from admissions.messaging.models import (
    CadencePlanMark,
    CadenceStep,
    InboundMessage,
    MessageTemplate,
    MessagingHold,
    OutboundMessage,
    SendingRule,
    facility_forbidden_terms,
)
from admissions.messaging.quiet_hours import Reach, Rule, next_allowed, recipient_reach, recipient_signals
from admissions.models import ContactConsent, FollowUp, Inquiry, InquiryEvent, Person
from admissions.pipeline import OPEN_STAGES, Stage
from admissions.services import dispatcher_kick, inquiry_event
from crm.models import User
from crm.roles import Role, has_role

# Automated kinds that a reply from the person makes pointless.
STOPPED_BY_REPLY = frozenset(
    {FollowUp.Kind.ACKNOWLEDGEMENT, FollowUp.Kind.NURTURE_TOUCH, FollowUp.Kind.REFERRAL_CHECK_IN}
)
# Answers to a text the person just sent: no consent or quiet-hour check (carrier rules expect them).
DIRECT_REPLIES = frozenset({FollowUp.Kind.HELP_REPLY, FollowUp.Kind.OPT_OUT_CONFIRMATION})
# Automated messages a hold (crisis, unclear reply) stops: everything but direct replies and the
# one-to-one texts a coordinator writes.
NOT_AUTOMATED = DIRECT_REPLIES | {FollowUp.Kind.COORDINATOR_TEXT}
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
    held: str = ""
    rules: Mapping[str, Rule] | None = None


@dataclass(frozen=True)
class Decision:
    """``handover``: the rules leave no time to send it; a coordinator gets it as a task."""

    action: Literal["send", "defer", "block", "cancel", "handover"]
    reason: str = ""
    until: datetime | None = None
    envelope_parts: dict[str, str] | None = None


# --- sending rules, reach and holds -------------------------------------------------------


def sending_rules() -> dict[str, Rule]:
    """The active ``SendingRule`` rows by place (one query; a batch reads them once)."""
    return {
        row.place: Rule(
            place=row.place,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            max_per_24h=row.max_per_24h,
            statute=row.statute,
        )
        for row in SendingRule.objects.filter(is_active=True)
    }


def person_reach(
    *, person: Person, phone: str, fallback_zone: str, rules: Mapping[str, Rule] | None = None
) -> Reach:
    """Where the person may be and the hours and cap that apply there (``quiet_hours``)."""
    signals = recipient_signals(
        time_zone=person.time_zone, state=person.state, postal_code=person.postal_code, phone=phone
    )
    return recipient_reach(
        signals, rules=sending_rules() if rules is None else rules, fallback_zone=fallback_zone
    )


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


def _still_wanted_message(
    followup: FollowUp, inquiry: Inquiry, replied: bool | None = None, held: str | None = None
) -> str:
    """Why an automated message should not go any more, or ""."""
    kind = followup.kind
    if kind in NOT_AUTOMATED:
        return ""
    if inquiry.has_red_flag:
        return "red flag on the inquiry"
    held = messaging_held(person_id=inquiry.person_id) if held is None else held
    if held:
        return HOLD_REASONS.get(held, held)
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


def _cap_until(*, person: Person, cap: int, now: datetime) -> datetime | None:
    """When the next text to the person may go under a per-24-hour cap, or None if it may now.

    Every text to the person counts, whichever inquiry it was about (the statutes count calls to
    a person on one subject; all of ours are about the same inquiry for treatment)."""
    recent = list(
        OutboundMessage.objects.filter(
            person_id=person.pk,
            medium=FollowUp.Channel.SMS,
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
    why = _still_wanted_message(
        followup, inquiry, replied=facts.replied if facts else None, held=facts.held if facts else None
    )
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
    forbidden = facts.forbidden_terms if facts is not None else facility_forbidden_terms(inquiry.facility)
    found = message_content_problems(parts, extra_terms=forbidden)
    if found:
        return Decision("block", "content check: " + ", ".join(found))
    if not direct:
        reach = person_reach(
            person=person,
            phone=address if medium == FollowUp.Channel.SMS else str(person.phone or inquiry.phone or ""),
            fallback_zone=inquiry.facility.time_zone,
            rules=facts.rules if facts is not None else None,
        )
        timing = _timing(followup=followup, person=person, reach=reach, medium=medium, now=now)
        if timing is not None:
            return timing
    parts["to"] = address
    if consent_id is not None and medium == FollowUp.Channel.EMAIL:
        parts["unsubscribe_url"] = unsubscribe_url(consent_id=consent_id)
    return Decision("send", envelope_parts=parts)


def _timing(
    *, followup: FollowUp, person: Person, reach: Reach, medium: str, now: datetime
) -> Decision | None:
    """Defer to the next minute the hours and the cap allow, or hand over when there is none or
    it is past the bound; None when the message may go now."""
    until = next_allowed(now, reach=reach)
    why = "quiet hours"
    if until is not None and reach.max_per_24h and medium == FollowUp.Channel.SMS:
        capped = _cap_until(person=person, cap=reach.max_per_24h, now=now)
        if capped is not None and capped > until:
            places = ", ".join(sorted(r.place for r in reach.rules if r.max_per_24h == reach.max_per_24h))
            until, why = (
                next_allowed(capped, reach=reach),
                f"{reach.max_per_24h} texts in 24 hours ({places})",
            )
    if until is None:
        zones = f"{len(reach.zones)} zones" if len(reach.zones) > 1 else "the zone"
        return Decision("handover", f"no allowed minute in {zones} of {reach.signals.describe()}")
    if until <= now:
        return None
    deadline = (followup.deferred_from or followup.due_at) + deferral_limit()
    if until > deadline:
        hours = int(deferral_limit().total_seconds() // 3600)
        return Decision("handover", f"not sendable within {hours} hours ({why})")
    return Decision("defer", why, until=until)


def deferral_limit() -> timedelta:
    """How long after its due time a message may still be deferred before a coordinator gets it."""
    return timedelta(hours=settings.MESSAGING_DEFERRAL_MAX_HOURS)


def message_content_problems(parts: Mapping[str, str], *, extra_terms: list[str]) -> list[str]:
    """The revealing words in any part of a message (subject, preview, text or HTML body)."""
    found: set[str] = set()
    for name in ("subject", "preview", "body", "html"):
        found.update(content_problems(parts.get(name, ""), extra_terms=extra_terms))
    return sorted(found)


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
    reach = person_reach(person=person, phone=address, fallback_zone=inquiry.facility.time_zone)
    if next_allowed(now, reach=reach) is None:
        raise ValidationError(
            "No time of day is allowed in every zone this person may be in "
            f"({reach.signals.describe()}): record their state or postal code, or call them."
        )
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
# The words the FCC lists (47 CFR 64.1200(a)(10), FCC 24-24) and their usual spellings.
_KEYWORDS = frozenset(
    {"stop", "stopall", "quit", "end", "revoke", "optout", "cancel", "unsubscribe", "unsub"}
)
# Words that may stand beside a keyword without changing what it says ("STOP please", "cancel texts").
_FILLER = frozenset(
    {"please", "pls", "plz", "now", "all", "thanks", "thank", "you", "thx", "ty", "it", "this", "these",
     "that", "them", "me", "my", "texts", "text", "texting", "messages", "message", "msgs", "msg", "emails",
     "email", "sms", "ok", "okay", "asap", "immediately", "already", "just", "i", "said", "sir", "maam",
     "right", "away", "for", "good", "forever", "to", "sending", "subscription", "the", "and", "again"}
)  # fmt: skip
_HELP_WORDS = frozenset({"help", "info", "help me"})
_START_WORDS = frozenset({"start", "unstop", "start again", "unstop please"})
_CONTACT = (
    r"(?:text|texts|texting|message|messages|messaging|msg|msgs|contact|contacting|email|emails|emailing"
    r"|call|calls|calling|sms|reach|reaching|write|writing|bother|bothering|spam|spamming)"
)
_REFUSALS = re.compile(
    r"\b(?:"
    r"(?:stop|quit|cease|no more|never|don ?t|dont|do not|please don ?t|no longer|end)\s+(?:\w+\s+){0,3}?"
    + _CONTACT
    + r"|(?:stop|quit|cease|end)\s+(?:\w+\s+){0,2}?(?:sending|getting|receiving|these|this|them|all)"
    r"|opt ?(?:me )?out|optout|unsubscribe|unsub|revoke|revoking|withdraw (?:my )?consent"
    r"|(?:want|wish|like|going|trying|asked|asking) to (?:stop|cancel|quit|end|be removed|be taken off)"
    r"|leave me alone|remove me|remove my (?:number|name|info|information|email)|take me off"
    r"|delete my (?:number|info|information|email)|lose (?:this|my) number|wrong number|not interested"
    r"|no more|cancel (?:my )?(?:subscription|texts|messages|emails|alerts|notifications)"
    r"|do not (?:want|need) (?:any|these|your)|dont (?:want|need) (?:any|these|your)"
    r")\b"
)
# A keyword in a phrase that is plainly about something else ("stop by", "the end of the week").
_BENIGN = re.compile(
    r"\b(?:stop (?:by|in|over|at|on)|end of|the end|weekend|at the end|in the end"
    r"|quit (?:my|the|his|her|smoking|drinking|using|work|job)"
    r"|cancel (?:the|my|our|an|this|that|tomorrow s|monday s|tuesday s|wednesday s|thursday s|friday s)"
    r" (?:\w+ )?(?:appointment|appt|visit|meeting|call|tour|intake|admission|booking|reservation|plans))\b"
)


def _inbound_text(body: str) -> str:
    return re.sub(
        r"\s+", " ", re.sub(r"[^a-z]+", " ", body.lower().replace("'", "").replace("’", ""))
    ).strip()


def _is_opt_out_sentence(words: list[str]) -> bool:
    """A sentence made only of keywords and filler ("Stop.", "please STOP texting", "cancel all")."""
    joined = " ".join(words).replace("opt out", "optout").split()
    return (
        bool(joined)
        and any(w in _KEYWORDS for w in joined)
        and all(w in _KEYWORDS or w in _FILLER for w in joined)
    )


def inbound_meaning(body: str) -> InboundMessage.Meaning:
    """Whether a reply opts out, asks for help, might opt out (unclear), or is an ordinary reply.

    Opt-out: a listed keyword on its own or with filler words, in any case, spacing or
    punctuation, in any sentence of the reply; or a clear free-text refusal in any position.
    Unclear: a keyword in a reply that is neither (a person may mean it; a coordinator asks).
    """
    text = _inbound_text(body)
    squashed = text.replace(" ", "")
    if text in _STOP_WORDS or squashed in {w.replace(" ", "") for w in _STOP_WORDS} or _REFUSALS.search(text):
        return InboundMessage.Meaning.OPT_OUT
    sentences = [_inbound_text(part).split() for part in re.split(r"[.!?;,\n]+", body)]
    if any(_is_opt_out_sentence(words) for words in sentences):
        return InboundMessage.Meaning.OPT_OUT
    if text in _HELP_WORDS or squashed in _HELP_WORDS:
        return InboundMessage.Meaning.HELP
    if inbound_resubscribes(body):
        return InboundMessage.Meaning.REPLY  # START / UNSTOP ("un stop"): handled as a re-subscribe
    remaining = _BENIGN.sub(" ", text)
    if any(word in _KEYWORDS for word in remaining.split()) or text in {
        "no",
        "no thanks",
        "no thank you",
        "nope",
    }:
        return InboundMessage.Meaning.UNCLEAR
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


def _automated_pending(person_ids: list[int]) -> models.QuerySet[FollowUp]:
    return FollowUp.objects.filter(
        inquiry__person_id__in=person_ids, state__in=_PENDING, channel__in=MESSAGE_CHANNELS
    ).exclude(kind__in=NOT_AUTOMATED)


def coordinator_review_create(*, inquiry: Inquiry, key: str, note: str, now: datetime) -> FollowUp:
    """A task for the inquiry's coordinator to decide what the rules could not (posted when due).

    ``note`` (no PHI: a reason, never the person's words) waits in the row's ``outcome``
    until the task posts it on the timeline as an alert."""
    task = FollowUp(
        inquiry=inquiry,
        kind=FollowUp.Kind.COORDINATOR_REVIEW,
        channel=FollowUp.Channel.TASK,
        due_at=now,
        dedupe_key=f"review:{key}"[:80],
        outcome=note[:120],
        created_at=now,
    )
    FollowUp.objects.bulk_create([task], ignore_conflicts=True)
    dispatcher_kick()
    return task


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


_QUOTED = re.compile(r"^(?:>|On .{0,200} wrote:|-----Original Message-----|From: )", re.MULTILINE)


def email_reply_text(*, subject: str, text: str) -> str:
    """What the person wrote in an email reply: the subject without Re:/Fwd:, and the body above
    the quoted message."""
    subject = re.sub(r"^(?:\s*(?:re|fwd?|aw)\s*:\s*)+", "", subject, flags=re.IGNORECASE)
    match = _QUOTED.search(text)
    own = text[: match.start()] if match else text
    return f"{subject}\n{own}".strip()


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
    people = (
        list(Person.objects.select_for_update().filter(email__iexact=sender).order_by("pk")) if sender else []
    )
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
            inquiry__person_id__in=person_ids, state__in=_PENDING, kind__in=STOPPED_BY_REPLY
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
    elif meaning == InboundMessage.Meaning.UNCLEAR and person_ids:
        unclear_reply_hold(people=people, inquiry=inquiry, inbound=inbound, now=now)
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
    held = people_held({e.inquiry.person_id for e in events})
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
            if step.channel in MESSAGE_CHANNELS and inquiry.person_id in held:
                continue  # a crisis or an unclear reply holds automated messages
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
