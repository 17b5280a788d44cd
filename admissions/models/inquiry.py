"""The inquiry, its substances, touches, insurance, timeline and cross-facility duplicates."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from admissions.models.attribution import Campaign, LeadSource, ReferralPartner
from admissions.models.indexes import sparse_key_indexes
from admissions.models.people import Caller, Channel, Person
from admissions.pipeline import OPEN_STAGES, WORKING_STAGES, LostReason, Stage
from crm.fields import EncryptedTextField
from crm.models import Facility
from crm.phones import PhoneNumberField
from programs.models import CapacityHold, LevelOfCare, Payer, Program

_OPEN = Q(stage__in=sorted(OPEN_STAGES))


def working_stage_rank() -> models.Case:
    """An open stage's place in the pipeline (0 for New), as "my open inquiries" are ordered.

    The same expression is indexed (``inquiry_owner_stage_idx``); PostgreSQL uses the index only
    for this exact expression, so the queue orders by this function, never by a copy of it.
    """
    whens = [models.When(stage=stage, then=models.Value(i)) for i, stage in enumerate(WORKING_STAGES)]
    return models.Case(*whens, output_field=models.IntegerField())


class Substance(models.Model):
    """The substance catalogue used by intake, the lead API and screening."""

    class Category(models.TextChoices):
        ALCOHOL = "alcohol", "Alcohol"
        OPIOID = "opioid", "Opioid"
        SEDATIVE = "sedative", "Sedative-hypnotic"
        MUSCLE_RELAXANT = "muscle_relaxant", "Muscle relaxant"
        GABAPENTINOID = "gabapentinoid", "Gabapentinoid"
        STIMULANT = "stimulant", "Stimulant"
        CANNABIS = "cannabis", "Cannabis"
        OTHER = "other", "Other"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    category = models.CharField(max_length=16, choices=Category.choices)
    sedative_withdrawal_risk = models.BooleanField(
        default=False, help_text="Daily use can cause seizures or delirium on stopping."
    )
    sort_order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class Inquiry(models.Model):
    """One episode of someone seeking treatment. Its stage moves only through services."""

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="inquiries")
    caller = models.ForeignKey(
        Caller, null=True, blank=True, on_delete=models.SET_NULL, related_name="inquiries", db_index=False
    )
    # Indexed by inquiry_queue_idx, which leads with it.
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="inquiries", db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # First-touch attribution, copied from the first Touch for fast reporting.
    lead_source = models.ForeignKey(  # indexed by inquiry_source_idx, which leads with it
        LeadSource, null=True, blank=True, on_delete=models.PROTECT, related_name="inquiries", db_index=False
    )
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="inquiries", db_index=False
    )
    referral_partner = models.ForeignKey(
        ReferralPartner,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="inquiries",
        db_index=False,
    )
    external_id = models.CharField(max_length=100, blank=True)
    # Contact points as given on this inquiry, normalised; they drive duplicate checks.
    phone = PhoneNumberField(blank=True)
    email = models.EmailField(blank=True)
    message = EncryptedTextField(blank=True, help_text="The caller's own words; encrypted at rest.")
    substances = models.ManyToManyField(Substance, blank=True, related_name="inquiries")
    program_of_interest = models.ForeignKey(
        Program, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    assigned_to = models.ForeignKey(  # indexed by inquiry_owner_idx, which leads with it
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inquiries",
        db_index=False,
    )
    assigned_at = models.DateTimeField(null=True, blank=True)

    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NEW)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    contacted_at = models.DateTimeField(null=True, blank=True)
    prescreened_at = models.DateTimeField(null=True, blank=True)
    vob_started_at = models.DateTimeField(null=True, blank=True)
    clinical_review_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    crisis_routed_at = models.DateTimeField(null=True, blank=True)
    nurture_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    approved_level = models.ForeignKey(
        LevelOfCare, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    approved_program = models.ForeignKey(
        Program, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    admission_date = models.DateField(null=True, blank=True)
    capacity_hold = models.ForeignKey(
        CapacityHold, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    admitted_program = models.ForeignKey(
        Program, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    lost_reason = models.CharField(max_length=20, choices=LostReason.choices, blank=True)
    referred_out_to = models.CharField(max_length=160, blank=True)
    close_note = models.CharField(max_length=300, blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates", db_index=False
    )
    has_red_flag = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "inquiries"
        permissions = [("assign_inquiry", "Can assign inquiries to coordinators")]
        indexes = [
            models.Index(fields=["facility", "stage", "created_at"], name="inquiry_queue_idx"),
            models.Index(fields=["assigned_to", "stage"], name="inquiry_owner_idx"),
            models.Index(fields=["created_at"], name="inquiry_created_idx"),
            # the dashboards' rollup refresh finds changed inquiries by this
            models.Index(fields=["stage_changed_at"], name="inquiry_stage_changed_idx"),
            models.Index(fields=["lead_source", "created_at"], name="inquiry_source_idx"),
            # The work queue: open inquiries in arrival order, and the tab counts read from the
            # index alone; a few percent of all inquiries are open at any time.
            models.Index(fields=["created_at", "id"], condition=_OPEN, name="inquiry_open_arrival_idx"),
            models.Index(
                fields=["facility", "stage", "assigned_to"],
                include=["id"],
                condition=_OPEN,
                name="inquiry_open_counts_idx",
            ),
            # "My open inquiries" by stage, then arrival; "Unassigned" in arrival order.
            models.Index(
                F("assigned_to"),
                working_stage_rank(),
                F("created_at"),
                F("id"),
                condition=_OPEN,
                name="inquiry_owner_stage_idx",
            ),
            models.Index(
                fields=["created_at", "id"],
                condition=_OPEN & Q(assigned_to__isnull=True),
                name="inquiry_unassigned_idx",
            ),
            *sparse_key_indexes(
                "inquiry",
                caller="caller",
                campaign="campaign",
                referral_partner="referral",
                program_of_interest="interest",
                approved_level="appr_level",
                approved_program="appr_program",
                capacity_hold="hold",
                admitted_program="adm_program",
                duplicate_of="duplicate_of",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["person"], condition=_OPEN, name="inquiry_one_open_per_person"),
            models.UniqueConstraint(
                fields=["phone"], condition=_OPEN & ~Q(phone=""), name="inquiry_unique_open_phone"
            ),
            models.UniqueConstraint(
                fields=["email"], condition=_OPEN & ~Q(email=""), name="inquiry_unique_open_email"
            ),
            models.UniqueConstraint(
                fields=["lead_source", "external_id"],
                condition=~Q(external_id=""),
                name="inquiry_unique_external_id_per_source",
            ),
            models.CheckConstraint(
                condition=~Q(stage=Stage.CLOSED) | ~Q(lost_reason=""), name="inquiry_closed_has_lost_reason"
            ),
            models.CheckConstraint(
                condition=~Q(stage=Stage.REFERRED_OUT) | ~Q(referred_out_to=""),
                name="inquiry_referred_out_has_destination",
            ),
            models.CheckConstraint(
                condition=~Q(stage=Stage.DUPLICATE) | Q(duplicate_of__isnull=False),
                name="inquiry_duplicate_names_original",
            ),
            models.CheckConstraint(
                condition=~Q(stage=Stage.ADMITTED) | Q(admitted_at__isnull=False),
                name="inquiry_admitted_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Inquiry #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES

    def minutes_to_first_attempt(self) -> float | None:
        if self.first_attempt_at is None:
            return None
        return (self.first_attempt_at - self.created_at).total_seconds() / 60

    def age(self, now: datetime | None = None) -> float:
        """Minutes since the inquiry arrived."""
        return ((now or timezone.now()) - self.created_at).total_seconds() / 60


class Touch(models.Model):
    """One marketing or referral touch on an inquiry. First and last touch come from here."""

    # Indexed by touch_inquiry_idx, which leads with it.
    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="touches", db_index=False)
    at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    lead_source = models.ForeignKey(
        LeadSource, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    referral_partner = models.ForeignKey(
        ReferralPartner, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    utm_source = models.CharField(max_length=120, blank=True)
    utm_medium = models.CharField(max_length=120, blank=True)
    utm_campaign = models.CharField(max_length=120, blank=True)
    utm_term = models.CharField(max_length=120, blank=True)
    utm_content = models.CharField(max_length=120, blank=True)
    gclid = models.CharField(max_length=200, blank=True)
    landing_page = models.URLField(max_length=500, blank=True)
    referrer = models.URLField(max_length=500, blank=True)
    call_tracking_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [
            models.Index(fields=["inquiry", "at"], name="touch_inquiry_idx"),
            *sparse_key_indexes("touch", campaign="campaign", referral_partner="referral"),
        ]

    def __str__(self) -> str:
        return f"Touch #{self.pk} on {self.inquiry_id}"


class InsurancePolicy(models.Model):
    class Rank(models.TextChoices):
        PRIMARY = "primary", "Primary"
        SECONDARY = "secondary", "Secondary"

    class VobStatus(models.TextChoices):
        NOT_REQUESTED = "not_requested", "Not requested"
        REQUESTED = "requested", "Requested"
        IN_PROGRESS = "in_progress", "In progress"
        VIABLE = "viable", "Viable"
        NOT_VIABLE = "not_viable", "Not viable"
        SELF_PAY = "self_pay", "Self-pay"

    # Indexed by the insurance_one_per_rank constraint, which leads with it.
    inquiry = models.ForeignKey(
        Inquiry, on_delete=models.CASCADE, related_name="insurance_policies", db_index=False
    )
    rank = models.CharField(max_length=9, choices=Rank.choices, default=Rank.PRIMARY)
    payer = models.ForeignKey(
        Payer, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    payer_name = models.CharField(max_length=120, blank=True, help_text="As the caller said it.")
    member_id = models.CharField(max_length=60, blank=True)
    group_number = models.CharField(max_length=60, blank=True)
    subscriber_name = models.CharField(max_length=120, blank=True)
    subscriber_date_of_birth = models.DateField(null=True, blank=True)
    subscriber_relationship = models.CharField(max_length=20, blank=True)
    vob_status = models.CharField(max_length=14, choices=VobStatus.choices, default=VobStatus.NOT_REQUESTED)
    vob_requested_at = models.DateTimeField(null=True, blank=True)
    vob_completed_at = models.DateTimeField(null=True, blank=True)
    in_network = models.BooleanField(null=True, blank=True)
    deductible_remaining = models.DecimalField(
        max_digits=9, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    out_of_pocket_remaining = models.DecimalField(
        max_digits=9, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    authorization_required = models.BooleanField(null=True, blank=True)
    vob_notes = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "insurance policies"
        permissions = [("view_insurance_ids", "Can see insurance member, group and subscriber details")]
        constraints = [
            models.UniqueConstraint(fields=["inquiry", "rank"], name="insurance_one_per_rank"),
        ]
        indexes = [
            models.Index(fields=["vob_status", "vob_requested_at"], name="insurance_vob_queue_idx"),
            *sparse_key_indexes("insurance", payer="payer"),
        ]

    def __str__(self) -> str:
        return f"{self.get_rank_display()} insurance of inquiry {self.inquiry_id}"


class InquiryEvent(models.Model):
    """The inquiry timeline: calls, notes, messages, stage changes, assignments. Written by services only."""

    class Kind(models.TextChoices):
        CREATED = "created", "Inquiry created"
        TOUCH = "touch", "New touch merged"
        CALL = "call", "Call"
        NOTE = "note", "Note"
        MESSAGE = "message", "Message"
        STAGE_CHANGED = "stage_changed", "Stage changed"
        ASSIGNED = "assigned", "Assigned"
        CAPACITY_HELD = "capacity_held", "Bed or slot held"
        CAPACITY_RELEASED = "capacity_released", "Bed or slot released"
        INSURANCE = "insurance", "Insurance updated"
        SCREENING = "screening", "Pre-screen saved"
        RED_FLAG = "red_flag", "Red flag"
        REFER_OUT_PROPOSED = "refer_out_proposed", "Referral out proposed"
        SCREENING_SIGNOFF = "screening_signoff", "Clinician sign-off"
        MATCH_OVERRIDE = "match_override", "Program match overridden"
        WAITLISTED = "waitlisted", "Waitlisted"
        OFFER_MADE = "offer_made", "Waitlist place offered"
        OFFER_ENDED = "offer_ended", "Waitlist offer ended"

    class CallDirection(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    class CallOutcome(models.TextChoices):
        CONNECTED = "connected", "Connected"
        NO_ANSWER = "no_answer", "No answer"
        VOICEMAIL = "voicemail", "Left voicemail"
        BUSY = "busy", "Busy"
        WRONG_NUMBER = "wrong_number", "Wrong number"

    # Indexed by event_timeline_idx, which leads with it.
    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="events", db_index=False)
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    actor_label = models.CharField(max_length=120, blank=True)
    call_direction = models.CharField(max_length=8, choices=CallDirection.choices, blank=True)
    call_outcome = models.CharField(max_length=12, choices=CallOutcome.choices, blank=True)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["inquiry", "at"], name="event_timeline_idx"),
            models.Index(fields=["kind", "at"], name="event_kind_idx"),
            # "was a call logged since this follow-up fell due?" for the due follow-ups tab
            models.Index(fields=["inquiry", "at"], condition=Q(kind="call"), name="event_calls_idx"),
            *sparse_key_indexes("event", actor="actor"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on inquiry {self.inquiry_id}"


class CrossFacilityDuplicate(models.Model):
    """A caller's phone or email matched an open inquiry at a facility other than the one they
    came to: an intake refused (``taken_by``, the coordinator, is not told which inquiry or where,
    42 CFR Part 2), or a lead of the API joined that inquiry (``lead_source``, which cannot read
    it). A manager who works at both facilities resolves it."""

    class MatchedOn(models.TextChoices):
        PHONE = "phone", "Phone"
        EMAIL = "email", "Email"
        EXTERNAL_ID = "external_id", "The source's lead id"

    class Resolution(models.TextChoices):
        HANDLED = "handled", "Handled on the existing inquiry"
        TRANSFERRED = "transferred", "Moved to the facility that took the call"
        DISTINCT = "distinct", "Not the same person"

    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="+")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+")
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lead_source = models.ForeignKey(
        LeadSource, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    matched_on = models.CharField(max_length=12, choices=MatchedOn.choices)
    found_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution = models.CharField(max_length=12, choices=Resolution.choices, blank=True)

    class Meta:
        ordering = ["found_at", "pk"]
        indexes = [
            models.Index(
                fields=["found_at"], condition=Q(resolved_at__isnull=True), name="crossdup_open_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | ~Q(resolution=""),
                name="crossdup_resolved_has_resolution",
            ),
            models.CheckConstraint(
                condition=Q(taken_by__isnull=False) | Q(lead_source__isnull=False),
                name="crossdup_taken_by_user_or_source",
            ),
        ]

    def __str__(self) -> str:
        return f"Possible duplicate of inquiry #{self.inquiry_id}"
