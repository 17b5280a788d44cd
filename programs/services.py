"""Writes to capacity: holding and releasing beds and slots."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from programs.models import CapacityHold, Program


class CapacityError(ValueError):
    """A hold that cannot be placed; the message says why."""


def program_free_units(*, program: Program, at: datetime | None = None) -> int:
    """Capacity less census less active holds, never below zero."""
    occupied = program.census.occupied if hasattr(program, "census") else 0
    held = CapacityHold.objects.filter(program=program).active(at).count()
    return max(program.capacity - occupied - held, 0)


@transaction.atomic
def capacity_hold_create(*, program: Program, reference: str, held_until: datetime) -> CapacityHold:
    """Reserve one bed or slot; refuses when the program is full or the hold is in the past."""
    if held_until <= timezone.now():
        raise CapacityError("A hold must end in the future.")
    # Lock the program row so two coordinators cannot take the last bed at once.
    program = Program.objects.select_for_update().get(pk=program.pk)
    if not program.is_active:
        raise CapacityError(f"{program.name} is not taking admissions.")
    if program_free_units(program=program) < 1:
        unit = "bed" if program.capacity_kind == Program.CapacityKind.BEDS else "slot"
        raise CapacityError(f"No {unit} free in {program.name}.")
    return CapacityHold.objects.create(program=program, reference=reference, held_until=held_until)


def capacity_hold_release(*, hold: CapacityHold, reason: CapacityHold.ReleaseReason) -> CapacityHold:
    """Release a hold once; releasing a released hold changes nothing."""
    CapacityHold.objects.filter(pk=hold.pk, released_at__isnull=True).update(
        released_at=timezone.now(), release_reason=reason
    )
    hold.refresh_from_db()
    return hold


def capacity_holds_expire(*, now: datetime | None = None) -> int:
    """Mark holds past their end as released (expired); returns how many."""
    now = now or timezone.now()
    return CapacityHold.objects.filter(released_at__isnull=True, held_until__lte=now).update(
        released_at=now, release_reason=CapacityHold.ReleaseReason.EXPIRED
    )
