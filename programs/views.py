"""Discharges: staff record them on a page, the EHR sends them to an API (CSV or JSON).

Either way they feed census (a done discharge is one occupied place fewer) and the board's
outlook (expected ones, by day), and a done discharge frees a place the waitlist is offered.
A discharge names no person, so these views write no audit rows.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.formfields import ModelChoiceField
from crm.models import User
from crm.scoping import facility_ids_for, scope_to_user
from programs.discharge_import import DischargeFileError, discharge_records_read, discharge_rows_check
from programs.models import Discharge, Program
from programs.services import discharge_change, discharge_record, discharges_import

LIST_LENGTH = 200


class DischargeForm(forms.Form):
    program = ModelChoiceField(queryset=Program.objects.none())
    on = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    done = forms.TypedChoiceField(
        label="Status",
        choices=[("0", "Expected on that day"), ("1", "Discharged (the place is free now)")],
        coerce=lambda v: v == "1",
    )

    def __init__(self, *args: Any, facility_ids: list[int] | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        programs = (
            Program.objects.filter(is_active=True)
            .select_related("facility")
            .order_by("facility__name", "name")
        )
        if facility_ids is not None:
            programs = programs.filter(facility_id__in=facility_ids)
        self.fields["program"].queryset = programs  # type: ignore[attr-defined]
        self.fields["program"].label_from_instance = lambda p: f"{p.name} ({p.facility.name})"  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        on: date | None = data.get("on")
        today = timezone.localdate()
        if on is not None and data.get("done") and on > today:
            self.add_error("on", "A discharge that happened cannot be in the future.")
        if on is not None and not data.get("done") and on < today:
            self.add_error("on", "An expected discharge is today or later.")
        if on is not None and abs((on - today).days) > 365:
            self.add_error("on", "Within a year of today.")
        return data


def _expected_for(user: User) -> Any:
    rows = scope_to_user(Discharge.objects.all(), user, facility_field="program__facility")
    return (
        rows.filter(state=Discharge.State.EXPECTED).select_related("program__facility").order_by("on", "pk")
    )


@login_required
@permission_required("programs.add_discharge", raise_exception=True)
@require_http_methods(["GET", "POST"])
def discharges_page(request: HttpRequest) -> HttpResponse:
    """Record a discharge (expected or done) and see the expected ones of the user's facilities."""
    user: User = request.user  # type: ignore[assignment]
    ids = facility_ids_for(user)
    form = DischargeForm(
        request.POST or None, facility_ids=ids, initial={"on": timezone.localdate(), "done": "1"}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        discharge_record(program=data["program"], on=data["on"], done=data["done"], actor=user)
        what = "Discharge recorded" if data["done"] else "Expected discharge recorded"
        messages.success(request, f"{what} for {data['program'].name}.")
        return redirect("discharges")
    expected = list(_expected_for(user)[: LIST_LENGTH + 1])
    return render(
        request,
        "programs/discharges.html",
        {
            "form": form,
            "expected": expected[:LIST_LENGTH],
            "more": len(expected) > LIST_LENGTH,
            "today": timezone.localdate(),
        },
        status=400 if form.is_bound else 200,
    )


class DischargeChangeForm(forms.Form):
    state = forms.ChoiceField(
        choices=[(Discharge.State.DONE, "Done"), (Discharge.State.CANCELLED, "Called off")]
    )


@login_required
@permission_required("programs.change_discharge", raise_exception=True)
@require_POST
def discharge_change_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark an expected discharge done or called off."""
    discharge = _expected_for(request.user).filter(pk=pk).first()  # type: ignore[arg-type]
    if discharge is None:
        raise Http404("No such expected discharge at your facilities.")
    form = DischargeChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose done or called off.")
        return redirect("discharges")
    state = form.cleaned_data["state"]
    on = timezone.localdate() if state == Discharge.State.DONE else None
    discharge_change(discharge=discharge, state=state, on=on, actor=request.user)  # type: ignore[arg-type]
    messages.success(
        request, "Discharge marked done." if state == Discharge.State.DONE else "Discharge called off."
    )
    return redirect("discharges")


@extend_schema(exclude=True)  # documented in docs/capacity.md; session-authenticated, not a public API
class DischargeImportApi(APIView):
    """``POST /api/v1/discharges/``: discharges from the EHR as JSON or CSV, all or nothing.

    200 with counts (created / changed / unchanged); 400 with errors by row and field, nothing
    written; 403 without the permission; 415 for another content type.
    """

    permission_classes = [IsAuthenticated]
    parser_classes: list[Any] = []  # the body is read as text below, CSV or JSON

    def post(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        if not user.has_perm("programs.add_discharge") or not user.has_perm("programs.change_discharge"):
            return Response(
                {"detail": "Your role cannot import discharges.", "code": "permission_denied"}, status=403
            )
        kind = {"application/json": "json", "text/csv": "csv"}.get(request.content_type.split(";")[0].strip())
        if kind is None:
            return Response(
                {"detail": "Send application/json or text/csv.", "code": "unsupported_media_type"},
                status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        try:
            text = request.body.decode("utf-8-sig")
            records = discharge_records_read(text=text, kind=kind)
        except UnicodeDecodeError:
            return Response({"errors": {"non_field_errors": ["The body is not UTF-8."]}}, status=400)
        except DischargeFileError as exc:
            return Response({"errors": {"non_field_errors": [str(exc)]}}, status=400)
        rows, errors = discharge_rows_check(records=records, facility_ids=facility_ids_for(user))
        if errors:
            return Response({"errors": {"rows": {str(n): e for n, e in errors.items()}}}, status=400)
        result = discharges_import(rows=rows, actor=user)
        return Response({"created": result.created, "changed": result.changed, "unchanged": result.unchanged})
