"""Manager audit pages: the start page (look-ups and the newest entries), who touched an inquiry,
and what a user touched between two dates.

Reading the audit log is itself audited. Export needs the export permission on top of
``crm.view_auditevent``; both pages read a constant number of queries whatever the rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from admissions.selectors import inquiries_visible_to
from crm.audit import audit_list, audit_record
from crm.exports import EXPORT_PERMISSION, neutralise
from crm.models import AuditEvent, User
from crm.scoping import facility_ids_for
from privacy import selectors
from privacy.forms import InquiryLookupForm, UserActivityForm

AUDIT_VIEW_PERMISSION = "crm.view_auditevent"
PAGE_SIZE = 50
RECENT_ROWS = 50
CSV_COLUMNS = ("time", "actor", "action", "record type", "record id", "fields", "ip", "request id")


def _require_audit_access(request: HttpRequest, *, export: bool) -> None:
    if not request.user.has_perm(AUDIT_VIEW_PERMISSION):
        raise PermissionDenied("The audit log is for admissions managers and administrators.")
    if export and not request.user.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied("Exporting needs the export permission.")


def _actor(row: AuditEvent) -> str:
    return row.actor.username if row.actor is not None else row.actor_label or "system"


def audit_csv(rows: Iterable[AuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = (
            timezone.localtime(row.at).isoformat(),
            _actor(row),
            row.action,
            row.object_type,
            row.object_id if row.listed is None else " ".join(f"#{pk}" for pk in row.listed),
            " ".join(str(f) for f in row.fields),
            row.ip or "",
            row.request_id,
        )
        writer.writerow([neutralise(c) for c in cells])
    return out.getvalue()


def _csv_response(body: str, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def _log_read(request: HttpRequest, obj: models.Model, *, export: bool, scope: str = "audit_log") -> None:
    audit_record(
        action=AuditEvent.Action.EXPORT if export else AuditEvent.Action.VIEW,
        obj=obj,
        actor=request.user,  # type: ignore[arg-type]
        request=request,
        fields=[scope],
    )


@login_required
@require_GET
def audit_index(request: HttpRequest) -> HttpResponse:
    """``/audit/``: open an inquiry's audit by its number, look up what a staff member touched,
    and the newest entries about the records of the viewer's facilities."""
    _require_audit_access(request, export=False)
    lookup = InquiryLookupForm(request.GET or None)
    if lookup.is_bound and lookup.is_valid():
        number = lookup.cleaned_data["inquiry"]
        if inquiries_visible_to(request.user).filter(pk=number).exists():
            return redirect("audit:inquiry", pk=number)
        lookup.add_error("inquiry", f"No inquiry #{number} at your facilities.")
    today = timezone.localdate()
    activity = UserActivityForm(
        initial={"start": today, "end": today}, users=selectors.audit_subjects_for(request.user)
    )
    rows = selectors.audit_rows_recent(viewer=request.user, limit=RECENT_ROWS)
    audit_list(
        model=AuditEvent,
        ids=[row.pk for row in rows],
        actor=request.user,  # type: ignore[arg-type]
        what="audit:latest",
        request=request,
        even_empty=True,
    )
    context = {
        "lookup": lookup,
        "activity": activity,
        "page": rows,
        "recent_rows": RECENT_ROWS,
        "all_facilities": facility_ids_for(request.user) is None,
    }
    return render(request, "privacy/audit_index.html", context, status=400 if lookup.errors else 200)


@login_required
@require_GET
def inquiry_audit(request: HttpRequest, pk: int) -> HttpResponse:
    export = request.GET.get("export") == "csv"
    _require_audit_access(request, export=export)
    inquiry = get_object_or_404(inquiries_visible_to(request.user).select_related("facility"), pk=pk)
    _log_read(request, inquiry, export=export)
    rows = selectors.audit_rows_for_inquiry(inquiry=inquiry)
    if export:
        return _csv_response(audit_csv(rows.iterator(chunk_size=2000)), f"audit-inquiry-{inquiry.pk}.csv")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "inquiry": inquiry,
        "page": page,
        "can_export": request.user.has_perm(EXPORT_PERMISSION),
    }
    return render(request, "privacy/audit_inquiry.html", context)


@login_required
@require_GET
def user_audit(request: HttpRequest) -> HttpResponse:
    export = request.GET.get("export") == "csv"
    _require_audit_access(request, export=export)
    form = UserActivityForm(request.GET or None, users=selectors.audit_subjects_for(request.user))
    page = None
    if form.is_bound and form.is_valid():
        subject: User = form.cleaned_data["user"]
        start, end = form.window()
        period = f"audit_log:{form.cleaned_data['start']:%Y-%m-%d}..{form.cleaned_data['end']:%Y-%m-%d}"
        _log_read(request, subject, export=export, scope=period)
        rows = selectors.audit_rows_for_user(viewer=request.user, subject=subject, start=start, end=end)
        if export:
            first, last = form.cleaned_data["start"], form.cleaned_data["end"]
            name = f"audit-{subject.username}-{first:%Y%m%d}-{last:%Y%m%d}.csv"
            return _csv_response(audit_csv(rows.iterator(chunk_size=2000)), name)
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "can_export": request.user.has_perm(EXPORT_PERMISSION),
    }
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "privacy/audit_user.html", context, status=status)
