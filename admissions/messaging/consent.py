"""Where a message to a person goes, and whether the person consented to it there."""

from __future__ import annotations

import phonenumbers

from admissions.models import ContactConsent, FollowUp, Inquiry, Person


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
