"""Liveness of the background processes, written by the heartbeat task."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """Last time beat scheduled, and a worker ran, the heartbeat task."""

    name = models.CharField(max_length=60, unique=True)
    beat_at = models.DateTimeField()
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%H:%M:%S}"


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
        "admissions.FollowUp",
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
