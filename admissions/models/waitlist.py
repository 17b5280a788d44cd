"""The waitlist: an inquiry waiting for a place in a program, and the offers made to it."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from admissions.models.indexes import sparse_key_indexes
from admissions.models.inquiry import Inquiry
from programs.models import CapacityHold, Payer, Program

_WAITING = Q(state="waiting")
_LIVE = Q(state__in=["waiting", "offered"])


class WaitlistEntry(models.Model):
    """One inquiry waiting for one program. Written only by ``admissions.waitlist``.

    Who it is offered to first: ``urgency`` (from the pre-screen, higher first), then waiting
    time. Payer, gender and specialties are copied from the record when the entry is made and
    checked against the program at every offer; the level is read live from the inquiry's
    signed-off level, so a place below it is never offered.
    """

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        OFFERED = "offered", "Offered a place"
        ACCEPTED = "accepted", "Accepted the offer"
        DECLINED = "declined", "Declined the offer"
        LAPSED = "lapsed", "Offer lapsed"
        REMOVED = "removed", "Taken off the waitlist"

    class Contact(models.TextChoices):
        CALL = "call", "Call (the coordinator phones)"
        SMS = "sms", "Text message, then a call"
        EMAIL = "email", "Email, then a call"

    class Urgency(models.IntegerChoices):
        ROUTINE = 0, "Routine"
        FLAGGED = 1, "Safety flag on the screen"
        WITHDRAWAL = 2, "Needs withdrawal management"

    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="waitlist_entries")
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_index=False)
    state = models.CharField(max_length=8, choices=State.choices, default=State.WAITING)
    urgency = models.PositiveSmallIntegerField(choices=Urgency.choices, default=Urgency.ROUTINE)
    earliest_start = models.DateField(help_text="The first day the person can start.")
    contact = models.CharField(max_length=5, choices=Contact.choices, default=Contact.CALL)
    payer = models.ForeignKey(Payer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    self_pay = models.BooleanField(default=False)
    gender = models.CharField(max_length=5, blank=True, help_text="women / men, or blank when not known.")
    specialties = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    offered_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    offer_hold = models.OneToOneField(
        CapacityHold, null=True, blank=True, on_delete=models.SET_NULL, related_name="waitlist_offer"
    )
    offers = models.PositiveSmallIntegerField(default=0)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )

    class Meta:
        verbose_name_plural = "waitlist entries"
        ordering = ["-urgency", "created_at", "pk"]
        indexes = [
            # the offer: waiting entries of one program in priority order
            models.Index(
                fields=["program", "-urgency", "created_at", "id"],
                condition=_WAITING,
                name="waitlist_next_idx",
            ),
            models.Index(
                fields=["offer_expires_at"], condition=Q(state="offered"), name="waitlist_offered_idx"
            ),
            models.Index(fields=["created_at"], name="waitlist_created_idx"),
            # a program's deletion check reads every entry of it, waiting or not
            models.Index(fields=["program"], name="waitlist_program_idx"),
            *sparse_key_indexes("waitlist", created_by="created_by", ended_by="ended_by"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["inquiry", "program"], condition=_LIVE, name="waitlist_one_live_per_program"
            ),
            # one standing offer per inquiry: two programs freeing at once never both hold for it
            models.UniqueConstraint(
                fields=["inquiry"], condition=Q(state="offered"), name="waitlist_one_offer"
            ),
            models.CheckConstraint(
                condition=~Q(state="offered") | Q(offered_at__isnull=False, offer_expires_at__isnull=False),
                name="waitlist_offer_has_times",
            ),
        ]

    def __str__(self) -> str:
        return f"Inquiry {self.inquiry_id} waiting for program {self.program_id} ({self.state})"
