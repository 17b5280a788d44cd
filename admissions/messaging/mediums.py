"""The mediums a message to a person takes, as a registry: for each, where a message goes, which
consent covers that address, what else the person refused, and how a message is finished.

``MEDIUMS`` maps a medium's name ("sms", "email": ``FollowUp.Channel``, ``ContactConsent.Medium``
and ``MessageTemplate.Medium`` share the values) to one ``Medium``. ``medium_for`` raises
``UnknownMedium`` for any other name, so nothing falls through to texting. Sending is the
workers' part: ``workers.channels.TRANSPORTS`` has a transport for each medium named here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.db.models import Q

from admissions.messaging.envelope import Envelope, UnknownMedium
from admissions.messaging.unsubscribe import unsubscribe_url
from admissions.models import FollowUp, Inquiry, Person
from crm import phones

if TYPE_CHECKING:
    from admissions.messaging.models import OutboundMessage


def e164(phone: object) -> str:
    """A phone number as E.164 text, or "" when it is not a valid number."""
    return phones.phone_e164_or_blank(phone)


class Medium:
    """One medium: what differs between a text and an email, and nothing else."""

    name: ClassVar[str]
    noun: ClassVar[str]  # what a coordinator calls one message ("text")
    parts: ClassVar[tuple[str, ...]]  # the parts a message (and its template) carries
    required: ClassVar[tuple[str, ...]]  # the parts it cannot go without
    capped: ClassVar[bool]  # counted by a sending rule's cap of messages per 24 hours
    own_words: ClassVar[bool]  # a coordinator may write one in their own words (else templates only)

    def address(self, *, person: Person, inquiry: Inquiry | None) -> str:
        """Where a message to the person goes: their own address, else the inquiry's."""
        raise NotImplementedError

    def consent_covers(self, address: str) -> Q:
        """The ``ContactConsent`` rows of this medium that cover ``address``."""
        raise NotImplementedError

    def refusal(self, person: Person) -> str:
        """Why the person may not be reached this way beyond consent ("" when nothing says so)."""
        return ""

    def place_phone(self, *, address: str, person: Person, inquiry: Inquiry) -> str:
        """The number whose area code hints where the person is (for their sending hours)."""
        return str(person.phone or inquiry.phone or "")

    def finish(self, parts: dict[str, str], *, consent_id: int | None) -> dict[str, str]:
        """The composed parts with what this medium adds before a message may go."""
        return parts

    def envelope_body(self, *, body: str, inquiry: Inquiry, parts: dict[str, str]) -> str:
        """The body a channel carries for a message written as ``body``."""
        return body

    def timeline_body(self, message: OutboundMessage) -> str:
        """What the inquiry's timeline shows of a message sent."""
        return message.body


class Sms(Medium):
    name = FollowUp.Channel.SMS.value
    noun = "text"
    parts = ("body",)
    required = ("body",)
    capped = True
    own_words = True

    def address(self, *, person: Person, inquiry: Inquiry | None) -> str:
        return e164(person.phone) or e164(inquiry.phone if inquiry else "")

    def consent_covers(self, address: str) -> Q:
        return Q(medium=self.name, address=address)

    def refusal(self, person: Person) -> str:
        return "not OK to text" if person.ok_to_text is False else ""

    def place_phone(self, *, address: str, person: Person, inquiry: Inquiry) -> str:
        return address


class Email(Medium):
    name = FollowUp.Channel.EMAIL.value
    noun = "email"
    parts = ("subject", "preview", "body")
    required = ("subject", "body")
    capped = False
    own_words = False

    def address(self, *, person: Person, inquiry: Inquiry | None) -> str:
        return (person.email or (inquiry.email if inquiry else "")).strip().lower()

    def consent_covers(self, address: str) -> Q:
        return Q(medium=self.name, address__iexact=address)

    def finish(self, parts: dict[str, str], *, consent_id: int | None) -> dict[str, str]:
        if consent_id is None:
            return parts  # a direct reply, sent without a consent check: nothing to unsubscribe from
        return {**parts, "unsubscribe_url": unsubscribe_url(consent_id=consent_id)}

    def envelope_body(self, *, body: str, inquiry: Inquiry, parts: dict[str, str]) -> str:
        return body + email_footer(inquiry=inquiry, unsubscribe=parts.get("unsubscribe_url", ""))

    def timeline_body(self, message: OutboundMessage) -> str:
        return f"{message.subject}\n\n{message.body}"


MEDIUMS: dict[str, Medium] = {medium.name: medium for medium in (Sms(), Email())}
# The mediums whose messages a sending rule's cap per 24 hours counts.
CAPPED = tuple(name for name, medium in MEDIUMS.items() if medium.capped)


def medium_for(name: str) -> Medium:
    """The medium called ``name``; ``UnknownMedium`` for anything else (never a fallback)."""
    try:
        return MEDIUMS[name]
    except KeyError:
        raise UnknownMedium(f"No medium {name!r}; the registry has {', '.join(MEDIUMS)}.") from None


def email_footer(*, inquiry: Inquiry, unsubscribe: str) -> str:
    """The CAN-SPAM footer: the sender's postal address and a working unsubscribe link."""
    f = inquiry.facility
    return (
        f"\n\n--\n{f.neutral_sender_name}, {f.street}, {f.city}, {f.state} {f.postal_code}\n"
        f"To stop these emails: {unsubscribe}\n"
    )


def envelope_build(*, message: OutboundMessage, inquiry: Inquiry, parts: dict[str, str]) -> Envelope:
    """The envelope a channel sends for ``message``."""
    medium = medium_for(message.medium)
    return Envelope(
        message_id=message.pk,
        inquiry_id=inquiry.pk,
        medium=medium.name,
        to=message.to_address,
        sender_name=message.sender_name,
        subject=message.subject,
        preview=message.preview,
        body=medium.envelope_body(body=message.body, inquiry=inquiry, parts=parts),
        idempotency_key=message.idempotency_key,
        unsubscribe_url=parts.get("unsubscribe_url", ""),
    )
