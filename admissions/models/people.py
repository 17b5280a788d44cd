"""People who call or are called about, their callers, and their consent to be contacted."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from admissions.models.indexes import sparse_key_indexes
from crm.models import validate_time_zone
from crm.phones import PhoneNumberField


class Channel(models.TextChoices):
    PHONE = "phone", "Phone call"
    WEB_FORM = "web_form", "Web form"
    REFERRAL = "referral", "Referral"
    CHAT = "chat", "Chat"
    WALK_IN = "walk_in", "Walk-in"


class Person(models.Model):
    """The prospective patient. One person may have many inquiries over the years."""

    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=20, blank=True)
    phone = PhoneNumberField(blank=True, db_index=True)
    email = models.EmailField(blank=True, db_index=True)
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=2, blank=True)
    postal_code = models.CharField(max_length=10, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])
    preferred_language = models.CharField(max_length=35, default="en")
    ok_to_voicemail = models.BooleanField(null=True, help_text="Unknown until asked.")
    ok_to_text = models.BooleanField(null=True, help_text="Unknown until asked.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "people"
        permissions = [("export_person", "Can export everything recorded about a person")]
        indexes = [models.Index(fields=["last_name", "first_name"], name="person_name_idx")]

    def __str__(self) -> str:
        return f"Person #{self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Caller(models.Model):
    """Whoever called or wrote in about the person: the person, family, or a professional."""

    class Relationship(models.TextChoices):
        SELF = "self", "Self"
        FAMILY = "family", "Family member"
        PROFESSIONAL = "professional", "Professional"
        OTHER = "other", "Other"

    relationship = models.CharField(max_length=12, choices=Relationship.choices)
    relationship_detail = models.CharField(max_length=60, blank=True, help_text='e.g. "mother", "therapist"')
    name = models.CharField(max_length=120, blank=True)
    phone = PhoneNumberField(blank=True)
    email = models.EmailField(blank=True)
    organisation = models.CharField(max_length=120, blank=True)

    def __str__(self) -> str:
        return f"Caller #{self.pk} ({self.get_relationship_display()})"


class ContactConsent(models.Model):
    """Prior express written consent for one channel and one address, with its revocation."""

    class Medium(models.TextChoices):
        SMS = "sms", "Text messages"
        EMAIL = "email", "Email"
        CALL = "call", "Phone calls"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="consents")
    medium = models.CharField(max_length=5, choices=Medium.choices)
    address = models.CharField(max_length=254, help_text="The E.164 number or email address consented.")
    source = models.CharField(
        max_length=60, help_text='Where it was captured, e.g. "web form", "admit line call".'
    )
    consent_text = models.TextField(help_text="The exact wording the person agreed to.")
    captured_at = models.DateTimeField()
    captured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    page_url = models.URLField(max_length=500, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_source = models.CharField(max_length=120, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["person", "medium", "address"],
                condition=Q(revoked_at__isnull=True),
                name="consent_one_active_per_address",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | ~Q(revocation_source=""),
                name="consent_revocation_has_source",
            ),
        ]
        indexes = [
            models.Index(fields=["address", "medium"], name="consent_address_idx"),
            *sparse_key_indexes("consent", captured_by="captured_by"),
        ]

    def __str__(self) -> str:
        return f"{self.get_medium_display()} consent of person {self.person_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
