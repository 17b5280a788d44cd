"""Import pages for managers and administrators: upload, column mapping, dry run, progress
(polled by htmx), cancel and resume, and the report of refused rows."""

from __future__ import annotations

import csv
import io
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from admissions.imports.columns import FIELDS, PRESETS, columns_for, columns_guess
from admissions.imports.engine import job_rate
from admissions.imports.models import ImportJob, ImportMapping, ImportRefusal
from admissions.imports.services import (
    ImportError_,
    import_job_cancel,
    import_job_check,
    import_job_create,
    import_job_map,
    import_job_start,
)
from admissions.models import LeadSource
from crm.audit import audit_record
from crm.exports import neutralise
from crm.models import AuditEvent, Facility, User
from crm.scoping import facility_ids_for

RUN_IMPORT = "admissions.run_import"
PAGE_SIZE = 25
FIRST_REFUSALS_SHOWN = 20
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


def _facilities(user: Any) -> Any:
    allowed = facility_ids_for(user)
    rows = Facility.objects.filter(is_active=True)
    return rows if allowed is None else rows.filter(pk__in=allowed)


def _job(request: HttpRequest, pk: int) -> ImportJob:
    job = ImportJob.objects.select_related("facility", "lead_source", "created_by").filter(pk=pk).first()
    allowed = facility_ids_for(request.user)
    if job is None or (allowed is not None and job.facility_id not in allowed):
        raise Http404("No such import at your facilities.")
    return job


