"""Messaging: templates per facility, cadences as data, and every text and email in or out.

Registered as models of the ``admissions`` app (imported at the end of
``admissions/models.py``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from admissions.messaging.content import TEMPLATE_VARIABLES, content_problems, unknown_variables
from admissions.models import Channel, FollowUp, Inquiry, InquiryEvent, LeadSource, Person
from crm.models import Facility


def facility_forbidden_terms(facility: Facility | None) -> list[str]:
    """Program names of the facility (or of all facilities), which may reveal treatment."""
    from programs.models import Program  # noqa: PLC0415 - keep module import light for migrations

    programs = Program.objects.all() if facility is None else Program.objects.filter(facility=facility)
    return list(programs.values_list("name", flat=True))


def facilities_forbidden_terms(facility_ids: set[int]) -> dict[int, list[str]]:
    """``facility_forbidden_terms`` for several facilities in one query."""
    from programs.models import Program  # noqa: PLC0415 - keep module import light for migrations

    terms: dict[int, list[str]] = {pk: [] for pk in facility_ids}
    for facility_id, name in Program.objects.filter(facility_id__in=facility_ids).values_list(
        "facility_id", "name"
    ):
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

    def visible_text(self) -> dict[str, str]:
        """The parts a bystander may see without opening the message, by field."""
        if self.medium == self.Medium.SMS:
            return {"body": self.body}
        return {"subject": self.subject, "preview": self.preview or self.body[:140]}

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        extra = facility_forbidden_terms(self.facility)
        for field, text in self.visible_text().items():
            target = "body" if field == "preview" and not self.preview else field
            found = content_problems(text, extra_terms=extra)
            if found:
                errors.setdefault(target, []).append(
                    "Must not reveal substance use or treatment; remove: " + ", ".join(found) + "."
                )
        for field in ("subject", "preview", "body"):
            unknown = unknown_variables(getattr(self, field))
            if unknown:
                errors.setdefault(field, []).append("Unknown variables: " + ", ".join(unknown) + ".")
        if self.medium == self.Medium.EMAIL and not self.subject:
            errors.setdefault("subject", []).append("An email needs a subject.")
        if self.medium == self.Medium.SMS and (self.subject or self.preview):
            errors.setdefault("subject", []).append("Texts have no subject or preview.")
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
    """A text received from a phone number, kept whether or not it matched a person."""

    class Meaning(models.TextChoices):
        REPLY = "reply", "Reply"
        OPT_OUT = "opt_out", "Opt-out"
        HELP = "help", "Help request"

    provider_message_id = models.CharField(max_length=80, unique=True)
    from_number = models.CharField(max_length=20, db_index=True)
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


__all__ = ["CadencePlanMark", "CadenceStep", "InboundMessage", "MessageTemplate", "OutboundMessage"]
