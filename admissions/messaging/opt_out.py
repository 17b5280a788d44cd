"""Opting out and back in: STOP (by text or email) stops every automated message at once; START
gives back text consent to people who had it."""

from __future__ import annotations

from datetime import datetime

from admissions.followup_policy import DIRECT_REPLIES, PENDING
from admissions.messaging.mediums import MEDIUMS
from admissions.messaging.models import InboundMessage
from admissions.models import ContactConsent, FollowUp, Person


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
    """Revoke these people's consent to texts and emails, stop texts, cancel pending automated messages."""
    revoked = ContactConsent.objects.filter(
        person_id__in=person_ids,
        medium__in=list(MEDIUMS),  # every medium of messages; consent to calls stays
        revoked_at__isnull=True,
    ).update(revoked_at=now, revocation_source=source[:120])
    stopped_texting = (
        Person.objects.filter(pk__in=person_ids).exclude(ok_to_text=False).update(ok_to_text=False)
    )
    FollowUp.objects.filter(
        inquiry__person_id__in=person_ids, state__in=PENDING, channel__in=list(MEDIUMS)
    ).exclude(kind__in=DIRECT_REPLIES).update(
        state=FollowUp.State.CANCELLED, finished_at=now, outcome="person opted out"
    )
    return revoked + stopped_texting
