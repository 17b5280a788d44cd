"""The words of a message: templates per facility, their variables, the fixed replies to
HELP, STOP and START, and the content check every part of a message passes."""

from __future__ import annotations

from collections.abc import Mapping

import phonenumbers
from django.db.models import Q

from admissions.messaging.content import content_problems, render
from admissions.messaging.models import MessageTemplate, OutboundMessage
from admissions.models import FollowUp, Inquiry, Person

HELP_TEXT = "{sender}: for help call {facility_phone}. Reply STOP to opt out of texts."
OPT_OUT_TEXT = "{sender}: you will get no more automated messages from us. Reply HELP for help."
RESUBSCRIBED_TEXT = "{sender}: you will get our texts again. Reply STOP to opt out, HELP for help."
# The confirmation of a START / UNSTOP is an opt-out-status confirmation with this template code.
RESUBSCRIBED_CODE = "resubscribed"


def template_for(*, facility_id: int, code: str) -> MessageTemplate | None:
    """The facility's own active template with ``code``, else the center-wide one."""
    found = list(
        MessageTemplate.objects.filter(Q(facility_id=facility_id) | Q(facility__isnull=True), code=code)
        .filter(is_active=True)
        .order_by("facility_id")  # NULLs come last in ascending order
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


def message_content_problems(parts: Mapping[str, str], *, extra_terms: list[str]) -> list[str]:
    """The revealing words in any part of a message (subject, preview, text or HTML body) or of
    its envelope (sender name, from address, links) when those are given."""
    found: set[str] = set()
    for name in ("subject", "preview", "body", "html", "sender", "from", "links"):
        found.update(content_problems(parts.get(name, ""), extra_terms=extra_terms))
    return sorted(found)


def template_needed(*, followup: FollowUp, existing: OutboundMessage | None) -> bool:
    """Whether the message's words come from a template (not a coordinator's own, not a fixed reply)."""
    if existing is not None and not existing.automated:
        return False
    return followup.kind not in (FollowUp.Kind.HELP_REPLY, FollowUp.Kind.OPT_OUT_CONFIRMATION)


def message_compose(
    *,
    followup: FollowUp,
    person: Person,
    inquiry: Inquiry,
    existing: OutboundMessage | None,
    template: MessageTemplate | None,
) -> dict[str, str] | None:
    """The parts of a message: a coordinator's own words as written, the fixed reply to HELP,
    STOP or START, or ``template`` rendered; None when a template is needed and none fits."""
    values = template_values(inquiry=inquiry, person=person)
    if existing is not None and not existing.automated:
        return {"subject": existing.subject, "preview": existing.preview, "body": existing.body}
    if followup.kind == FollowUp.Kind.HELP_REPLY:
        return {"subject": "", "preview": "", "body": HELP_TEXT.format(**values)}
    if followup.kind == FollowUp.Kind.OPT_OUT_CONFIRMATION:
        text = RESUBSCRIBED_TEXT if followup.template_code == RESUBSCRIBED_CODE else OPT_OUT_TEXT
        return {"subject": "", "preview": "", "body": text.format(**values)}
    if template is None or template.medium != followup.channel:
        return None
    return {
        "subject": render(template.subject, values),
        "preview": render(template.preview, values),
        "body": render(template.body, values),
    }
