"""Where inquiries come from: referral partners, lead sources, campaigns and their API keys."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from crm.models import Facility
from crm.phones import PhoneNumberField


class ReferralPartner(models.Model):
    """An organisation that refers people. Tracked for attribution only: no payment fields."""

    class Kind(models.TextChoices):
        HOSPITAL = "hospital", "Hospital / ED"
        CLINICIAN = "clinician", "Therapist / physician"
        EAP = "eap", "Employee assistance program"
        LEGAL = "legal", "Court / probation"
        TREATMENT = "treatment", "Other treatment provider"
        COMMUNITY = "community", "Community / alumni"

    organisation = models.CharField(max_length=160, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    contact_name = models.CharField(max_length=120, blank=True)
    contact_phone = PhoneNumberField(blank=True)
    contact_email = models.EmailField(blank=True)
    relationship_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["organisation"]

    def __str__(self) -> str:
        return self.organisation


class LeadSource(models.Model):
    """A named source of leads (a vendor, a site, the admit line). Purchased lead lists are not a source."""

    class Kind(models.TextChoices):
        WEBSITE = "website", "Own website"
        CALL_TRACKING = "call_tracking", "Call tracking"
        CHAT = "chat", "Chat vendor"
        DIRECTORY = "directory", "Directory listing"
        ADMIT_LINE = "admit_line", "Admit line"
        REFERRAL = "referral", "Referral"
        WALK_IN = "walk_in", "Walk-in"

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=14, choices=Kind.choices)
    default_facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="lead_sources")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    lead_source = models.ForeignKey(LeadSource, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=120)
    utm_campaign = models.CharField(max_length=120, blank=True, db_index=True)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["lead_source", "name"], name="campaign_unique_per_source"),
        ]

    def __str__(self) -> str:
        return self.name


class LeadSourceKey(models.Model):
    """An API key of a lead source. Only a short prefix and a SHA-256 of the key are stored.

    Keys are 256-bit random tokens, so a fast hash is enough (no password stretching):
    the prefix finds the row through a unique index, the hash proves possession.
    """

    lead_source = models.ForeignKey(LeadSource, on_delete=models.PROTECT, related_name="api_keys")
    label = models.CharField(max_length=80, blank=True, help_text='What it is for, e.g. "web form".')
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    rate_limit_per_minute = models.PositiveIntegerField(
        default=120, help_text="Requests per minute before the API answers 429."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "lead source API key"

    def __str__(self) -> str:
        return f"{self.prefix} ({self.lead_source_id})"

    def is_usable(self, now: datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())
