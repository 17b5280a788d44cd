"""Part 2 consents and the disclosure ledger.

A consent carries every element 42 CFR 2.31 requires; a disclosure row is written only by
``privacy.services.disclosure_make`` after a valid consent was found, and is never changed.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from admissions.models import Inquiry, Person, ReferralPartner
from crm.masking import Category
from crm.models import Facility


class Information(models.TextChoices):
    """What a consent allows to be disclosed; a packet holds only these sections."""

    DEMOGRAPHICS = "demographics", "Name, date of birth and contact details"
    INSURANCE = "insurance", "Insurance and coverage details"
    SUBSTANCE_USE = "substance_use", "Substances named at intake"
    SCREENING = "screening", "Pre-admission screening result and level of care"
    TREATMENT_STATUS = "treatment_status", "Admission status and dates"


# The categories of values (crm.masking) each kind of information shows: a disclosed document is
# shown only to a user who sees all of them.
INFORMATION_CATEGORIES: dict[str, frozenset[Category]] = {
    Information.DEMOGRAPHICS: frozenset({Category.NAME, Category.CONTACT}),
    Information.INSURANCE: frozenset({Category.INSURANCE_IDS}),
    Information.SUBSTANCE_USE: frozenset({Category.CLINICAL}),
    Information.SCREENING: frozenset({Category.CLINICAL}),
    Information.TREATMENT_STATUS: frozenset(),
}


class RecipientType(models.TextChoices):
    PARTNER = "partner", "A referral partner"
    VOB_COMPANY = "vob_company", "An outside verification-of-benefits company"
    PROVIDER = "provider", "Another provider, by name"
    INDIVIDUAL = "individual", "A named individual, such as a family member who called"
    TPO = "tpo", "A treatment, payment or health care operations class"


class TpoClass(models.TextChoices):
    TREATMENT = "treatment", "Treatment: providers who treat the patient"
    PAYMENT = "payment", "Payment: health plans, payers and those who verify benefits"
    OPERATIONS = "operations", "Health care operations"


class Purpose(models.TextChoices):
    REFERRAL = "referral", "Referral to another provider for treatment"
    BENEFITS = "benefits", "Verification of benefits and payment"
    CARE_COORDINATION = "care_coordination", "Keeping the referring partner informed of the admission"
    PATIENT_REQUEST = "patient_request", "At the request of the patient"


class SignatureMethod(models.TextChoices):
    E_SIGNATURE = "e_signature", "Electronic signature (name typed by the patient)"
    VERBAL = "verbal", "Verbal consent, recorded"
    PAPER = "paper", "Signed on paper, scanned"


class SignerCapacity(models.TextChoices):
    PATIENT = "patient", "The patient"
    REPRESENTATIVE = "representative", "The patient's legal representative"


class RevocationMethod(models.TextChoices):
    WRITTEN = "written", "In writing"
    VERBAL = "verbal", "Verbally"
    ELECTRONIC = "electronic", "Electronically"


DEFAULT_RIGHT_TO_REVOKE = (
    "You may revoke this consent at any time, in writing or verbally, by telling the admissions "
    "team of the facility named above by phone, in person or by letter. Revoking does not undo "
    "a disclosure already made in reliance on this consent."
)


class Part2Consent(models.Model):
    """A patient's written consent to disclose Part 2 information (42 CFR 2.31), and its revocation."""

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="part2_consents")
    inquiry = models.ForeignKey(
        Inquiry, on_delete=models.PROTECT, related_name="part2_consents", help_text="Where it was captured."
    )
    discloser = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The Part 2 program allowed to disclose.",
    )
    information = models.JSONField(help_text="Codes of ``Information`` the patient allows to be disclosed.")
    information_detail = models.TextField(
        blank=True, help_text="Any further limit on how much and what kind of information."
    )
    recipient_type = models.CharField(max_length=12, choices=RecipientType.choices)
    recipient_partner = models.ForeignKey(
        ReferralPartner, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recipient_name = models.CharField(max_length=160, blank=True)
    tpo_class = models.CharField(max_length=10, choices=TpoClass.choices, blank=True)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    right_to_revoke = models.TextField(help_text="The right-to-revoke statement and how to revoke.")
    expires_on = models.DateField(null=True, blank=True)
    expiry_event = models.CharField(max_length=200, blank=True)
    signature_method = models.CharField(max_length=12, choices=SignatureMethod.choices)
    signer_name = models.CharField(max_length=160)
    signer_capacity = models.CharField(
        max_length=14, choices=SignerCapacity.choices, default=SignerCapacity.PATIENT
    )
    signature_reference = models.CharField(
        max_length=200, blank=True, help_text="Recording id or where the scanned paper is filed."
    )
    signed_on = models.DateField()
    captured_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    captured_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revocation_method = models.CharField(max_length=10, choices=RevocationMethod.choices, blank=True)
    revocation_note = models.CharField(max_length=300, blank=True)
    expiry_alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Part 2 consent"
        ordering = ["-captured_at", "-pk"]
        indexes = [
            models.Index(fields=["person", "revoked_at"], name="part2_consent_person_idx"),
            models.Index(
                fields=["expires_on"],
                condition=Q(revoked_at__isnull=True, expiry_alerted_at__isnull=True),
                name="part2_consent_expiry_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__isnull=False) | ~Q(expiry_event=""), name="part2_consent_expires"
            ),
            models.CheckConstraint(
                condition=(
                    (Q(recipient_type="partner") & Q(recipient_partner__isnull=False))
                    | (
                        Q(recipient_type__in=["vob_company", "provider", "individual"])
                        & ~Q(recipient_name="")
                    )
                    | (Q(recipient_type="tpo") & ~Q(tpo_class=""))
                ),
                name="part2_consent_names_recipient",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True)
                | (~Q(revocation_method="") & Q(revoked_by__isnull=False)),
                name="part2_consent_revocation_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"Part 2 consent #{self.pk}"

    @property
    def recipient_label(self) -> str:
        if self.recipient_type == RecipientType.PARTNER and self.recipient_partner is not None:
            return self.recipient_partner.organisation
        if self.recipient_type == RecipientType.TPO:
            return f"{self.get_tpo_class_display()} (class)"
        return self.recipient_name

    def information_labels(self) -> list[str]:
        return [Information(code).label for code in self.information if code in Information.values]

    def is_expired(self, today: date | None = None) -> bool:
        return self.expires_on is not None and self.expires_on < (today or timezone.localdate())

    def status(self, today: date | None = None) -> str:
        """ "valid", "revoked" or "expired"."""
        if self.revoked_at is not None:
            return "revoked"
        if self.is_expired(today):
            return "expired"
        return "valid"


class DisclosurePath(models.TextChoices):
    REFERRAL_PACKET = "referral_packet", "Referral-out packet"
    OUTSIDE_VOB = "outside_vob", "Outside VOB request"
    PARTNER = "partner", "Partner disclosure"


class Disclosure(models.Model):
    """One disclosure of a person's information: the ledger row and the document sent. Never changed."""

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="disclosures")
    inquiry = models.ForeignKey(Inquiry, on_delete=models.PROTECT, related_name="disclosures")
    discloser = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+")
    consent = models.ForeignKey(Part2Consent, on_delete=models.PROTECT, related_name="disclosures")
    path = models.CharField(max_length=16, choices=DisclosurePath.choices)
    recipient_type = models.CharField(max_length=12, choices=RecipientType.choices)
    recipient_partner = models.ForeignKey(
        ReferralPartner, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recipient_label = models.CharField(max_length=160)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    information = models.JSONField(help_text="Codes of ``Information`` disclosed.")
    document = models.TextField(help_text="The packet as sent, with the redisclosure notice.")
    made_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    made_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-made_at", "-pk"]
        permissions = [
            ("disclose_referral_packet", "Can send a referral-out packet"),
            ("disclose_outside_vob", "Can send an outside VOB request"),
            ("disclose_partner", "Can disclose to a referral partner"),
        ]
        indexes = [models.Index(fields=["person", "made_at"], name="disclosure_ledger_idx")]

    def __str__(self) -> str:
        return f"Disclosure #{self.pk}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValidationError("Disclosure ledger rows cannot be changed.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValidationError("Disclosure ledger rows cannot be deleted.")

    def categories(self) -> frozenset[Category]:
        """The categories of values (``crm.masking``) the disclosed document shows."""
        return frozenset().union(
            *(INFORMATION_CATEGORIES.get(code, frozenset()) for code in self.information)
        )

    def information_labels(self) -> list[str]:
        return [Information(code).label for code in self.information if code in Information.values]
