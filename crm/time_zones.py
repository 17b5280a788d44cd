"""Which time zone a staff member's pages show times in: their facility's.

A facility keeps its own ``time_zone``; a coordinator at a Pacific center reads Pacific times.
The zone is worked out once at sign-in and kept in the session (``remember_time_zone``), so
pages pay no query for it; ``FacilityTimeZoneMiddleware`` activates it on each request. A page
about one record shows that record's facility's zone instead (``{% timezone %}`` or the
``when`` filter's argument), and times carry the zone's abbreviation where zones can differ.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateformat import format as date_format

if TYPE_CHECKING:
    from django.http import HttpRequest

SESSION_KEY = "crm_time_zone"


def time_zone_for(user: Any) -> str:
    """The zone the user's facilities share; the site's zone when they have none or several."""
    if not user.is_authenticated:
        return str(settings.TIME_ZONE)
    zones = set(user.facilities.order_by().values_list("time_zone", flat=True).distinct()[:2])
    return zones.pop() if len(zones) == 1 else str(settings.TIME_ZONE)


def zone_named(name: Any) -> zoneinfo.ZoneInfo | None:
    """The zone called ``name`` (an IANA name, a facility, or a zone), or ``None`` for anything else."""
    if isinstance(name, zoneinfo.ZoneInfo):
        return name
    name = getattr(name, "time_zone", name)
    if not name or not isinstance(name, str):
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def facility_time_activate(facility: Any) -> None:
    """Read and show times in ``facility``'s zone for the rest of the request: a page about one
    inquiry speaks its facility's time (a call-back typed as 10:00 is 10:00 there), whatever zone
    the user's facilities share. ``FacilityTimeZoneMiddleware`` deactivates it when the request ends."""
    zone = zone_named(facility)
    if zone is not None:
        timezone.activate(zone)


def remember_time_zone(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: keep the user's zone in the new session."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = time_zone_for(user)


def moment_text(value: datetime, zone: Any = None) -> str:
    """A moment as staff read it, in ``zone`` (a facility, an IANA name; else the active zone)
    with the zone's abbreviation: "Dec 7, 9:05 AM EST", with the year when it is not this year.
    Also for text written once and read later (a timeline entry's body)."""
    tz = zone_named(zone) or timezone.get_current_timezone()
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    local = timezone.localtime(value, tz)
    this_year = timezone.localtime(timezone.now(), tz).year
    return date_format(local, "M j, g:i A T" if local.year == this_year else "M j, Y, g:i A T")


def zone_words(zone: Any, at: datetime | None = None) -> str:
    """A zone as people say it: "America/New_York" -> "New York (EST)" (its abbreviation at
    ``at``, by default now); the name as given when it is no zone."""
    tz = zone_named(zone)
    if tz is None:
        return str(zone or "")
    place = tz.key.rsplit("/", 1)[-1].replace("_", " ")
    return f"{place} ({timezone.localtime(at or timezone.now(), tz).tzname()})"
