"""Screening forms (versioned item catalogues) and the screenings saved against an inquiry.

Loaded by ``admissions.models`` (last line) so the models belong to the admissions app.
Rows are written only by ``admissions.screening.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from admissions.models import Inquiry
from admissions.screening.definition import FormDefinition, definition_load
from crm.fields import EncryptedJSONField, EncryptedTextField
from programs.models import LevelOfCare, Program

__all__ = ["Screening", "ScreeningForm"]


class ScreeningForm(models.Model):
    """One version of the pre-screen: its items, thresholds and rating tables, as JSON."""

    version = models.PositiveIntegerField(unique=True)
    definition = models.JSONField()
    is_active = models.BooleanField(default=True, help_text="New screens use the newest active version.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "admissions"
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"Pre-screen v{self.version}"

    def loaded(self) -> FormDefinition:
        return definition_load(data=self.definition)


class Screening(models.Model):
    """A pre-screen of one inquiry: answers, the rules' result, and the clinician's sign-off.

    One screening per inquiry stays open (unsigned) at a time; partial answers are saved
    and resumed on it. ``result`` is the rules' output at the last save, kept as evidence.
    """

    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="screenings")
    form = models.ForeignKey(ScreeningForm, on_delete=models.PROTECT, related_name="screenings")
    answers = EncryptedJSONField(default=dict, blank=True, help_text="Encrypted at rest (crm.fields).")
    complete = models.BooleanField(default=False)
    result = models.JSONField(default=dict, blank=True)
    provisional_level = models.ForeignKey(
        LevelOfCare, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    minimum_intensity = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    safety_flags = models.JSONField(default=list, blank=True, help_text="Codes of the safety flags raised.")
    has_red_flag = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    saved_at = models.DateTimeField(default=timezone.now)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refer_out_proposed_at = models.DateTimeField(null=True, blank=True)

    final_level = models.ForeignKey(
        LevelOfCare, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    signoff_note = EncryptedTextField(blank=True)

    override_program = models.ForeignKey(
        Program, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    override_reason = EncryptedTextField(blank=True)
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    override_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "admissions"
        ordering = ["-created_at", "-pk"]
        permissions = [("view_clinical_answers", "Can see pre-screen answers and clinical notes")]
        indexes = [
            models.Index(fields=["inquiry", "created_at"], name="screening_inquiry_idx"),
            models.Index(fields=["has_red_flag", "signed_at"], name="screening_review_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["inquiry"], condition=Q(signed_at__isnull=True), name="screening_one_open_per_inquiry"
            ),
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True)
                | Q(final_level__isnull=False, signed_by__isnull=False, complete=True),
                name="screening_signoff_complete",
            ),
            models.CheckConstraint(
                condition=Q(override_program__isnull=True) | ~Q(override_reason=""),
                name="screening_override_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Screening #{self.pk} of inquiry {self.inquiry_id}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None
