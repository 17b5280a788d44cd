"""Manager dashboard pages: parse the filters, call one selector, render it or export one table."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from crm.audit import audit_record
from crm.exports import EXPORT_PERMISSION
from crm.models import AuditEvent
from dashboards import selectors
from dashboards.access import can_see_dashboards
from dashboards.csv_export import table_csv
from dashboards.forms import DashboardFilterForm
from dashboards.models import DashboardExport

View = Callable[..., HttpResponse]

PAGES = (
    ("funnel", "Funnel"),
    ("speed", "Speed to lead"),
    ("sources", "Sources"),
    ("outcomes", "Lost reasons"),
    ("census", "Census"),
    ("waitlist", "Waitlist"),
    ("coordinators", "Coordinators"),
    ("trends", "Trends"),
)


def dashboard_access(view: View) -> View:
    """Anonymous: to the sign-in page. Signed in without a manager or administrator role: 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not can_see_dashboards(request.user):
            raise PermissionDenied("Dashboards are for admissions managers and administrators.")
        return view(request, *args, **kwargs)

    return wrapped


@require_GET
@dashboard_access
def dashboard(request: HttpRequest, report: str) -> HttpResponse:
    today = timezone.localdate()
    form = DashboardFilterForm(
        request.GET or None, choices=selectors.filter_choices(request.user), today=today
    )
    filters = form.filters()
    result = selectors.REPORTS[report](user=request.user, filters=filters)
    export = request.GET.get("export")
    if export is not None:
        return _export(request, result, export, filters)
    return render(
        request,
        "dashboards/page.html",
        {
            "form": form,
            "filters": filters,
            "report": result,
            "pages": PAGES,
            "live": report in ("census", "waitlist"),
            "data_as_of": None if report in ("census", "waitlist") else selectors.data_as_of(),
            "now": timezone.now(),
            "can_export": request.user.has_perm(EXPORT_PERMISSION),
        },
    )


def _export(
    request: HttpRequest, result: selectors.Report, slug: str, filters: selectors.Filters
) -> HttpResponse:
    if not request.user.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied("Exporting needs the export permission.")
    table = result.table(slug)
    if table is None:
        return HttpResponse("No such table on this page.", status=404, content_type="text/plain")
    run = DashboardExport.objects.create(
        user=request.user,  # type: ignore[misc]
        report=result.slug,
        table=table.slug,
        filters=filters.as_dict(),
        rows=len(table.rows),
    )
    audit_record(
        action=AuditEvent.Action.EXPORT,
        obj=run,
        actor=request.user,  # type: ignore[arg-type]
        fields=[f"{result.slug}.{table.slug}"],
        request=request,
    )
    response = HttpResponse(table_csv(table), content_type="text/csv; charset=utf-8")
    name = f"{result.slug}-{table.slug}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
