"""One-to-one texts a coordinator writes: the same consent, content and sending-hours checks as
automated ones, queued like them."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from admissions.messaging.consent import consent_active
from admissions.messaging.content import content_problems
from admissions.messaging.decision import person_reach
from admissions.messaging.mediums import medium_for
from admissions.messaging.models import OutboundMessage, facility_forbidden_terms
from admissions.messaging.quiet_hours import next_allowed
from admissions.models import FollowUp, Inquiry, Person
from admissions.services import dispatcher_kick
from crm.models import User


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
    texts = medium_for(FollowUp.Channel.SMS)
    address = texts.address(person=person, inquiry=inquiry)
    if consent_active(person=person, medium=texts.name, address=address) is None:
        raise ValidationError("This person has not consented to texts at this number.")
    if texts.refusal(person):
        raise ValidationError("This person said it is not OK to text them.")
    now = timezone.now()
    reach = person_reach(
        person=person,
        phone=texts.place_phone(address=address, person=person, inquiry=inquiry),
        fallback_zone=inquiry.facility.time_zone,
    )
    if next_allowed(now, reach=reach) is None:
        raise ValidationError(
            "No time of day is allowed in every zone this person may be in "
            f"({reach.signals.describe()}): record their state or postal code, or call them."
        )
    followup = FollowUp.objects.create(
        inquiry=inquiry,
        kind=FollowUp.Kind.COORDINATOR_TEXT,
        channel=texts.name,
        due_at=now,
        dedupe_key=f"inquiry:{inquiry.pk}:text:{uuid.uuid4().hex}",
    )
    message = OutboundMessage.objects.create(
        person=person,
        inquiry=inquiry,
        followup=followup,
        medium=texts.name,
        to_address=address,
        sender_name=inquiry.facility.neutral_sender_name,
        body=body,
        automated=False,
        sent_by=actor,
        idempotency_key=f"fu-{followup.pk}",
    )
    dispatcher_kick()
    return message
