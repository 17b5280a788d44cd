"""Call-tracking sources with their webhook secrets, tracking numbers, and the calls received."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from admissions.models.attribution import Campaign, LeadSource
from admissions.models.indexes import sparse_key_indexes
from admissions.models.inquiry import Inquiry, InquiryEvent
from crm.fields import EncryptedTextField
from crm.phones import PhoneNumberField


class CallTrackingSource(models.Model):
    """One account at a call-tracking service sending webhooks to its own URL.

    The URL names the row by ``ref`` (not a secret); the service signs each request with
    ``secret``. Unlike a lead source API key (kept as a hash, ``LeadSourceKey``), an HMAC secret
    must be readable to check a signature, so it is encrypted at rest with the field keys
    (``crm.fields``) and shown only once, when it is set.
    """

    class Provider(models.TextChoices):
        CALLRAIL = "callrail", "CallRail"
        CALLTRACKINGMETRICS = "ctm", "CallTrackingMetrics"

    lead_source = models.ForeignKey(LeadSource, on_delete=models.PROTECT, related_name="call_tracking")
    provider = models.CharField(max_length=10, choices=Provider.choices)
    label = models.CharField(max_length=80, blank=True, help_text='Which account, e.g. "CallRail main".')
    ref = models.CharField(max_length=24, unique=True, editable=False)
    secret = EncryptedTextField(editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "call-tracking source"

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.label or self.ref}"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None


class TrackingNumber(models.Model):
    """A tracking number: calls to it are attributed to its lead source and campaign."""

    number = PhoneNumberField(unique=True)
    lead_source = models.ForeignKey(LeadSource, on_delete=models.PROTECT, related_name="tracking_numbers")
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="tracking_numbers"
    )
    label = models.CharField(max_length=80, blank=True, help_text='Where it is shown, e.g. "Google Ads".')

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} ({self.label or self.lead_source_id})"


class TrackedCall(models.Model):
    """One call as a service reported it. Its row is locked while an event of the call is
    received, so a call's start and end, or two deliveries of one event, never interleave."""

    source = models.ForeignKey(CallTrackingSource, on_delete=models.PROTECT, related_name="calls")
    call_id = models.CharField(max_length=64, help_text="The service's id of the call.")
    inquiry = models.ForeignKey(
        Inquiry, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    received_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "call_id"], name="trackedcall_unique_per_source"),
        ]
        indexes = [
            models.Index(
                fields=["inquiry"], condition=models.Q(inquiry__isnull=False), name="trackedcall_inquiry_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Call {self.call_id} ({self.source_id})"


class CallEvent(models.Model):
    """One event of a tracked call, received once: (source, call, kind) is unique."""

    class Kind(models.TextChoices):
        START = "start", "Call started"
        END = "end", "Call ended"

    call = models.ForeignKey(TrackedCall, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=5, choices=Kind.choices)
    received_at = models.DateTimeField(default=timezone.now)
    occurred_at = models.DateTimeField()
    timeline_event = models.ForeignKey(
        InquiryEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["call", "kind"], name="callevent_once_per_kind"),
        ]
        indexes = sparse_key_indexes("callevent", timeline_event="timeline_event")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of call {self.call_id}"
