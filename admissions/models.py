"""People, their inquiries, attribution, insurance, consent and the inquiry timeline."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from admissions.pipeline import OPEN_STAGES, WORKING_STAGES, LostReason, Stage
from crm.fields import EncryptedTextField
from crm.models import Facility, validate_time_zone
from crm.phones import PhoneNumberField
from programs.models import CapacityHold, LevelOfCare, Payer, Program

_OPEN = Q(stage__in=sorted(OPEN_STAGES))


def _set_keys_indexes(prefix: str, **short_names: str) -> list[models.Index]:
    """Indexes of foreign keys that most rows leave empty, without the empty rows.

    Such a key is looked up only by value (a deletion check of the row it points to, a join),
    which an index without NULLs serves as well; a full index would take an entry for every
    new row, which is most of what these indexes would cost."""
    return [
        models.Index(fields=[field], condition=Q(**{f"{field}__isnull": False}), name=f"{prefix}_{short}_idx")
        for field, short in short_names.items()
    ]


def working_stage_rank() -> models.Case:
    """An open stage's place in the pipeline (0 for New), as "my open inquiries" are ordered.

    The same expression is indexed (``inquiry_owner_stage_idx``); PostgreSQL uses the index only
    for this exact expression, so the queue orders by this function, never by a copy of it.
    """
    whens = [models.When(stage=stage, then=models.Value(i)) for i, stage in enumerate(WORKING_STAGES)]
    return models.Case(*whens, output_field=models.IntegerField())


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
            *_set_keys_indexes(
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
            *_set_keys_indexes("touch", campaign="campaign", referral_partner="referral"),
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
    deductible_remaining = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    out_of_pocket_remaining = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
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
            *_set_keys_indexes("insurance", payer="payer"),
        ]

    def __str__(self) -> str:
        return f"{self.get_rank_display()} insurance of inquiry {self.inquiry_id}"


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
            *_set_keys_indexes("consent", captured_by="captured_by"),
        ]

    def __str__(self) -> str:
        return f"{self.get_medium_display()} consent of person {self.person_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


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
            *_set_keys_indexes("event", actor="actor"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on inquiry {self.inquiry_id}"


class FollowUp(models.Model):
    """A planned follow-up. The database is its record; Celery only carries its id.

    The dispatcher claims rows that are due, hands their ids to a task after
    commit, and the task re-checks the rules before it acts.
    """

    class Kind(models.TextChoices):
        COORDINATOR_ALERT = "coordinator_alert", "Alert the coordinator: no contact attempt yet"
        MANAGER_ESCALATION = "manager_escalation", "Escalate to the manager: no contact attempt yet"
        CALL_TASK = "call_task", "Call task"
        CALLBACK = "callback", "Call-back a coordinator scheduled"
        ACKNOWLEDGEMENT = "acknowledgement", "Acknowledge a new inquiry"
        ADMISSION_REMINDER = "admission_reminder", "Reminder before a scheduled admission"
        NURTURE_TOUCH = "nurture_touch", "Nurture touch"
        REFERRAL_CHECK_IN = "referral_check_in", "Check-in after a referral out"
        COORDINATOR_TEXT = "coordinator_text", "One-to-one text from a coordinator"
        HELP_REPLY = "help_reply", "Reply to HELP"
        OPT_OUT_CONFIRMATION = "opt_out_confirm", "Opt-out confirmation"
        COORDINATOR_REVIEW = "coordinator_review", "A coordinator decides: a message the rules could not send"

    class Channel(models.TextChoices):
        TASK = "task", "Staff alert or task"
        SMS = "sms", "Text message"
        EMAIL = "email", "Email"

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"
        BLOCKED = "blocked", "Blocked by consent or content rules"
        FAILED = "failed", "Failed"

    # Indexed by followup_inquiry_idx, which leads with it.
    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="followups", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.SCHEDULED)
    dedupe_key = models.CharField(max_length=80, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=120, blank=True)
    # Messages: which channel, which template (resolved per facility at send time), which cadence step.
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.TASK)
    template_code = models.SlugField(max_length=60, blank=True, db_index=False)  # never searched by
    cadence_step = models.ForeignKey(
        "admissions.CadenceStep",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    sequence = models.PositiveSmallIntegerField(default=0, help_text="Repeat number of a repeating step.")
    deferrals = models.PositiveSmallIntegerField(
        default=0, help_text="Times moved later by quiet hours or the per-day cap."
    )
    error = models.CharField(max_length=200, blank=True, help_text="Last delivery error (no PHI).")
    deferred_from = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The due time before the first deferral; deferrals are bounded from it.",
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(state__in=["scheduled", "queued"]), name="followup_due_idx"
            ),
            models.Index(fields=["inquiry", "state"], name="followup_inquiry_idx"),
            *_set_keys_indexes("followup", cadence_step="cadence_step"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for inquiry {self.inquiry_id} at {self.due_at:%Y-%m-%d %H:%M}"


class DispatchLease(models.Model):
    """A follow-up handed to the broker: the dispatcher skips it until ``lease_until``.

    Kept beside the follow-up rather than on it so that a claim writes one narrow
    row per message instead of a new version of a wide row with nine indexes.
    A lease holds only for the due time it was taken for: a row deferred or
    rescheduled for a retry is claimable again at its new due time. A worker
    deletes the leases of its batch when it is done with it; a lease whose task
    was lost simply runs out and the row is claimed again.
    """

    followup = models.OneToOneField(
        FollowUp,
        on_delete=models.DO_NOTHING,
        primary_key=True,
        related_name="+",
        db_constraint=False,  # no foreign-key check per claimed row; a stale lease just runs out
    )
    due_at = models.DateTimeField(
        help_text="The follow-up's due time when leased; a new due time ends the lease."
    )
    lease_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"Follow-up {self.followup_id} dispatched until {self.lease_until:%H:%M:%S}"


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


class IdempotencyRecord(models.Model):
    """One ``Idempotency-Key`` sent with an API key: claimed first, completed with the result.

    Stores a hash of the request body and the inquiry id, never the body. While
    ``response_status`` is null the request is still in flight.
    """

    # Indexed by the idempotency_unique_per_api_key constraint, which leads with it.
    api_key = models.ForeignKey(LeadSourceKey, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    inquiry = models.ForeignKey(Inquiry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    result = models.CharField(max_length=10, blank=True, help_text='"created" or "merged".')
    stage = models.CharField(max_length=20, blank=True, help_text="The stage the response showed.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_unique_per_api_key"),
        ]

    def __str__(self) -> str:
        return f"Idempotency key of API key {self.api_key_id}"


class CrossFacilityDuplicate(models.Model):
    """An intake refused because the caller's phone or email matched an open inquiry at a facility
    the coordinator does not work at. The coordinator is not told which inquiry or where (42 CFR
    Part 2); a manager who works at both facilities resolves it."""

    class MatchedOn(models.TextChoices):
        PHONE = "phone", "Phone"
        EMAIL = "email", "Email"

    class Resolution(models.TextChoices):
        HANDLED = "handled", "Handled on the existing inquiry"
        TRANSFERRED = "transferred", "Moved to the facility that took the call"
        DISTINCT = "distinct", "Not the same person"

    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="+")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+")
    taken_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    matched_on = models.CharField(max_length=6, choices=MatchedOn.choices)
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
        ]

    def __str__(self) -> str:
        return f"Possible duplicate of inquiry #{self.inquiry_id}"


from admissions.messaging.models import *  # noqa: E402,F403,I001
from admissions.screening.models import *  # noqa: E402,F403,I001
