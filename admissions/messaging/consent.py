"""Consent to messages: which ``ContactConsent`` row, if any, lets a message go to an address.

Prior express written consent is per medium and per number or address (TCPA); the medium
decides how an address matches (``admissions.messaging.mediums``).
"""

from __future__ import annotations

from django.db.models import QuerySet

from admissions.messaging.mediums import medium_for
from admissions.models import ContactConsent, Person


def consents_active(*, person_id: int, medium: str, address: str) -> QuerySet[ContactConsent]:
    """The person's unrevoked consents for ``medium`` at ``address``, newest first."""
    return (
        ContactConsent.objects.filter(medium_for(medium).consent_covers(address))
        .filter(person_id=person_id, revoked_at__isnull=True)
        .order_by("-captured_at")
    )


def consent_active(*, person: Person, medium: str, address: str) -> ContactConsent | None:
    """The active consent of ``person`` for ``medium`` at ``address``, if there is one."""
    if not address:
        return None
    return consents_active(person_id=person.pk, medium=medium, address=address).first()