class UploadForm(forms.Form):
    file = forms.FileField(label="File", help_text="CSV or XLSX, with the column names in the first row.")
    facility = forms.ModelChoiceField(queryset=Facility.objects.none(), label="Facility", empty_label=None)

    def __init__(self, *args: Any, facilities: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities  # type: ignore[attr-defined]

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 200 MB; split it in parts.")
        return upload


@login_required
@permission_required(RUN_IMPORT, raise_exception=True)
@require_http_methods(["GET", "POST"])
def imports_list(request: HttpRequest) -> HttpResponse:
    """Past and running imports at the user's facilities, and the upload form."""
    facilities = _facilities(request.user)
    form = UploadForm(request.POST or None, request.FILES or None, facilities=facilities)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = import_job_create(
                upload=upload,
                file_name=upload.name,
                facility=form.cleaned_data["facility"],
                actor=request.user,  # type: ignore[arg-type]
                request=request,
            )
        except ImportError_ as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("imports:map", pk=job.pk)
    jobs = ImportJob.objects.select_related("facility", "created_by").order_by("-created_at", "-pk")
    allowed = facility_ids_for(request.user)
    if allowed is not None:
        jobs = jobs.filter(facility_id__in=allowed)
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    status = 400 if request.method == "POST" else 200
    return render(request, "imports/list.html", {"form": form, "page": page}, status=status)


class MappingForm(forms.Form):
    on_duplicate = forms.ChoiceField(
        choices=ImportJob.OnDuplicate.choices,
        widget=forms.RadioSelect,
        label="A row for someone with an open inquiry",
        initial=ImportJob.OnDuplicate.MERGE,
    )
    lead_source = forms.ModelChoiceField(
        queryset=LeadSource.objects.filter(is_active=True),
        required=False,
        label="Lead source for rows that name none",
        empty_label="None",
    )
    save_as = forms.CharField(required=False, max_length=80, label="Save this mapping as")

    def __init__(
        self, *args: Any, headers: list[str], initial_columns: dict[str, str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "Not in the file"), *((h, h) for h in headers if h)]
        self.groups: dict[str, list[str]] = {}
        for f in FIELDS:
            name = f"col_{f.name}"
            self.fields[name] = forms.ChoiceField(
                choices=choices,
                required=False,
                label=f.label,
                help_text=f.help,
                initial=initial_columns.get(f.name, ""),
            )
            self.groups.setdefault(f.group, []).append(name)

    def columns(self) -> dict[str, str]:
        return {
            f.name: self.cleaned_data[f"col_{f.name}"]
            for f in FIELDS
            if self.cleaned_data.get(f"col_{f.name}")
        }

    def grouped(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(group, [self[name] for name in names]) for group, names in self.groups.items()]


@login_required
@permission_required(RUN_IMPORT, raise_exception=True)
@require_http_methods(["GET", "POST"])
def import_map(request: HttpRequest, pk: int) -> HttpResponse:
    """Column mapping: a preset or a saved mapping fills it in; the dry run follows."""
    job = _job(request, pk)
    if job.state not in (ImportJob.State.UPLOADED, ImportJob.State.CHECKED):
        return redirect("imports:detail", pk=job.pk)
    preset_key = (
        request.POST.get("preset") or request.GET.get("preset") or (job.origin if job.columns else "")
    )
    saved = list(ImportMapping.objects.order_by("name"))
    if preset_key in PRESETS:
        initial = columns_for(PRESETS[preset_key], job.headers)
    elif preset_key.startswith("saved:"):
        chosen = next((m for m in saved if f"saved:{m.pk}" == preset_key), None)
        initial = {k: v for k, v in (chosen.columns if chosen else {}).items() if v in job.headers}
    else:
        initial = job.columns or columns_guess(job.headers)
    form = MappingForm(
        request.POST if request.method == "POST" else None,
        headers=job.headers,
        initial_columns=initial,
        initial={"on_duplicate": job.on_duplicate, "lead_source": job.lead_source_id},
    )
    if request.method == "POST" and form.is_valid():
        try:
            import_job_map(
                job=job,
                columns=form.columns(),
                origin=preset_key if preset_key in PRESETS else "file",
                on_duplicate=form.cleaned_data["on_duplicate"],
                lead_source=form.cleaned_data["lead_source"],
                save_as=form.cleaned_data["save_as"],
                actor=request.user,  # type: ignore[arg-type]
            )
            import_job_check(job=job)
        except ImportError_ as exc:
            target = f"col_{exc.field}" if exc.field and f"col_{exc.field}" in form.fields else None
            form.add_error(target, str(exc))
        else:
            return redirect("imports:detail", pk=job.pk)
    presets = [(p.key, p.label) for p in PRESETS.values()] + [(f"saved:{m.pk}", m.name) for m in saved]
    context = {"job": job, "form": form, "presets": presets, "preset": preset_key}
    return render(request, "imports/map.html", context, status=400 if request.method == "POST" else 200)


def _progress_context(job: ImportJob) -> dict[str, Any]:
    rate, left = job_rate(job)
    return {"job": job, "rate": rate, "left": left}


@login_required
@permission_required(RUN_IMPORT, raise_exception=True)
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Where an import stands: progress while it runs, the dry run's counts and first refused
    rows, the import's counts when done."""
    job = _job(request, pk)
    phase = ImportJob.Phase.IMPORT if job.phase == ImportJob.Phase.IMPORT else ImportJob.Phase.CHECK
    refusals = list(
        ImportRefusal.objects.filter(job=job, phase=phase).order_by("row_number")[:FIRST_REFUSALS_SHOWN]
    )
    labels = {f.name: f.label for f in FIELDS}
    for refusal in refusals:
        refusal.shown = [  # type: ignore[attr-defined]
            (labels.get(e["field"], e["field"]), job.columns.get(e["field"], ""), e["message"])
            for e in refusal.errors
        ]
    context = {**_progress_context(job), "refusals": refusals, "mapped": _mapped(job)}
    return render(request, "imports/detail.html", context)


def _mapped(job: ImportJob) -> list[tuple[str, str]]:
    return [(f.label, job.columns[f.name]) for f in FIELDS if f.name in job.columns]


@login_required
@permission_required(RUN_IMPORT, raise_exception=True)
@require_GET
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress panel, polled every second while the import is active; when the job stops,
    the page reloads to show the result."""
    job = _job(request, pk)
    response = render(request, "imports/_progress.html", _progress_context(job))
    if not job.is_active and request.GET.get("was") == "active":
        response["HX-Refresh"] = "true"
    return response


@login_required
@permission_required(RUN_IMPORT, raise_exception=True)
@require_POST
def import_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Start, resume, cancel or re-check an import."""
    job = _job(request, pk)
    try:
        if action == "start":
            import_job_start(job=job, actor=request.user, request=request)  # type: ignore[arg-type]
            messages.success(request, "The import has started.")
        elif action == "cancel":
            import_job_cancel(job=job)
            messages.info(request, "Stopping after the batch being written; what is written stays.")
        elif action == "check":
            import_job_check(job=job)
        else:
            raise Http404("No such action.")
    except ImportError_ as exc:
        messages.error(request, str(exc))
    return redirect("imports:detail", pk=job.pk)


@login_required
@permission_required(RUN_IMPORT, raise_exception=True)
@require_GET
def import_report(request: HttpRequest, pk: int) -> HttpResponse:
    """Every refused row with its reasons, as CSV (row numbers and messages: no values)."""
    job = _job(request, pk)
    phase = request.GET.get("phase", ImportJob.Phase.IMPORT)
    if phase not in ImportJob.Phase.values:
        raise Http404("No such report.")
    labels = {f.name: f.label for f in FIELDS}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Row", "Field", "Column in the file", "Reason"])
    for refusal in ImportRefusal.objects.filter(job=job, phase=phase).order_by("row_number").iterator(2000):
        for error in refusal.errors:
            name = error["field"]
            column = job.columns.get(name, "")
            writer.writerow(
                [refusal.row_number, labels.get(name, name), neutralise(column), error["message"]]
            )
    user: User = request.user  # type: ignore[assignment]
    audit_record(
        action=AuditEvent.Action.EXPORT, obj=job, actor=user, request=request, fields=[f"refusals:{phase}"]
    )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-refused-rows.csv"'
    response["Cache-Control"] = "no-store"
    return response
