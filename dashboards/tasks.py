"""Celery task that keeps the dashboard rollup fresh (beat runs it every 30 s)."""

from __future__ import annotations

import logging

from celery import shared_task

from dashboards.services import RefreshRunning, rollup_refresh

log = logging.getLogger(__name__)


# A first build at a million inquiries takes longer than the default 120 s limit.
@shared_task(
    name="dashboards.tasks.dashboards_refresh", ignore_result=True, time_limit=1800, soft_time_limit=1700
)
def dashboards_refresh() -> int:
    """Recompute the cohort days changed since the last refresh (skipped while another runs)."""
    try:
        result = rollup_refresh(skip_if_running=True)
    except RefreshRunning:
        log.info("dashboards rollup: another refresh is running; skipped")
        return 0
    log.info(
        "dashboards rollup: %d days, %d rows in %.2f s (full=%s)",
        result.days,
        result.rows,
        result.seconds,
        result.full,
    )
    return result.days
