"""The inquiry page and every action a coordinator takes on it.

Each action is a POST to ``/inquiries/<pk>/act/<name>/``: a valid form runs one service and
redirects back (the timeline shows the result); an invalid one re-renders the page with the
errors next to the fields, never a stack trace.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from admissions.casework import (
    VOB_DONE,
    CaseworkError,
    callback_schedule,
    inquiry_merge,
    insurance_save,
    note_add,
)
from admissions.forms import (
    AdmitForm,
    AssignForm,
    CallbackForm,
    CallLogForm,
    HoldForm,
    InsuranceForm,
    MergeForm,
    MessageForm,
    NoteForm,
    ScheduleAdmissionForm,
    StageForm,
    staff_for,
)
from admissions.messaging.coordinator_texts import coordinator_text_send
from admissions.messaging.decision import message_decide
from admissions.models import ContactConsent, FollowUp, Inquiry, InquiryEvent, InsurancePolicy, Person
from admissions.next_step import StepFacts, next_step
from admissions.pipeline import Stage, TransitionError
from admissions.screening.services import (
    SCREENING_ROLES,
    SIGNOFF_ROLES,
    caller_consent,
    placement_problems,
    recommendation_withheld,
    screening_latest,
    screening_matches,
)
from admissions.selectors import inquiries_visible_to
from admissions.services import (
    call_log,
    dispatcher_kick,
    inquiry_admit,
    inquiry_advance,
    inquiry_assign,
    inquiry_hold_capacity,
    inquiry_schedule_admission,
)
from crm.audit import audit_record
from crm.masking import sees_for
from crm.models import AuditEvent, User
from crm.roles import has_role, user_roles
from crm.time_zones import facility_time_activate, moment_text
from programs.models import CapacityHold, Program
from programs.services import CapacityError

TIMELINE_LENGTH = 100
# The pages a next step can lead to.
STEP_PAGES = {"screening": "screening_ui:screening", "signoff": "screening_ui:signoff"}


def inquiry_for(request: HttpRequest, pk: int) -> Inquiry:
    """The inquiry if the user's facilities include it; 404 otherwise (never 403: no hint it exists).

    Joined: what every inquiry shows. The program, level, hold and admission are loaded when the
    inquiry has them: joining all ten tables made planning the query dearer than running it.
    """
    rows = inquiries_visible_to(request.user).select_related(
        "person", "caller", "facility", "lead_source", "assigned_to"
    )
    inquiry = get_object_or_404(rows, pk=pk)
    facility_time_activate(inquiry.facility)  # its times are read and shown in its facility's zone
    return inquiry


# --- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One thing a user can do on the page: who may, which form, what it runs."""

    title: str
    permission: str
    form: Callable[[Inquiry, User, Any], forms.BaseForm]
    run: Callable[[HttpRequest, Inquiry, dict[str, Any]], str]
    audit_fields: tuple[str, ...] = ()


def _call(request: HttpRequest, inquiry: Inquiry, data: dict[str, Any]) -> str:
    call_log(
        inquiry=inquiry,
        actor=request.user,  # type: ignore[arg-type]
        direction=data["direction"],
        outcome=data["outcome"],
        note=data["note"],
    )
    return "Call logged."


def _note(request: HttpRequest, inquiry: Inquiry, data: dict[str, Any]) -> str:
    note_add(inquiry=inquiry, actor=request.user, body=data["body"])  # type: ignore[arg-type]
    return "Note added."


def _callback(request: HttpRequest, inquiry: Inquiry, data: dict[str, Any]) -> str:
    followup = callback_schedule(
        inquiry=inquiry,
        actor=request.user,  # type: ignore[arg-type]
        due_at=data["due_at"],
        note=data["note"],
    )
    return f"Call-back scheduled for {moment_text(followup.due_at, inquiry.facility)}."


def _stage(request: HttpRequest, inquiry: Inquiry, data: dict[str, Any]) -> str:
    if data["to"] == Stage.APPROVED and inquiry.approved_level_id is None:
        raise CaseworkError("A clinician signs off the level of care before approval.", field="to")
    if data["to"] == Stage.APPROVED and getattr(_policy(inquiry), "vob_status", None) not in VOB_DONE:
        # as a sign-off and a VOB result move it: approved once benefits are verified (or self-pay)
        raise CaseworkError(
            "Verify benefits before approval: request the VOB, or record self-pay.", field="to"
        )
    moved = inquiry_advance(
        inquiry=inquiry,
        to=data["to"],
        actor=request.user,  # type: ignore[arg-type]
        reason=data["reason"],
        lost_reason=data["lost_reason"],
        destination=data["destination"],
    )
    return f"Moved to {moved.get_stage_display()}."


