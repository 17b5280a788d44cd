"""Waitlist pages: hold or waitlist an inquiry for a program (reached from its match list), and
the waitlist itself with the offers to accept or decline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from admissions.board import BOARD_PERMISSION
from admissions.forms import DateInput, DateTimeInput
from admissions.models import Inquiry, WaitlistEntry
from admissions.pipeline import TransitionError
from admissions.screening.services import placement_problems
from admissions.selectors import inquiries_visible_to
from admissions.services import inquiry_hold_capacity
from admissions.waitlist import (
    WaitlistError,
    waitlist_add,
    waitlist_offer_accept,
    waitlist_offer_decline,
    waitlist_remove,
)
from crm.audit import audit_list, audit_record
from crm.formfields import ModelChoiceField, ModelMultipleChoiceField
from crm.models import AuditEvent, User
from crm.scoping import facility_ids_for, scope_to_user
from crm.time_zones import facility_time_activate
from programs.models import Program
from programs.selectors import capacity_board
from programs.services import CapacityError

WAITLIST_PERMISSION = "admissions.change_waitlistentry"
PAGE_SIZE = 50


def _programs_for(user: User) -> Any:
    programs = Program.objects.filter(is_active=True, facility__is_active=True).select_related("facility")
    ids = facility_ids_for(user)
    if ids is not None:
        programs = programs.filter(facility_id__in=ids)
    return programs.order_by("facility__name", "name")


def _eligible_programs(user: User, inquiry: Inquiry) -> Any:
    """The programs of the user's facilities an inquiry may be placed in: at or above its signed-off
    level (and with withdrawal management when the level has it), all of them before a sign-off."""
    programs = _programs_for(user).select_related("level_of_care")
    level = inquiry.approved_level
    if level is not None:
        programs = programs.filter(level_of_care__intensity__gte=level.intensity)
        if level.withdrawal_management:
            programs = programs.filter(level_of_care__withdrawal_management=True)
    return programs


def _label(program: Program) -> str:
    return f"{program.name} ({program.facility.name})"


class PlaceHoldForm(forms.Form):
    program = ModelChoiceField(queryset=Program.objects.none())
    until = forms.DateTimeField(widget=DateTimeInput, label="Hold until")

    def __init__(self, *args: Any, user: User, inquiry: Inquiry, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = _eligible_programs(user, inquiry)  # type: ignore[attr-defined]
        self.fields["program"].label_from_instance = _label  # type: ignore[attr-defined]

    def clean_until(self) -> Any:
        value = self.cleaned_data["until"]
        if value <= timezone.now():
            raise forms.ValidationError("A hold must end in the future.")
        if value > timezone.now() + timedelta(days=30):
            raise forms.ValidationError("Hold for at most 30 days.")
        return value


class WaitlistForm(forms.Form):
    programs = ModelMultipleChoiceField(
        queryset=Program.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Programs at or above the signed-off level; the first place free in any is offered.",
    )
    earliest_start = forms.DateField(widget=DateInput, label="Earliest start")
    contact = forms.ChoiceField(
        choices=WaitlistEntry.Contact.choices, label="When a place frees", initial=WaitlistEntry.Contact.CALL
    )

    def __init__(self, *args: Any, user: User, inquiry: Inquiry, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["programs"].queryset = _eligible_programs(user, inquiry)  # type: ignore[attr-defined]
        self.fields["programs"].label_from_instance = (  # type: ignore[attr-defined]
            lambda p: f"{p.name} ({p.facility.name}, {p.level_of_care.code})"
        )

    def clean_earliest_start(self) -> Any:
        value = self.cleaned_data["earliest_start"]
        today = timezone.localdate()
        if value < today:
            raise forms.ValidationError("The earliest start is today or later.")
        if value > today + timedelta(days=180):
            raise forms.ValidationError("At most 180 days ahead.")
        return value


def _inquiry(request: HttpRequest, pk: int) -> Inquiry:
    rows = inquiries_visible_to(request.user).select_related("person", "facility", "approved_level")
    inquiry = get_object_or_404(rows, pk=pk)
    facility_time_activate(inquiry.facility)  # its times are read and shown in its facility's zone
    return inquiry


@login_required
@permission_required(BOARD_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def inquiry_place(request: HttpRequest, pk: int) -> HttpResponse:
    """Hold a place for an inquiry now, or put it on the waitlist, for a program of its match list."""
    user: User = request.user  # type: ignore[assignment]
    inquiry = _inquiry(request, pk)
    program_id = request.GET.get("program", "")
    initial_program = int(program_id) if program_id.isdigit() and len(program_id) < 10 else None
    hold_form = PlaceHoldForm(
        user=user,
        inquiry=inquiry,
        initial={"program": initial_program, "until": timezone.now() + timedelta(hours=24)},
    )
    waitlist_form = WaitlistForm(
        user=user,
        inquiry=inquiry,
        initial={
            "programs": [initial_program] if initial_program else [],
            "earliest_start": timezone.localdate(),
        },
    )
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "hold":
            hold_form = PlaceHoldForm(request.POST, user=user, inquiry=inquiry)
            problems = (
                placement_problems(inquiry=inquiry, program=hold_form.cleaned_data["program"])
                if hold_form.is_valid()
                else []
            )
            for problem in problems:
                hold_form.add_error("program", problem)
            if hold_form.is_valid():
                try:
                    hold = inquiry_hold_capacity(
                        inquiry=inquiry,
                        program=hold_form.cleaned_data["program"],
                        until=hold_form.cleaned_data["until"],
                        actor=user,
                    )
                except (CapacityError, TransitionError) as exc:
                    hold_form.add_error("program", str(exc))
                else:
                    audit_record(
                        action=AuditEvent.Action.UPDATE,
                        obj=inquiry,
                        actor=user,
                        request=request,
                        fields=["capacity_hold"],
                    )
                    messages.success(request, f"Held a place in {hold.program.name}.")
                    return redirect(reverse("capacity-board") + f"#program-{hold.program_id}")
        elif action == "waitlist":
            waitlist_form = WaitlistForm(request.POST, user=user, inquiry=inquiry)
            if waitlist_form.is_valid():
                data = waitlist_form.cleaned_data
                try:
                    entries = waitlist_add(
                        inquiry=inquiry,
                        programs=list(data["programs"]),
                        earliest_start=data["earliest_start"],
                        contact=data["contact"],
                        actor=user,
                    )
                except WaitlistError as exc:
                    waitlist_form.add_error(
                        exc.field if exc.field in waitlist_form.fields else None, str(exc)
                    )
                else:
                    audit_record(
                        action=AuditEvent.Action.UPDATE,
                        obj=inquiry,
                        actor=user,
                        request=request,
                        fields=["waitlist"],
                    )
                    messages.success(
                        request, f"Waitlisted for {len(entries)} program{'s' if len(entries) > 1 else ''}."
                    )
                    return redirect("waitlist")
        else:
            raise Http404("No such action.")
        status = 400
    audit_record(
        action=AuditEvent.Action.VIEW,
        obj=inquiry,
        actor=user,
        request=request,
        fields=["person.name", "approved_level"],
    )
    eligible = set(_eligible_programs(user, inquiry).values_list("pk", flat=True))
    board = [row for row in capacity_board(facility_ids=facility_ids_for(user)) if row.program.pk in eligible]
    if initial_program:
        board = [row for row in board if row.program.pk == initial_program] or board
    return render(
        request,
        "admissions/place.html",
        {
            "inquiry": inquiry,
            "hold_form": hold_form,
            "waitlist_form": waitlist_form,
            "rows": board[:20],
        },
        status=status,
    )


class WaitlistFilterForm(forms.Form):
    state = forms.ChoiceField(
        choices=[("live", "Waiting and offered"), *WaitlistEntry.State.choices], required=False
    )


@login_required
@permission_required("admissions.view_waitlistentry", raise_exception=True)
@require_GET
def waitlist_page(request: HttpRequest) -> HttpResponse:
    """Who waits for which program, offers first, then by priority; one page at a time."""
    form = WaitlistFilterForm(request.GET or None)
    state = form.cleaned_data.get("state") if form.is_valid() else ""
    entries = scope_to_user(WaitlistEntry.objects.all(), request.user, facility_field="inquiry__facility")
    if state and state != "live":
        entries = entries.filter(state=state)
    else:
        entries = entries.filter(state__in=[WaitlistEntry.State.OFFERED, WaitlistEntry.State.WAITING])
    entries = entries.select_related("inquiry__person", "program__facility").order_by(
        "state", "-urgency", "created_at", "pk"
    )
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    audit_list(
        model=Inquiry,
        ids=[e.inquiry_id for e in page.object_list],
        actor=request.user,  # type: ignore[arg-type]
        what="waitlist",
        fields=["person.name", "waitlist"],
        request=request,
    )
    return render(request, "admissions/waitlist.html", {"page": page, "form": form, "now": timezone.now()})


ENTRY_ACTIONS = {
    "accept": (waitlist_offer_accept, "Offer accepted: the place is the inquiry's hold now."),
    "decline": (waitlist_offer_decline, "Offer declined: the place goes to the next person."),
    "remove": (waitlist_remove, "Taken off the waitlist."),
}


@login_required
@permission_required(WAITLIST_PERMISSION, raise_exception=True)
@require_POST
def waitlist_entry_act(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    """Accept or decline an offer, or take an entry off the waitlist."""
    if name not in ENTRY_ACTIONS:
        raise Http404("No such action.")
    entries = scope_to_user(WaitlistEntry.objects.all(), request.user, facility_field="inquiry__facility")
    entry = get_object_or_404(entries.select_related("inquiry"), pk=pk)
    run, done = ENTRY_ACTIONS[name]
    try:
        run(entry=entry, actor=request.user)  # type: ignore[operator,arg-type]
    except WaitlistError as exc:
        messages.error(request, str(exc))
    else:
        audit_record(
            action=AuditEvent.Action.UPDATE,
            obj=entry.inquiry,
            actor=request.user,  # type: ignore[arg-type]
            request=request,
            fields=["waitlist", name],
        )
        messages.success(request, done)
    return redirect("waitlist")
