"""Messaging: templates per facility, cadences as data, and every text and email in or out.

Registered as models of the ``admissions`` app (imported at the end of
``admissions/models.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from admissions.messaging.content import TEMPLATE_VARIABLES, content_problems, unknown_variables
from admissions.messaging.mediums import MEDIUMS, medium_for
from admissions.models import Channel, FollowUp, Inquiry, InquiryEvent, LeadSource, Person
from crm.models import Facility


def _clinical_names(facilities: Iterable[Facility]) -> list[str]:
    """The facilities' own (clinical) names, except where one is the neutral name messages carry."""
    return [f.name for f in facilities if f.name.strip().lower() != f.neutral_sender_name.strip().lower()]


def facility_forbidden_terms(facility: Facility | None) -> list[str]:
    """Program names and clinical names of the facility (or of all facilities), which may reveal
    treatment: a message is signed with the neutral sender name only."""
    from programs.models import Program  # noqa: PLC0415 - keep module import light for migrations

    programs = Program.objects.all() if facility is None else Program.objects.filter(facility=facility)
    facilities = list(Facility.objects.all()) if facility is None else [facility]
    return [*programs.values_list("name", flat=True), *_clinical_names(facilities)]


def facilities_forbidden_terms(facilities: set[Facility]) -> dict[int, list[str]]:
    """``facility_forbidden_terms`` for several (loaded) facilities in one query."""
    from programs.models import Program  # noqa: PLC0415 - keep module import light for migrations

    terms: dict[int, list[str]] = {f.pk: _clinical_names([f]) for f in facilities}
    for facility_id, name in Program.objects.filter(facility_id__in=terms).values_list("facility_id", "name"):
        terms[facility_id].append(name)
    return terms


