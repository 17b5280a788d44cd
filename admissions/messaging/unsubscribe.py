"""The one-click email unsubscribe (RFC 8058): a signed link per consent, and what it revokes."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from admissions.followup_policy import PENDING
from admissions.models import ContactConsent, FollowUp, Person

_UNSUBSCRIBE_SALT = "admissions.messaging.unsubscribe"


def unsubscribe_token(*, consent_id: int) -> str:
    """The signed token of an unsubscribe link: it names one email consent."""
    return signing.dumps(consent_id, salt=_UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(*, consent_id: int) -> str:
    """The absolute one-click unsubscribe link for an email sent under ``consent_id``."""
    path = reverse("messaging:unsubscribe", args=[unsubscribe_token(consent_id=consent_id)])
    return f"{settings.CRM_PUBLIC_URL}{path}"


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
        inquiry__person_id=consent.person_id, state__in=PENDING, channel=FollowUp.Channel.EMAIL
    ).update(state=FollowUp.State.CANCELLED, finished_at=now, outcome="person unsubscribed")
    return revoked
