"""Reads of programs and their capacity, shaped once here for matching, pages and dashboards.

Every function runs a constant number of queries whatever the number of programs:
capacity comes from annotations (census join, and open holds counted through one filtered
join grouped by program), and payers / specialties from one query each on the through tables.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.db.models import Count, F, FilteredRelation, IntegerField, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from crm.places import place_of_postal_code
from programs.models import CapacityHold, Census, Discharge, Program

# Census only knows how many discharges are expected in the next 7 days, not when.
DISCHARGE_HORIZON_DAYS = 7


def programs_with_capacity(*, at: datetime | None = None) -> QuerySet[Program]:
    """Active programs of active facilities, annotated with ``occupied_now``, ``held_now``,
    ``free_now``, ``discharges_7d`` and ``next_hold_end`` (earliest end of an open hold).

    Open holds are one filtered LEFT JOIN grouped by program (the partial index on open holds
    serves the join), not a correlated subquery run once per program row.
    """
    now = at or timezone.now()
    return (
        Program.objects.filter(is_active=True, facility__is_active=True)
        .alias(
            open_holds=FilteredRelation(
                "holds", condition=Q(holds__released_at__isnull=True, holds__held_until__gt=now)
            )
        )
        .annotate(
            occupied_now=Coalesce(F("census__occupied"), Value(0), output_field=IntegerField()),
            discharges_7d=Coalesce(
                F("census__expected_discharges_7d"), Value(0), output_field=IntegerField()
            ),
            held_now=Count("open_holds"),
            next_hold_end=Min("open_holds__held_until"),
        )
        .annotate(
            free_now=Greatest(
                F("capacity") - F("occupied_now") - F("held_now"), Value(0), output_field=IntegerField()
            )
        )
        .order_by("facility__name", "name", "pk")
    )


class ProgramFacts(NamedTuple):
    """A program as matching sees it: plain immutable data, no lazy relations.

    A named tuple rather than a frozen dataclass: built 300 times per match, and a frozen
    dataclass pays one ``object.__setattr__`` per field.
    """

    id: int
    name: str
    facility_id: int
    facility_name: str
    facility_state: str
    latitude: float | None
    longitude: float | None
    setting: str
    capacity_kind: str
    capacity: int
    level_id: int
    level_code: str
    level_name: str
    level_edition: str
    intensity: Decimal
    withdrawal_management: bool
    min_age: int
    max_age: int | None
    gender: str
    payer_ids: frozenset[int]
    payer_names: dict[int, str]
    accepts_self_pay: bool
    specialties: frozenset[str]
    free_now: int
    next_free_on: date | None
    next_free_because: str

    @property
    def unit(self) -> str:
        return "bed" if self.capacity_kind == Program.CapacityKind.BEDS else "slot"


def next_free_date(
    *, free_now: int, next_hold_end: datetime | None, discharges_7d: int, today: date
) -> tuple[date | None, str]:
    """When the next bed or slot frees: today when one is free, else the earliest known date."""
    if free_now > 0:
        return today, ""
    options: list[tuple[date, str]] = []
    if next_hold_end is not None:
        options.append((timezone.localdate(next_hold_end), "a hold ends"))
    if discharges_7d > 0:
        options.append((today + timedelta(days=DISCHARGE_HORIZON_DAYS), "expected discharge within 7 days"))
    if not options:
        return None, ""
    return min(options)


def facility_coordinates(postal_code: str) -> tuple[float | None, float | None]:
    """Where a facility is when its own coordinates are not filled in: its postal code's
    (``crm.places``, from the data the ``zipcodes`` package ships)."""
    place = place_of_postal_code(postal_code or "")
    return (place.latitude, place.longitude) if place else (None, None)


def program_facts_active(
    *, at: datetime | None = None, payer_ids: Collection[int] | None = None
) -> list[ProgramFacts]:
    """Every active program with its level, facility, payers, specialties and capacity (3 queries).

    With ``payer_ids`` only those payers (and self-pay ones) are loaded into ``payer_ids`` /
    ``payer_names``: matching asks about one payer, not the whole contract list.
    """
    now = at or timezone.now()
    today = timezone.localdate(now)
    # Tuples, not dicts or model instances: this runs on every screening read and save.
    rows = programs_with_capacity(at=now).values_list(  # type: ignore[misc]  # annotations the stubs cannot see
        "id",
        "name",
        "setting",
        "capacity_kind",
        "capacity",
        "min_age",
        "max_age",
        "gender",
        "free_now",
        "discharges_7d",
        "next_hold_end",
        "facility_id",
        "facility__name",
        "facility__state",
        "facility__latitude",
        "facility__longitude",
        "facility__postal_code",
        "level_of_care_id",
        "level_of_care__code",
        "level_of_care__name",
        "level_of_care__edition",
        "level_of_care__intensity",
        "level_of_care__withdrawal_management",
    )
    # Same filter as the programs (a join, not a list of ids: cheaper to build and to plan).
    active = {"program__is_active": True, "program__facility__is_active": True}
    payers: dict[int, dict[int, str]] = defaultdict(dict)
    self_pay: set[int] = set()
    accepted_rows = Program.accepted_payers.through.objects.filter(**active)
    if payer_ids is not None:
        accepted_rows = accepted_rows.filter(Q(payer_id__in=list(payer_ids)) | Q(payer__is_self_pay=True))
    for program_id, payer_id, payer_name, is_self_pay in accepted_rows.values_list(
        "program_id", "payer_id", "payer__name", "payer__is_self_pay"
    ):
        payers[program_id][payer_id] = payer_name
        if is_self_pay:
            self_pay.add(program_id)
    specialties: dict[int, set[str]] = defaultdict(set)
    for program_id, code in Program.specialties.through.objects.filter(**active).values_list(
        "program_id", "specialty__code"
    ):
        specialties[program_id].add(code)
    facts = []
    for (
        pk,
        name,
        setting,
        capacity_kind,
        capacity,
        min_age,
        max_age,
        gender,
        free_now,
        discharges_7d,
        next_hold_end,
        facility_id,
        facility_name,
        facility_state,
        latitude,
        longitude,
        postal_code,
        level_id,
        level_code,
        level_name,
        level_edition,
        intensity,
        level_wm,
    ) in rows:
        next_on, because = next_free_date(
            free_now=free_now, next_hold_end=next_hold_end, discharges_7d=discharges_7d, today=today
        )
        accepted = payers.get(pk, {})
        if latitude is None or longitude is None:
            latitude, longitude = facility_coordinates(postal_code)
        facts.append(
            ProgramFacts(
                id=pk,
                name=name,
                facility_id=facility_id,
                facility_name=facility_name,
                facility_state=facility_state,
                latitude=float(latitude) if latitude is not None else None,
                longitude=float(longitude) if longitude is not None else None,
                setting=setting,
                capacity_kind=capacity_kind,
                capacity=capacity,
                level_id=level_id,
                level_code=level_code,
                level_name=level_name,
                level_edition=level_edition,
                intensity=intensity,
                withdrawal_management=level_wm,
                min_age=min_age,
                max_age=max_age,
                gender=gender,
                payer_ids=frozenset(accepted),
                payer_names=accepted,
                accepts_self_pay=pk in self_pay,
                specialties=frozenset(specialties.get(pk, ())),
                free_now=free_now,
                next_free_on=next_on,
                next_free_because=because,
            )
        )
    return facts


# --- the capacity board -----------------------------------------------------------------------

BOARD_DAYS = 7


class BoardHold(NamedTuple):
    """An open hold as the board lists it; ``reference`` says what holds it (``inquiry:42``)."""

    id: int
    reference: str
    held_until: datetime
    held_from: date


class BoardDay(NamedTuple):
    on: date
    free: int
    discharges: int


class BoardRow(NamedTuple):
    """One program on the board: today's figures, its open holds and the days ahead."""

    program: Program
    capacity: int
    occupied: int
    held: int
    free_now: int
    expected_discharges: int
    undated_discharges: int
    holds: list[BoardHold]
    outlook: list[BoardDay]

    @property
    def unit(self) -> str:
        return "bed" if self.program.capacity_kind == Program.CapacityKind.BEDS else "slot"


