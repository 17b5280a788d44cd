"""Kernel views: the health check."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


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