def _assign(request: HttpRequest, inquiry: Inquiry, data: dict[str, Any]) -> str:
    inquiry_assign(inquiry=inquiry, to=data["to"], actor=request.user)  # type: ignore[arg-type]
    return f"Assigned to {data['to']}." if data["to"] else "Returned to the unassigned queue."


def _message(request: HttpRequest, inquiry: Inquiry, data: dict[str, Any]) -> str:
    """Check consent, content and quiet hours now, so a blocked message is refused with its reason."""
    person = Person.objects.get(pk=inquiry.person_id)
    if data["body"]:
        try:
            message = coordinator_text_send(inquiry=inquiry, actor=request.user, body=data["body"])  # type: ignore[arg-type]
        except ValidationError as exc:
            raise CaseworkError(" ".join(exc.messages), field="body") from None
        followup, existing = message.followup, message
    else:
        existing = None
        followup = FollowUp(
            inquiry=inquiry,
            kind=FollowUp.Kind.COORDINATOR_TEXT,
            channel=data["medium"],
            template_code=data["template"],
            due_at=timezone.now(),
        )
        decision = message_decide(followup=followup, person=person, now=timezone.now())
        if decision.action in ("block", "cancel"):
            raise CaseworkError(f"Not sent: {decision.reason}.", field="template")
        followup.dedupe_key = f"inquiry:{inquiry.pk}:message:{uuid.uuid4().hex}"
        followup.save()
        dispatcher_kick()
    decision = message_decide(followup=followup, person=person, now=timezone.now(), message=existing)  # type: ignore[arg-type]
    if decision.action == "defer" and decision.until:
        local = timezone.localtime(decision.until)
        return f"Queued; it goes out at {local:%b %-d, %-I:%M %p} ({decision.reason})."
    return "Message queued to send now."


def _insurance(request: HttpRequest, inquiry: Inquiry, data: dict[str, Any]) -> str:
    insurance_save(inquiry=inquiry, actor=request.user, values=data)  # type: ignore[arg-type]
    return "Insurance saved."


def _placeable(inquiry: Inquiry, program: Program) -> None:
    """Refuse a program below what the inquiry's screen allows, next to the program field."""
    problems = placement_problems(inquiry=inquiry, program=program)
    if problems:
        raise CaseworkError(" ".join(problems), field="program")


def _hold(request: HttpRequest, inquiry: Inquiry, data: dict[str, Any]) -> str:
    _placeable(inquiry, data["program"])
    hold = inquiry_hold_capacity(
        inquiry=inquiry,
        program=data["program"],
        until=data["until"],
        actor=request.user,  # type: ignore[arg-type]
    )
    return f"{hold.program.get_capacity_kind_display()[:-1]} held in {hold.program.name}."


def _schedule(request: HttpRequest, inquiry: Inquiry, data: dict[str, Any]) -> str:
    _placeable(inquiry, data["program"])
    inquiry_schedule_admission(
        inquiry=inquiry,
        program=data["program"],
        admission_date=data["admission_date"],
        actor=request.user,  # type: ignore[arg-type]
    )
    return f"Admission scheduled for {data['admission_date']:%b %-d}."


def _admit(request: HttpRequest, inquiry: Inquiry, data: dict[str, Any]) -> str:
    _placeable(inquiry, data["program"])
    inquiry_admit(
        inquiry=inquiry,
        actor=request.user,  # type: ignore[arg-type]
        program=data["program"],
        reason=data["reason"] if data["confirm"] else "",
    )
    return "Admitted."


def _merge(request: HttpRequest, inquiry: Inquiry, data: dict[str, Any]) -> str:
    into = inquiries_visible_to(request.user).select_related("person").filter(pk=data["into"]).first()
    if into is None:
        raise CaseworkError("No inquiry with that number at your facilities.", field="into")
    inquiry_merge(
        duplicate=inquiry,
        into=into,
        actor=request.user,  # type: ignore[arg-type]
        confirmed=data["same_person"],
    )
    return f"Merged into inquiry #{into.pk}."


def _policy(inquiry: Inquiry) -> InsurancePolicy | None:
    """The primary policy, from the policies the page has read (``_page``) when it has."""
    return next((p for p in inquiry.insurance_policies.all() if p.rank == InsurancePolicy.Rank.PRIMARY), None)


def _held_program_id(inquiry: Inquiry) -> int | None:
    """The program of the inquiry's live hold, if it has one."""
    if inquiry.capacity_hold_id is None:
        return None
    return (
        CapacityHold.objects.filter(pk=inquiry.capacity_hold_id, released_at__isnull=True)
        .values_list("program_id", flat=True)
        .first()
    )


