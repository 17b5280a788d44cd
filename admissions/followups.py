"""Claiming and carrying out follow-ups. Called by the worker tasks in ``workers.tasks``."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from admissions.followup_policy import STOPS_AFTER_FIRST_ATTEMPT
from admissions.models import FollowUp, Inquiry, InquiryEvent
from admissions.pipeline import OPEN_STAGES, Stage
from admissions.services import inquiry_event

LEASE = timedelta(minutes=5)


def followups_claim_due(*, limit: int = 500) -> list[int]:
    """Move due rows (and queued rows whose lease ran out) to QUEUED; returns their ids.

    Safe when several dispatchers race: on PostgreSQL rows are locked with
    SKIP LOCKED; on SQLite the IMMEDIATE transaction serialises writers.
    """
    now = timezone.now()
    due = Q(state=FollowUp.State.SCHEDULED, due_at__lte=now) | Q(
        state=FollowUp.State.QUEUED, lease_until__lt=now
    )
    with transaction.atomic():
        rows = FollowUp.objects.filter(due).order_by("due_at")
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        ids = list(rows.values_list("pk", flat=True)[:limit])
        if ids:
            FollowUp.objects.filter(pk__in=ids).update(state=FollowUp.State.QUEUED, lease_until=now + LEASE)
    return ids


def _still_wanted(followup: FollowUp, inquiry: Inquiry) -> str:
    """Why a follow-up should not run any more, or "" if it should."""
    if inquiry.stage not in OPEN_STAGES:
        return f"inquiry is {inquiry.stage}"
    if followup.kind in STOPS_AFTER_FIRST_ATTEMPT and (
        inquiry.first_attempt_at is not None or inquiry.stage != Stage.NEW
    ):
        return "a contact attempt was made"
    if followup.kind == FollowUp.Kind.CALL_TASK and inquiry.stage not in (Stage.NEW, Stage.CONTACT_ATTEMPTED):
        return "the person was reached"
    return ""


_ALERT_TEXT = {
    FollowUp.Kind.COORDINATOR_ALERT: "No contact attempt {minutes} minutes after the inquiry arrived.",
    FollowUp.Kind.MANAGER_ESCALATION: "Escalated to the manager: no contact attempt after {minutes} minutes.",
    FollowUp.Kind.CALL_TASK: "Call task: try to reach the person now.",
}


def followup_deliver(*, followup_id: int) -> str:
    """Run one follow-up exactly once: claim it under a row lock, re-check, act, mark done."""
    with transaction.atomic():
        followup = (
            FollowUp.objects.select_for_update()
            .select_related("inquiry")
            .filter(pk=followup_id, state=FollowUp.State.QUEUED)
            .first()
        )
        if followup is None:
            return "not queued"  # another worker finished it, or it was cancelled
        followup.attempts += 1
        inquiry = followup.inquiry
        now = timezone.now()
        reason = _still_wanted(followup, inquiry)
        if reason:
            followup.state, followup.outcome = FollowUp.State.CANCELLED, reason[:120]
        else:
            minutes = int((now - inquiry.created_at).total_seconds() // 60)
            inquiry_event(
                inquiry=inquiry,
                kind=InquiryEvent.Kind.NOTE,
                actor_label="follow-up",
                body=_ALERT_TEXT[FollowUp.Kind(followup.kind)].format(minutes=minutes),
                data={"followup": followup.pk, "kind": followup.kind, "alert": True},
            )
            followup.state, followup.outcome = FollowUp.State.DONE, "alert posted"
        followup.finished_at = now
        followup.save(update_fields=["state", "outcome", "finished_at", "attempts"])
        return followup.state
