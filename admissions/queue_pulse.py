"""The work queue's live refresh: a cheap poll that says when the queue has something new.

The queue page polls ``queue_pulse`` every second with the marker it was last given (the first
poll, as the page loads, with the time the page was drawn, so an arrival in between counts). The
marker names the newest inquiry and the newest inbound touch or call (a lead or a call joining
an open inquiry) at the user's facilities; while it is unchanged the answer is an empty 204.
When it moves, the answer carries the new marker and an ``HX-Trigger: queue-changed`` header,
on which the queue's results refresh themselves (``_queue_results.html``) and mark the rows that
were not there before (``crm/static/crm/app.js``). A poll reads two index-served aggregates and
no person data, so it writes no audit row; the refresh it triggers is audited as the queue is.
Server-sent events would hold a gunicorn sync worker per open queue; a poll holds none.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from admissions.models import InquiryEvent
from admissions.selectors import inquiries_visible_to
from crm.models import User
from crm.scoping import scope_to_user

# Touches and calls older than this never move the marker: the aggregate stays on a day of the
# event kind index, however long the timeline table grows.
RECENT = timedelta(days=1)


def queue_marker(user: User) -> tuple[str, datetime | None]:
    """A marker that changes whenever an inquiry arrives, or a lead or call joins one, at the
    user's facilities; and when the latest of those happened."""
    newest = inquiries_visible_to(user).aggregate(id=Max("pk"), at=Max("created_at"))
    arrivals = InquiryEvent.objects.filter(
        kind__in=[InquiryEvent.Kind.TOUCH, InquiryEvent.Kind.CALL], at__gte=timezone.now() - RECENT
    )
    joined = scope_to_user(arrivals, user, facility_field="inquiry__facility").aggregate(
        id=Max("pk"), at=Max("at")
    )
    latest = max((at for at in (newest["at"], joined["at"]) if at is not None), default=None)
    return f"{newest['id'] or 0}.{joined['id'] or 0}", latest


def _changed(since: str, *, marker: str, latest: datetime | None) -> bool:
    """``since`` is the marker of the last poll, or ``t<unix seconds>`` when the page was rendered
    (the first poll: anything that arrived after the page was drawn refreshes it)."""
    if since.startswith("t"):
        try:
            rendered = float(since[1:])
        except ValueError:
            return False
        return latest is not None and latest.timestamp() > rendered
    return bool(since) and since != marker


@login_required
@permission_required("admissions.view_inquiry", raise_exception=True)
@require_GET
def queue_pulse(request: HttpRequest) -> HttpResponse:
    """204 while nothing arrived since ``since``; otherwise the new marker, and a trigger to
    refresh the queue when something arrived since the page or the last poll."""
    marker, latest = queue_marker(request.user)  # type: ignore[arg-type]
    since = request.GET.get("since", "")[:40]
    if since == marker:
        return HttpResponse(status=204)
    response = render(request, "admissions/_queue_pulse.html", {"marker": marker})
    if _changed(since, marker=marker, latest=latest):
        response["HX-Trigger"] = "queue-changed"
    return response
