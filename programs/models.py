"""Facilities' programs, the level-of-care catalogue and capacity (census and holds).

This app knows nothing of inquiries: a hold names what it is for in ``reference``
and admissions keeps the link from its side.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.models import Facility


class Setting(models.TextChoices):
    WITHDRAWAL_MANAGEMENT = "withdrawal", "Withdrawal management"
    RESIDENTIAL = "residential", "Inpatient / residential"
    PHP = "php", "Partial hospitalization (PHP)"
    IOP = "iop", "Intensive outpatient (IOP)"
    OP = "op", "Outpatient (OP)"


class LevelOfCare(models.Model):
    """One level of a placement criteria edition (data, so editions can be added)."""

    edition = models.CharField(max_length=20, help_text='e.g. "ASAM 3", "ASAM 4"')
    code = models.CharField(max_length=10, help_text='e.g. "3.7-WM", "2.5"')
    name = models.CharField(max_length=120)
    setting = models.CharField(max_length=12, choices=Setting.choices)
    intensity = models.DecimalField(
        max_digits=3,
        decimal_places=1,
        help_text="Comparable intensity across editions (higher = more intensive).",
    )
    withdrawal_management = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["edition", "intensity", "code"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "code"], name="level_unique_code_per_edition"),
        ]
        verbose_name_plural = "levels of care"

    def __str__(self) -> str:
        return f"{self.edition} {self.code} {self.name}"


class Payer(models.Model):
    name = models.CharField(max_length=120, unique=True)
    is_self_pay = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Specialty(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "specialties"

    def __str__(self) -> str:
        return self.name


class Program(models.Model):
    class CapacityKind(models.TextChoices):
        BEDS = "beds", "Beds"
        SLOTS = "slots", "Slots"

    class Gender(models.TextChoices):
        ANY = "any", "Any gender"
        WOMEN = "women", "Women only"
        MEN = "men", "Men only"

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="programs")
    name = models.CharField(max_length=120)
    setting = models.CharField(max_length=12, choices=Setting.choices)
    level_of_care = models.ForeignKey(LevelOfCare, on_delete=models.PROTECT, related_name="programs")
    capacity_kind = models.CharField(max_length=5, choices=CapacityKind.choices)
    capacity = models.PositiveIntegerField(help_text="Staffed beds, or slots per day / cohort.")
    accepted_payers = models.ManyToManyField(Payer, blank=True, related_name="programs")
    min_age = models.PositiveSmallIntegerField(default=18)
    max_age = models.PositiveSmallIntegerField(null=True, blank=True)
    gender = models.CharField(max_length=5, choices=Gender.choices, default=Gender.ANY)
    specialties = models.ManyToManyField(Specialty, blank=True, related_name="programs")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["facility__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["facility", "name"], name="program_unique_name_per_facility"),
            models.CheckConstraint(
                condition=Q(max_age__isnull=True) | Q(max_age__gte=models.F("min_age")),
                name="program_age_range_valid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(setting__in=["withdrawal", "residential"], capacity_kind="beds")
                    | Q(setting__in=["php", "iop", "op"], capacity_kind="slots")
                ),
                name="program_capacity_kind_matches_setting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.facility})"


class Census(models.Model):
    """Current occupancy of a program: occupied beds or enrolled slots."""

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="census")
    occupied = models.PositiveIntegerField(default=0)
    expected_discharges_7d = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "census"

    def __str__(self) -> str:
        return f"{self.program}: {self.occupied}"


class CapacityHoldQuerySet(models.QuerySet["CapacityHold"]):
    def active(self, at: object = None) -> CapacityHoldQuerySet:
        now = at or timezone.now()
        return self.filter(released_at__isnull=True, held_until__gt=now)


class CapacityHold(models.Model):
    """A bed or slot reserved until ``held_until``; it stops counting once released or expired."""

    class ReleaseReason(models.TextChoices):
        ADMITTED = "admitted", "Admitted"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="holds")
    reference = models.CharField(max_length=60, help_text='What holds it, e.g. "inquiry:42".')
    held_from = models.DateField(default=timezone.localdate)
    held_until = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.CharField(max_length=10, choices=ReleaseReason.choices, blank=True)

    objects = CapacityHoldQuerySet.as_manager()

    class Meta:
        ordering = ["held_until"]
        indexes = [
            models.Index(
                fields=["program", "held_until"],
                condition=Q(released_at__isnull=True),
                name="hold_open_by_program_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["reference"],
                condition=Q(released_at__isnull=True),
                name="hold_one_open_per_reference",
            ),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True) | ~Q(release_reason=""),
                name="hold_release_needs_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.program} held for {self.reference} until {self.held_until:%Y-%m-%d}"


class Discharge(models.Model):
    """A discharge from a program: expected on a date, done, or called off.

    Staff record them on the board; the EHR sends them through ``import_discharges`` or the
    discharge API (``external_id`` is the EHR's own id, so a re-sent file changes nothing).
    No person is named: census counts places, the EHR keeps the patient.
    """

    class State(models.TextChoices):
        EXPECTED = "expected", "Expected"
        DONE = "done", "Discharged"
        CANCELLED = "cancelled", "Called off"

    class Source(models.TextChoices):
        STAFF = "staff", "Recorded by staff"
        EHR = "ehr", "Imported from the EHR"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="discharge_records")
    on = models.DateField(help_text="The day the person leaves (expected or actual).")
    state = models.CharField(max_length=9, choices=State.choices, default=State.EXPECTED)
    source = models.CharField(max_length=5, choices=Source.choices, default=Source.STAFF)
    external_id = models.CharField(max_length=80, blank=True, help_text="The EHR's id of this discharge.")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["on", "pk"]
        indexes = [
            models.Index(
                fields=["program", "on"], condition=Q(state="expected"), name="discharge_expected_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "external_id"],
                condition=~Q(external_id=""),
                name="discharge_unique_external_id",
            ),
            models.CheckConstraint(
                condition=~Q(state="done") | Q(done_at__isnull=False), name="discharge_done_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_state_display()} discharge from {self.program_id} on {self.on}"
