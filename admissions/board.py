"""The capacity board: every program of the user's facilities, what is free now and in the week
ahead, and who holds what. Coordinators read it on the phone; it refreshes itself (htmx polls a
version stamp every few seconds and swaps the table only when holds, census or the waitlist moved).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from admissions.models import Inquiry, WaitlistEntry
from admissions.selectors import inquiries_visible_to
from crm.audit import audit_list
from crm.formfields import ModelChoiceField
from crm.masking import sees_for
from crm.models import Facility
from crm.scoping import facility_ids_for
from programs.models import LevelOfCare, Payer, Program, Specialty
from programs.selectors import BoardRow, capacity_board, capacity_version

# Who admits: the roles that may hold a bed or slot see the board and its link.
BOARD_PERMISSION = "programs.change_capacityhold"
POLL_SECONDS = 5


class BoardFilterForm(forms.Form):
    facility = ModelChoiceField(
        queryset=Facility.objects.none(), required=False, empty_label="All facilities"
    )
    level = ModelChoiceField(
        queryset=LevelOfCare.objects.filter(is_active=True).order_by("edition", "intensity", "code"),
        required=False,
        empty_label="Any level",
        label="Level of care",
    )
    specialty = ModelChoiceField(
        queryset=Specialty.objects.order_by("name"), required=False, empty_label="Any specialty"
    )
    gender = forms.ChoiceField(
        choices=[("", "Any"), (Program.Gender.WOMEN, "Women"), (Program.Gender.MEN, "Men")],
        required=False,
        help_text="Programs open to this gender.",
    )
    payer = ModelChoiceField(
        queryset=Payer.objects.order_by("name"),
        required=False,
        empty_label="Any payer",
        label="Payer accepted",
    )

    def __init__(self, *args: Any, facility_ids: list[int] | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        facilities = Facility.objects.filter(is_active=True).order_by("name")
        if facility_ids is not None:
            facilities = facilities.filter(pk__in=facility_ids)
        self.fields["facility"].queryset = facilities  # type: ignore[attr-defined]


def hold_inquiry_id(reference: str) -> int | None:
    """The inquiry a hold's reference names (``inquiry:42``, ``inquiry:42:offer:7``), if any."""
    kind, _, rest = reference.partition(":")
    number = rest.split(":", 1)[0]
    return int(number) if kind == "inquiry" and number.isdigit() else None


def board_version() -> str:
    """What the board shows changed when this changed: capacity, holds, census and the waitlist."""
    last = WaitlistEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    waiting = WaitlistEntry.objects.filter(state=WaitlistEntry.State.WAITING).count()
    return f"{capacity_version()}-{last}-{waiting}"


@login_required
@permission_required(BOARD_PERMISSION, raise_exception=True)
@require_GET
def capacity_board_page(request: HttpRequest) -> HttpResponse:
    """The board, or (for the page's poll) only its table, and nothing when nothing changed."""
    version = board_version()
    partial = bool(request.htmx)  # type: ignore[attr-defined]
    if partial and request.GET.get("v") == version:
        return HttpResponse(status=204)  # htmx swaps nothing on 204
    ids = facility_ids_for(request.user)
    form = BoardFilterForm(request.GET or None, facility_ids=ids)
    chosen: dict[str, Any] = form.cleaned_data if form.is_bound and form.is_valid() else {}
    rows = capacity_board(
        facility_ids=ids,
        facility_id=chosen["facility"].pk if chosen.get("facility") else None,
        level_id=chosen["level"].pk if chosen.get("level") else None,
        specialty_id=chosen["specialty"].pk if chosen.get("specialty") else None,
        gender=chosen.get("gender") or "",
        payer_id=chosen["payer"].pk if chosen.get("payer") else None,
    )
    holders = _holders(request, rows)
    waiting = _waiting(rows)
    board = [
        (row, [(hold, holders.get(hold.id)) for hold in row.holds], waiting.get(row.program.pk, 0))
        for row in rows
    ]
    params = request.GET.copy()
    params.pop("v", None)
    context = {
        "form": form,
        "board": board,
        "days": rows[0].outlook if rows else [],
        "version": version,
        "params": params.urlencode(),
        "poll_seconds": POLL_SECONDS,
        "now": timezone.now(),
        "waitlist_url": reverse("waitlist"),
    }
    template = "admissions/_board.html" if partial else "admissions/board.html"
    return render(request, template, context)


def _waiting(rows: list[BoardRow]) -> dict[int, int]:
    """How many wait for each program on the board (one grouped query; counts, no names)."""
    if not rows:
        return {}
    counts = (
        WaitlistEntry.objects.filter(
            state=WaitlistEntry.State.WAITING, program_id__in=[row.program.pk for row in rows]
        )
        .values("program_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {c["program_id"]: c["n"] for c in counts}


def _holders(request: HttpRequest, rows: list[BoardRow]) -> dict[int, tuple[int, str]]:
    """The inquiries holding places on the board that the user may open, by hold id: the
    inquiry's id and what names it on the board (the person, or the inquiry's number for a role
    that may not see names). One query, as plain rows (a board lists hundreds of holds); one
    audit row naming the inquiries shown."""
    by_hold = {h.id: hold_inquiry_id(h.reference) for row in rows for h in row.holds}
    wanted = {pk for pk in by_hold.values() if pk is not None}
    if not wanted:
        return {}
    inquiries = inquiries_visible_to(request.user).filter(pk__in=wanted).order_by()
    found: dict[int, str]
    if sees_for(request.user).name:
        found = {
            pk: f"{first} {last}"
            for pk, first, last in inquiries.values_list("pk", "person__first_name", "person__last_name")
        }
    else:
        found = {pk: f"Inquiry #{pk}" for pk in inquiries.values_list("pk", flat=True)}
    audit_list(
        model=Inquiry,
        ids=found,
        actor=request.user,  # type: ignore[arg-type]
        what="capacity board",
        fields=["person.name", "capacity_hold"],
        request=request,
    )
    return {hold: (pk, found[pk]) for hold, pk in by_hold.items() if pk in found}
