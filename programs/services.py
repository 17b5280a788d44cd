"""Writes to capacity: holding and releasing beds and slots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from celery import current_app
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from crm.models import User
from programs.models import CapacityHold, Census, Discharge, Program


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
    """Release a hold once; releasing a released hold changes nothing. A place that frees (any
    reason but an admission, which turns the hold into an occupied place) is announced."""
    released = CapacityHold.objects.filter(pk=hold.pk, released_at__isnull=True).update(
        released_at=timezone.now(), release_reason=reason
    )
    if released and reason != CapacityHold.ReleaseReason.ADMITTED:
        capacity_freed(program_id=hold.program_id)
    hold.refresh_from_db()
    return hold


def capacity_holds_expire(*, now: datetime | None = None) -> int:
    """Mark holds past their end as released (expired), announce the places freed; returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            CapacityHold.objects.select_for_update(skip_locked=True)
            .filter(released_at__isnull=True, held_until__lte=now)
            .values_list("pk", "program_id")
        )
        CapacityHold.objects.filter(pk__in=[pk for pk, _ in expired]).update(
            released_at=now, release_reason=CapacityHold.ReleaseReason.EXPIRED
        )
        for program_id in sorted({program_id for _, program_id in expired}):
            capacity_freed(program_id=program_id)
    return len(expired)


# --- discharges: they free places and feed census ------------------------------------------

DISCHARGE_HORIZON = timedelta(days=7)


def capacity_freed(*, program_id: int) -> None:
    """After commit, tell the workers a place may have freed in this program (task sent by name:
    programs knows nothing of who waits for it)."""

    def send() -> None:
        current_app.send_task("workers.tasks.capacity_freed", args=[program_id])

    transaction.on_commit(send)


def census_expected_refresh(*, program_id: int, today: date | None = None) -> None:
    """Keep ``Census.expected_discharges_7d`` the count of expected discharges in the next 7 days."""
    today = today or timezone.localdate()
    expected = Discharge.objects.filter(
        program_id=program_id,
        state=Discharge.State.EXPECTED,
        on__gte=today,
        on__lt=today + DISCHARGE_HORIZON,
    ).count()
    census, _ = Census.objects.get_or_create(program_id=program_id)
    Census.objects.filter(pk=census.pk).update(expected_discharges_7d=expected, updated_at=timezone.now())


def _census_discharge(*, program_id: int, now: datetime) -> None:
    census, _ = Census.objects.select_for_update().get_or_create(program_id=program_id)
    Census.objects.filter(pk=census.pk).update(occupied=Greatest(F("occupied") - 1, Value(0)), updated_at=now)


@transaction.atomic
def discharge_record(
    *,
    program: Program,
    on: date,
    done: bool,
    actor: User | None,
    source: str = Discharge.Source.STAFF,
    external_id: str = "",
) -> Discharge:
    """Record a discharge: expected on a date, or done (one occupied place fewer, and it frees)."""
    now = timezone.now()
    discharge = Discharge.objects.create(
        program=program,
        on=on,
        state=Discharge.State.DONE if done else Discharge.State.EXPECTED,
        source=source,
        external_id=external_id,
        recorded_by=actor,
        recorded_at=now,
        done_at=now if done else None,
    )
    if done:
        _census_discharge(program_id=program.pk, now=now)
        capacity_freed(program_id=program.pk)
    census_expected_refresh(program_id=program.pk)
    return discharge


@transaction.atomic
def discharge_change(
    *, discharge: Discharge, state: str, on: date | None = None, actor: User | None = None
) -> bool:
    """Move an expected discharge on (done or called off) or to another day; a done or called-off
    one does not change again. Returns whether anything changed."""
    locked = Discharge.objects.select_for_update().get(pk=discharge.pk)
    if locked.state != Discharge.State.EXPECTED:
        return False
    now = timezone.now()
    changed: list[str] = []
    if on is not None and on != locked.on:
        locked.on = on
        changed.append("on")
    if state != locked.state:
        locked.state = state
        changed.append("state")
        if state == Discharge.State.DONE:
            locked.done_at = now
            changed.append("done_at")
    if not changed:
        return False
    locked.save(update_fields=changed)
    if locked.state == Discharge.State.DONE:
        _census_discharge(program_id=locked.program_id, now=now)
        capacity_freed(program_id=locked.program_id)
    census_expected_refresh(program_id=locked.program_id)
    discharge.refresh_from_db()
    return True


@dataclass(frozen=True)
class DischargeRow:
    """One discharge as the EHR sends it, checked."""

    program_id: int
    external_id: str
    on: date
    state: str


@dataclass
class DischargeImport:
    created: int = 0
    changed: int = 0
    unchanged: int = 0


@transaction.atomic
def discharges_import(*, rows: list[DischargeRow], actor: User | None) -> DischargeImport:
    """Create or move on the EHR's discharges by their ids, all or nothing; sending the same rows
    again changes nothing."""
    result = DischargeImport()
    existing = {
        (d.program_id, d.external_id): d
        for d in Discharge.objects.filter(
            program_id__in={r.program_id for r in rows}, external_id__in={r.external_id for r in rows}
        )
    }
    programs = Program.objects.in_bulk({r.program_id for r in rows})
    for row in rows:
        found = existing.get((row.program_id, row.external_id))
        if found is None:
            existing[(row.program_id, row.external_id)] = discharge_record(
                program=programs[row.program_id],
                on=row.on,
                done=row.state == Discharge.State.DONE,
                actor=actor,
                source=Discharge.Source.EHR,
                external_id=row.external_id,
            )
            if row.state == Discharge.State.CANCELLED:
                discharge_change(discharge=existing[(row.program_id, row.external_id)], state=row.state)
            result.created += 1
        elif discharge_change(discharge=found, state=row.state, on=row.on, actor=actor):
            result.changed += 1
        else:
            result.unchanged += 1
    return result