class MessageTemplate(models.Model):
    """The words of an automated text or email. A facility's own template overrides the center-wide one."""

    class Medium(models.TextChoices):
        SMS = "sms", "Text message"
        EMAIL = "email", "Email"

    facility = models.ForeignKey(
        Facility,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="message_templates",
        help_text="Empty: used by every facility that has no template of its own with this code.",
    )
    code = models.SlugField(max_length=60, help_text='What it is for, e.g. "ack-sms".')
    medium = models.CharField(max_length=5, choices=Medium.choices)
    subject = models.CharField(max_length=150, blank=True, help_text="Email only. Shown in inbox lists.")
    preview = models.CharField(
        max_length=150, blank=True, help_text="Email only: the preview line shown after the subject."
    )
    body = models.TextField(
        help_text="Variables: " + ", ".join("{{ %s }}" % name for name in TEMPLATE_VARIABLES)  # noqa: UP031
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code", "facility__name"]
        constraints = [
            models.UniqueConstraint(fields=["facility", "code"], name="template_unique_code_per_facility"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(facility__isnull=True), name="template_unique_default_code"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.facility or 'all facilities'})"

    def parts(self) -> dict[str, str]:
        """Every part of the message its medium carries, by field: a text's body; an email's
        subject, preview and body (the text part, and the HTML part when one is sent)."""
        return {name: getattr(self, name) for name in medium_for(self.medium).parts}

    def clean(self) -> None:
        if self.medium not in MEDIUMS:
            return  # the field's own check says so
        errors: dict[str, list[str]] = {}
        extra = facility_forbidden_terms(self.facility)
        for target, text in self.parts().items():
            found = content_problems(text, extra_terms=extra)
            if found:
                errors.setdefault(target, []).append(
                    "Must not reveal substance use or treatment; remove: " + ", ".join(found) + "."
                )
        for field in ("subject", "preview", "body"):
            unknown = unknown_variables(getattr(self, field))
            if unknown:
                errors.setdefault(field, []).append("Unknown variables: " + ", ".join(unknown) + ".")
        medium = medium_for(self.medium)
        for field in medium.required:
            if not getattr(self, field):
                errors.setdefault(field, []).append(f"{medium.noun.capitalize()}s need a {field}.")
        for field in ("subject", "preview"):
            if field not in medium.parts and getattr(self, field):
                errors.setdefault(field, []).append(f"{medium.noun.capitalize()}s have no {field}.")
        if errors:
            raise ValidationError(errors)


class CadenceStep(models.Model):
    """One step of a cadence: on a trigger, for matching inquiries, plan a follow-up at an offset."""

    class Trigger(models.TextChoices):
        NEW_INQUIRY = "new_inquiry", "A new inquiry arrives"
        ADMISSION_SCHEDULED = "scheduled", "An admission is scheduled (offset from the admission day, 9:00)"
        NURTURE = "nurture", "The inquiry moves to Nurture"
        REFERRED_OUT = "referred_out", "The inquiry is referred out"

    name = models.CharField(max_length=120)
    key = models.SlugField(max_length=40, unique=True, help_text="Part of each follow-up's dedupe key.")
    trigger = models.CharField(max_length=14, choices=Trigger.choices)
    facility = models.ForeignKey(
        Facility, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="Empty: all."
    )
    inquiry_channel = models.CharField(
        max_length=10, choices=Channel.choices, blank=True, help_text="Only inquiries that came in this way."
    )
    lead_source_kind = models.CharField(max_length=14, choices=LeadSource.Kind.choices, blank=True)
    kind = models.CharField(max_length=20, choices=FollowUp.Kind.choices)
    channel = models.CharField(max_length=5, choices=FollowUp.Channel.choices)
    template_code = models.SlugField(max_length=60, blank=True)
    offset = models.DurationField(help_text="After the trigger (negative: before an admission).")
    repeat_every = models.DurationField(null=True, blank=True, help_text="Repeat while the stage holds.")
    max_repeats = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["trigger", "offset"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.channel != FollowUp.Channel.TASK and not self.template_code:
            raise ValidationError({"template_code": "Texts and emails need a template."})


class CadencePlanMark(models.Model):
    """A timeline event whose cadence has been planned, so each trigger plans once."""

    event = models.OneToOneField(InquiryEvent, on_delete=models.CASCADE, primary_key=True, related_name="+")
    planned_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Cadence planned for event {self.event_id}"


class OutboundMessage(models.Model):
    """One text or email to a person, with its provider id and delivery status."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        BLOCKED = "blocked", "Blocked"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="outbound_messages")
    inquiry = models.ForeignKey(
        Inquiry, null=True, blank=True, on_delete=models.CASCADE, related_name="outbound_messages"
    )
    followup = models.OneToOneField(
        FollowUp, null=True, blank=True, on_delete=models.SET_NULL, related_name="message"
    )
    medium = models.CharField(max_length=5, choices=MessageTemplate.Medium.choices)
    to_address = models.CharField(max_length=254)
    sender_name = models.CharField(max_length=60)
    subject = models.CharField(max_length=150, blank=True)
    preview = models.CharField(max_length=150, blank=True)
    body = models.TextField()
    automated = models.BooleanField(default=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    idempotency_key = models.CharField(max_length=80, unique=True)
    provider_message_id = models.CharField(max_length=80, blank=True, db_index=True)
    status = models.CharField(max_length=11, choices=Status.choices, default=Status.PENDING)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["person", "sent_at"], name="outbound_person_sent_idx")]

    def __str__(self) -> str:
        return f"{self.get_medium_display()} #{self.pk} to person {self.person_id}"


class InboundMessage(models.Model):
    """A text or email reply received, kept whether or not it matched a person."""

    class Meaning(models.TextChoices):
        REPLY = "reply", "Reply"
        OPT_OUT = "opt_out", "Opt-out"
        HELP = "help", "Help request"
        UNCLEAR = "unclear", "Unclear: may be an opt-out"

    channel = models.CharField(max_length=5, choices=MessageTemplate.Medium.choices, default="sms")
    provider_message_id = models.CharField(max_length=200, unique=True)
    from_number = models.CharField(
        max_length=254, db_index=True, help_text="The sender's E.164 number, or email address for an email."
    )
    to_number = models.CharField(max_length=20, blank=True)
    body = models.TextField(blank=True)
    meaning = models.CharField(max_length=8, choices=Meaning.choices)
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )
    inquiry = models.ForeignKey(
        Inquiry, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"Inbound text #{self.pk} ({self.get_meaning_display()})"


class SendingRule(models.Model):
    """Calling hours and a daily cap a law sets for people in one place (or for everyone: "US").

    A rule applies to a person when any signal points to its place: the state on file, the
    postal code or the phone number's area code (Florida and Oklahoma presume a call to one of
    their area codes reaches someone in the state). Where several rules apply, the narrowest
    hours and the lowest cap win, together with ``MESSAGING_QUIET_HOURS_DEFAULT``.
    """

    place = models.CharField(
        max_length=2,
        unique=True,
        help_text='Two-letter state or territory code, or "US" for a federal rule that applies everywhere.',
    )
    name = models.CharField(max_length=80, help_text='e.g. "Florida Telephone Solicitation Act".')
    starts_at = models.TimeField(help_text="Earliest local time a text or call may go out.")
    ends_at = models.TimeField(help_text="Local time from which nothing goes out.")
    max_per_24h = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="At most this many texts to the person in any 24 hours (empty: no cap).",
    )
    statute = models.CharField(max_length=200, help_text="The citation, e.g. Fla. Stat. § 501.616(6).")
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["place"]

    def __str__(self) -> str:
        return f"{self.place}: {self.starts_at:%H:%M}-{self.ends_at:%H:%M}"

    def clean(self) -> None:
        self.place = (self.place or "").strip().upper()
        if self.starts_at and self.ends_at and self.starts_at >= self.ends_at:
            raise ValidationError({"ends_at": "The end must be later than the start on the same day."})
        if self.max_per_24h == 0:
            raise ValidationError({"max_per_24h": "Leave it empty for no cap; 0 would stop every text."})


class MessagingHold(models.Model):
    """Automated messages to a person stop until someone allowed to decides otherwise.

    A crisis routing (however it happened) starts one that only a clinician releases; an
    unclear reply ("maybe an opt-out") starts one a coordinator releases once they asked.
    """

    class Reason(models.TextChoices):
        CRISIS = "crisis", "Crisis routing"
        UNCLEAR_REPLY = "unclear_reply", "Unclear reply: may be an opt-out"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="messaging_holds")
    inquiry = models.ForeignKey(
        Inquiry, null=True, blank=True, on_delete=models.SET_NULL, related_name="messaging_holds"
    )
    reason = models.CharField(max_length=14, choices=Reason.choices)
    started_at = models.DateTimeField(default=timezone.now)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    release_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(
                fields=["person"], condition=Q(released_at__isnull=True), name="messaging_hold_active_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} hold on person {self.person_id}"


__all__ = [
    "CadencePlanMark",
    "CadenceStep",
    "InboundMessage",
    "MessageTemplate",
    "MessagingHold",
    "OutboundMessage",
    "SendingRule",
]
