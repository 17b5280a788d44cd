"""The send-time decision: whether a message goes now, later, never, or to a coordinator.

Every automated or one-to-one message passes ``message_decide`` at send time, under the lock
of the recipient's ``Person`` row (see ``admissions.followups``). Lock order everywhere:
person, then follow-ups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings

from admissions.followup_policy import DIRECT_REPLIES, NOT_AUTOMATED, STOPPED_BY_REPLY
from admissions.messaging.consent import consent_active
from admissions.messaging.holds import HOLD_REASONS, messaging_held
from admissions.messaging.mediums import CAPPED, Medium, medium_for
from admissions.messaging.models import (
    InboundMessage,
    MessageTemplate,
    OutboundMessage,
    SendingRule,
    facility_forbidden_terms,
)
from admissions.messaging.quiet_hours import Reach, Rule, next_allowed, recipient_reach, recipient_signals
from admissions.messaging.templates import (
    message_compose,
    message_content_problems,
    template_for,
    template_needed,
)
from admissions.models import FollowUp, Inquiry, Person
from admissions.pipeline import Stage
from admissions.screening.models import Screening
from admissions.screening.services import CALLER_MESSAGE_KINDS, caller_consent
from admissions.waitlist_offers import offer_standing


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


def _caller_not_cleared(inquiry: Inquiry) -> bool:
    """The person's answers are on record, someone else gave the number these messages go to, and
    no consent of the person lets us share with them: as when the screen first stopped them."""
    return Screening.objects.filter(inquiry_id=inquiry.pk).exists() and caller_consent(inquiry=inquiry).needed


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
    if kind in CALLER_MESSAGE_KINDS and inquiry.caller_id is not None and _caller_not_cleared(inquiry):
        return "caller is not the person; no consent to share"
    if kind == FollowUp.Kind.WAITLIST_OFFER and not offer_standing(inquiry_id=inquiry.pk):
        return "the waitlist offer ended"
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
    """When the next capped message (a text) to the person may go under a per-24-hour cap, or None
    if it may now.

    Every such message to the person counts, whichever inquiry it was about (the statutes count
    calls to a person on one subject; all of ours are about the same inquiry for treatment)."""
    recent = list(
        OutboundMessage.objects.filter(
            person_id=person.pk,
            medium__in=CAPPED,
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
    medium = medium_for(followup.channel)
    address = medium.address(person=person, inquiry=inquiry)
    if not address:
        return Decision("block", f"no {medium.name} address")
    direct = followup.kind in DIRECT_REPLIES
    consent_id: int | None = None
    if not direct:
        if facts is not None and facts.address == address:
            consent_id = facts.consent_id
        else:
            consent = consent_active(person=person, medium=medium.name, address=address)
            consent_id = consent.pk if consent is not None else None
        if consent_id is None:
            return Decision("block", f"no active {medium.name} consent for this address")
        refusal = medium.refusal(person)
        if refusal:
            return Decision("block", refusal)
    template = None
    if template_needed(followup=followup, existing=message):
        template = (
            facts.template
            if facts is not None
            else template_for(facility_id=inquiry.facility_id, code=followup.template_code)
        )
    parts = message_compose(
        followup=followup, person=person, inquiry=inquiry, existing=message, template=template
    )
    if parts is None:
        return Decision("block", "no active template")
    forbidden = facts.forbidden_terms if facts is not None else facility_forbidden_terms(inquiry.facility)
    # What the recipient sees around the words too: the sender's name, the from address, the links.
    envelope = {
        "sender": inquiry.facility.neutral_sender_name,
        "from": settings.DEFAULT_FROM_EMAIL,
        "links": settings.CRM_PUBLIC_URL,
    }
    found = message_content_problems({**parts, **envelope}, extra_terms=forbidden)
    if found:
        return Decision("block", "content check: " + ", ".join(found))
    if not direct:
        reach = person_reach(
            person=person,
            phone=medium.place_phone(address=address, person=person, inquiry=inquiry),
            fallback_zone=inquiry.facility.time_zone,
            rules=facts.rules if facts is not None else None,
        )
        timing = _timing(followup=followup, person=person, reach=reach, medium=medium, now=now)
        if timing is not None:
            return timing
    return Decision("send", envelope_parts={**medium.finish(parts, consent_id=consent_id), "to": address})


def _timing(
    *, followup: FollowUp, person: Person, reach: Reach, medium: Medium, now: datetime
) -> Decision | None:
    """Defer to the next minute the hours and the cap allow, or hand over when there is none or
    it is past the bound; None when the message may go now."""
    until = next_allowed(now, reach=reach)
    why = "quiet hours"
    if until is not None and reach.max_per_24h and medium.capped:
        capped = _cap_until(person=person, cap=reach.max_per_24h, now=now)
        if capped is not None and capped > until:
            places = ", ".join(sorted(r.place for r in reach.rules if r.max_per_24h == reach.max_per_24h))
            until, why = (
                next_allowed(capped, reach=reach),
                f"{reach.max_per_24h} {medium.noun}s in 24 hours ({places})",
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
