"""Moments as staff read them: in the facility's time zone, with the zone's abbreviation.

    {% load moments %}
    {{ event.at|when }}                              Dec 7, 9:05 AM EST (the page's zone)
    {{ event.at|when:inquiry.facility }}             in that facility's zone
    {{ row.at|when_exact }}                          Dec 7, 2026, 9:05:12 AM EST (audit rows)
    {{ event.data.until|when:inquiry.facility }}     ISO 8601 text is read as a moment too

The page's zone is the signed-in user's facility's (``crm.time_zones``); a page about one record
passes that record's facility. The year shows when it is not this year in that zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

from crm.time_zones import moment_text, zone_named

register = template.Library()


def _local(value: Any, zone: Any) -> datetime | None:
    if isinstance(value, str):  # a moment kept as ISO 8601 text, e.g. in a timeline entry's data
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    tz = zone_named(zone) or timezone.get_current_timezone()
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return timezone.localtime(value, tz)


@register.filter
def when(value: Any, zone: Any = None) -> str:
    """``Dec 7, 9:05 AM EST``; ``Dec 7, 2025, 9:05 AM EST`` in another year; "" for no moment."""
    local = _local(value, zone)
    return moment_text(local, local.tzinfo) if local is not None else ""


@register.filter
def when_exact(value: Any, zone: Any = None) -> str:
    """``Dec 7, 2026, 9:05:12 AM EST``: with the year and the seconds, for audit trails."""
    local = _local(value, zone)
    return date_format(local, "M j, Y, g:i:s A T") if local is not None else ""


@register.filter
def when_iso(value: Any, zone: Any = None) -> str:
    """The moment as ISO 8601 with its offset in that zone, for ``<time datetime>``."""
    local = _local(value, zone)
    return local.isoformat(timespec="seconds") if local is not None else ""
