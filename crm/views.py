"""Kernel views: the health check, and the error handlers (403, 404, 500, and 503 for an outage).

The pages are the site's own templates: ``403.html`` and ``404.html`` in the signed-in layout,
``500.html`` and ``503.html`` in a layout that needs no database, session or request.
"""

from __future__ import annotations

import sys
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from crm.outage import is_outage, outage_response, wants_json


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: an outage of PostgreSQL or Redis is a 503 with Retry-After; any other
    error a 500, in JSON on the API. Called while the exception is being handled, for errors
    raised anywhere in the request, middleware included."""
    if is_outage(sys.exc_info()[1]):
        return outage_response(request)
    if wants_json(request):
        return JsonResponse({"detail": "Server error.", "code": "server_error"}, status=500)
    return defaults.server_error(request)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler403``: the API answers in its JSON error shape, pages with the site's page."""
    if wants_json(request):
        return JsonResponse({"detail": "Permission denied.", "code": "permission_denied"}, status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: the API answers in its JSON error shape, pages with the site's page."""
    if wants_json(request):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachability plus the age of the last worker heartbeat. No PHI."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = "unavailable"
    try:
        cache.set("healthz", "1", 5)
        checks["cache"] = "ok" if cache.get("healthz") == "1" else "unavailable"
    except Exception:  # noqa: BLE001
        checks["cache"] = "unavailable"
    healthy = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if checks["database"] == "ok":
        from django.apps import apps

        heartbeat = apps.get_model("workers", "Heartbeat").objects.filter(name="celery").first()
        if heartbeat is not None:
            age = timezone.now() - heartbeat.beat_at
            body["worker_heartbeat_seconds"] = int(age.total_seconds())
            body["workers"] = "ok" if age < timedelta(seconds=120) else "stale"
        else:
            body["workers"] = "unknown"
    body["embedded"] = settings.EMBEDDED_POSTGRES
    return JsonResponse(body, status=200 if healthy else 503)