def _planned_program_id(inquiry: Inquiry) -> int | None:
    """The program a hold or an admission starts from: the held one, the one chosen, the coordinator's
    choice on the screen, else the screen's top match (for a signed-off screen)."""
    held = _held_program_id(inquiry)
    if held is not None or inquiry.approved_program_id is not None:
        return held or inquiry.approved_program_id
    if inquiry.stage != Stage.APPROVED:
        return None  # the top match is ranked only where a place is about to be held
    screening = screening_latest(inquiry_id=inquiry.pk, inquiry=inquiry)
    if screening is None or not screening.is_signed:
        return None
    if screening.override_program_id is not None:
        return screening.override_program_id
    top = screening_matches(screening=screening).top
    return top.program_id if top is not None else None


def _hold_form(inquiry: Inquiry, user: User, data: Any) -> forms.BaseForm:
    initial: dict[str, object] = {"until": timezone.now() + timedelta(hours=24)}
    if data is None:  # a bound form needs no starting values
        initial["program"] = _planned_program_id(inquiry)
    return HoldForm(data, facility_id=inquiry.facility_id, initial=initial)


def _schedule_form(inquiry: Inquiry, user: User, data: Any) -> forms.BaseForm:
    initial = {"program": _planned_program_id(inquiry)} if data is None else {}
    return ScheduleAdmissionForm(data, facility_id=inquiry.facility_id, initial=initial)


def _admit_form(inquiry: Inquiry, user: User, data: Any) -> forms.BaseForm:
    held = _held_program_id(inquiry)
    return AdmitForm(
        data,
        facility_id=inquiry.facility_id,
        initial={"program": held or inquiry.approved_program_id},
        scheduled_for=inquiry.admission_date,
        held_program_id=held,
    )


ACTIONS: dict[str, Action] = {
    "call": Action("Log a call", "admissions.add_inquiryevent", lambda i, u, d: CallLogForm(d), _call),
    "note": Action("Add a note", "admissions.add_inquiryevent", lambda i, u, d: NoteForm(d), _note),
    "callback": Action(
        "Schedule a call-back", "admissions.add_inquiryevent", lambda i, u, d: CallbackForm(d), _callback
    ),
    "message": Action(
        "Send a text or email",
        "admissions.view_outboundmessage",
        lambda i, u, d: MessageForm(d, facility_id=i.facility_id),
        _message,
    ),
    "stage": Action(
        "Change stage", "admissions.change_inquiry", lambda i, u, d: StageForm(d, current=i.stage), _stage
    ),
    "assign": Action(
        "Assign",
        "admissions.change_inquiry",
        lambda i, u, d: AssignForm(d, staff=staff_for([i.facility_id]), initial={"to": i.assigned_to_id}),
        _assign,
    ),
    "insurance": Action(
        "Insurance and VOB",
        "admissions.change_insurancepolicy",
        lambda i, u, d: InsuranceForm(d, instance=_policy(i)),
        _insurance,
        audit_fields=("insurance",),
    ),
    "hold": Action("Hold a bed or slot", "programs.change_capacityhold", _hold_form, _hold),
    "schedule": Action("Schedule the admission", "programs.change_capacityhold", _schedule_form, _schedule),
    "admit": Action("Mark admitted", "programs.change_capacityhold", _admit_form, _admit),
    "merge": Action("Merge a duplicate", "admissions.change_inquiry", lambda i, u, d: MergeForm(d), _merge),
}


# --- the page -------------------------------------------------------------------------------


def _action_form(name: str, inquiry: Inquiry, user: User, data: Any) -> forms.BaseForm:
    """The form of one action, its field ids prefixed with the action's name: the page shows
    every action's form at once, and several share field names (program, note, to)."""
    form = ACTIONS[name].form(inquiry, user, data)
    form.auto_id = f"{name}-%s"
    return form