def capacity_board(
    *,
    facility_ids: Collection[int] | None,
    facility_id: int | None = None,
    level_id: int | None = None,
    specialty_id: int | None = None,
    gender: str = "",
    payer_id: int | None = None,
    at: datetime | None = None,
    days: int = BOARD_DAYS,
) -> list[BoardRow]:
    """The programs of ``facility_ids`` (``None``: every facility) with capacity now and for the
    next ``days`` days, in five queries whatever the number of programs.

    A day's free places are today's (capacity less occupied less open holds: a hold is kept
    until it ends or turns into an admission) plus the expected discharges dated up to that day.
    Expected discharges the census counts without a date (``Census.expected_discharges_7d``
    above the dated ones) are shown apart, never placed on a day.
    """
    now = at or timezone.now()
    today = timezone.localdate(now)
    # Prefetched, not joined: a few facilities and levels serve hundreds of programs, and each
    # joined row would build (and parse the phone of) its own copy of the facility.
    programs = programs_with_capacity(at=now).prefetch_related("facility", "level_of_care")
    if facility_ids is not None:
        programs = programs.filter(facility_id__in=list(facility_ids))
    if facility_id is not None:
        programs = programs.filter(facility_id=facility_id)
    if level_id is not None:
        programs = programs.filter(level_of_care_id=level_id)
    if specialty_id is not None:
        programs = programs.filter(
            pk__in=Program.specialties.through.objects.filter(specialty_id=specialty_id).values("program_id")
        )
    if gender:
        programs = programs.filter(gender__in=[Program.Gender.ANY, gender])
    if payer_id is not None:
        programs = programs.filter(
            pk__in=Program.accepted_payers.through.objects.filter(payer_id=payer_id).values("program_id")
        )
    rows = list(programs)
    ids = [p.pk for p in rows]
    holds: dict[int, list[BoardHold]] = defaultdict(list)
    for pk, program_id, reference, held_until, held_from in (
        CapacityHold.objects.active(now)
        .filter(program_id__in=ids)
        .order_by("held_until", "pk")
        .values_list("pk", "program_id", "reference", "held_until", "held_from")
    ):
        holds[program_id].append(BoardHold(pk, reference, held_until, held_from))
    last = today + timedelta(days=days - 1)
    dated: dict[int, Counter[date]] = defaultdict(Counter)
    for program_id, on in Discharge.objects.filter(
        program_id__in=ids, state=Discharge.State.EXPECTED, on__gte=today, on__lte=last
    ).values_list("program_id", "on"):
        dated[program_id][on] += 1
    board = []
    week = [today + timedelta(days=n) for n in range(days)]
    for p in rows:
        free_now = p.free_now  # type: ignore[attr-defined]
        by_day = dated.get(p.pk, Counter())
        outlook, freed = [], 0
        for on in week:
            freed += by_day[on]
            outlook.append(BoardDay(on, min(free_now + freed, p.capacity), by_day[on]))
        counted = p.discharges_7d  # type: ignore[attr-defined]
        board.append(
            BoardRow(
                program=p,
                capacity=p.capacity,
                occupied=p.occupied_now,  # type: ignore[attr-defined]
                held=p.held_now,  # type: ignore[attr-defined]
                free_now=free_now,
                expected_discharges=max(counted, freed),
                undated_discharges=max(counted - freed, 0),
                holds=holds.get(p.pk, []),
                outlook=outlook,
            )
        )
    return board


def capacity_version() -> str:
    """A short stamp that changes when holds, census or capacity change: a board polling for
    changes asks for this (two small queries) and re-renders only when it moved."""
    last = CapacityHold.objects.order_by("-pk").values_list("pk", flat=True).first()
    open_holds = CapacityHold.objects.filter(released_at__isnull=True).count()  # the partial index
    census = Census.objects.aggregate(at=Max("updated_at"))
    programs = Program.objects.aggregate(capacity=Sum("capacity"), n=Count("pk", filter=Q(is_active=True)))
    return "-".join(
        str(v)
        for v in (
            last,
            open_holds,
            census["at"].timestamp() if census["at"] else 0,
            programs["capacity"],
            programs["n"],
        )
    )
