"""Scheduled follow-ups and the lease that lets one dispatcher sweep at a time."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from admissions.models.indexes import sparse_key_indexes
from admissions.models.inquiry import (
    Inquiry,
)


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
        WAITLIST_OFFER = "waitlist_offer", "A waitlist place is offered: call the person"
        HANDOFF = "handoff", "Hand-off: the next step is the owner's"

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
            *sparse_key_indexes("followup", cadence_step="cadence_step"),
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