def _page(
    request: HttpRequest, inquiry: Inquiry, *, bound: tuple[str, forms.BaseForm] | None = None
) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    sees_person = sees_for(user).name
    show_all = request.GET.get("timeline") == "all"
    events = InquiryEvent.objects.filter(inquiry=inquiry).select_related("actor").order_by("-at", "-pk")
    timeline = list(events if show_all else events[: TIMELINE_LENGTH + 1])
    # read once for the insurance panel and the insurance form (``_policy``)
    prefetch_related_objects(
        [inquiry], Prefetch("insurance_policies", queryset=InsurancePolicy.objects.select_related("payer"))
    )
    forms_by_name = {}
    for name, action in ACTIONS.items():
        if not user.has_perm(action.permission) or not _available(name, inquiry):
            continue
        forms_by_name[name] = _action_form(name, inquiry, user, None)
    if bound is not None:
        forms_by_name[bound[0]] = bound[1]
    screening = screening_latest(inquiry_id=inquiry.pk, inquiry=inquiry)
    policies = list(inquiry.insurance_policies.all())
    primary = _policy(inquiry)
    red_flags = screening.result.get("safety_flags", []) if screening else []
    facts = StepFacts(screening=screening, policy=primary)
    step = next_step(inquiry, today=timezone.localdate(), facts=facts)
    step_mine = step is not None and step.taken_by(user_roles(user))
    step_form = None
    if step_mine and step is not None and step.action in forms_by_name:
        step_form = forms_by_name.pop(step.action)
        if not step_form.is_bound:
            step_form.initial.update(step.prefill)
    context = {
        "inquiry": inquiry,
        "person": inquiry.person if sees_person else None,
        "now": timezone.now(),
        "timeline": timeline[:TIMELINE_LENGTH] if not show_all else timeline,
        "timeline_more": not show_all and len(timeline) > TIMELINE_LENGTH,
        "actions": [(name, ACTIONS[name].title, form) for name, form in forms_by_name.items()],
        "open_action": bound[0] if bound else "",
        "screening": screening,
        "red_flags": red_flags,
        "crisis_flags": [f for f in red_flags if f.get("route_to") == Stage.CRISIS_ROUTED],
        # the flags' alarm becomes a note once a clinician signed off the screen that raised them
        "flags_reviewed": screening if screening is not None and screening.is_signed else None,
        "screening_withheld": (
            recommendation_withheld(result=screening.result or {}, complete=screening.complete)
            if screening
            else None
        ),
        "caller_consent": caller_consent(inquiry=inquiry),
        "policies": policies,
        "step": step,
        "step_mine": step_mine,
        "step_form": step_form,
        "step_url": reverse(STEP_PAGES[step.page], args=[inquiry.pk]) if step and step.page else "",
        "linked_step": step.page if step is not None and step_mine else "",
        "consents": (
            list(
                ContactConsent.objects.filter(person_id=inquiry.person_id).order_by("medium", "-captured_at")
            )
            if sees_person
            else []
        ),
        "pending": list(
            FollowUp.objects.filter(
                inquiry=inquiry, state__in=[FollowUp.State.SCHEDULED, FollowUp.State.QUEUED]
            ).order_by("due_at")[:10]
        ),
        "can_screen": has_role(user, *SCREENING_ROLES),
        "can_sign_off": has_role(user, *SIGNOFF_ROLES),
    }
    return render(request, "admissions/inquiry.html", context)


def _available(name: str, inquiry: Inquiry) -> bool:
    """Actions that make sense at the inquiry's stage."""
    if name == "stage":
        return bool(StageForm(current=inquiry.stage).fields["to"].choices)  # type: ignore[attr-defined]
    if name in ("merge", "callback", "hold", "schedule", "assign"):
        return inquiry.is_open
    if name == "admit":
        return inquiry.stage == "scheduled"
    if name == "message":
        return inquiry.stage not in ("duplicate", "invalid")
    return True


@login_required
@permission_required("admissions.view_inquiry", raise_exception=True)
@require_GET
def inquiry_page(request: HttpRequest, pk: int) -> HttpResponse:
    inquiry = inquiry_for(request, pk)
    audit_record(
        action=AuditEvent.Action.VIEW,
        obj=inquiry,
        actor=request.user,  # type: ignore[arg-type]
        request=request,
        fields=["person", "message", "timeline", "insurance", "consents", "screening"],
    )
    return _page(request, inquiry)


@login_required
@require_POST
def inquiry_act(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    action = ACTIONS.get(name)
    if action is None:
        raise Http404("No such action.")
    if not request.user.has_perm(action.permission):
        raise PermissionDenied("Your role cannot do this.")
    inquiry = inquiry_for(request, pk)
    if not _available(name, inquiry):
        messages.error(request, f"{action.title} is not possible at the {inquiry.get_stage_display()} stage.")
        return redirect("admissions:inquiry", pk=inquiry.pk)
    form = _action_form(name, inquiry, request.user, request.POST)  # type: ignore[arg-type]
    if form.is_valid():
        try:
            done = action.run(request, inquiry, form.cleaned_data)
        except (CaseworkError, TransitionError) as exc:
            field = exc.field if exc.field in form.fields else None
            form.add_error(field, str(exc))
        except CapacityError as exc:
            form.add_error("program" if "program" in form.fields else None, str(exc))
        else:
            audit_record(
                action=AuditEvent.Action.UPDATE,
                obj=inquiry,
                actor=request.user,  # type: ignore[arg-type]
                request=request,
                fields=[name, *action.audit_fields, *form.changed_data],
            )
            messages.success(request, done)
            return redirect(f"{reverse('admissions:inquiry', args=[inquiry.pk])}#timeline")
    inquiry = inquiry_for(request, pk)
    audit_record(
        action=AuditEvent.Action.VIEW,
        obj=inquiry,
        actor=request.user,  # type: ignore[arg-type]
        request=request,
        fields=["person", "timeline", "insurance", "consents", "screening"],
    )
    return _page(request, inquiry, bound=(name, form))
