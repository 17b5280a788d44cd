"""The inquiry page's messaging panel: holds, the person's sending hours, deferrals, hand-overs."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from admissions.messaging.decision import deferral_limit, person_reach
from admissions.messaging.models import MessagingHold
from admissions.messaging.quiet_hours import next_allowed
from admissions.models import FollowUp
from crm.roles import Role, has_role
from crm.time_zones import zone_words

register = template.Library()

HANDED_OVER_SHOWN = 5


@register.simple_tag(takes_context=True)
def messaging_section(context: template.Context) -> dict[str, Any] | None:
    """What the panel shows, or ``None`` without an inquiry (three queries: holds, hand-overs, rules)."""
    inquiry = context.get("inquiry")
    request = context.get("request")
    if inquiry is None or request is None:
        return None
    user = request.user
    holds = list(
        MessagingHold.objects.filter(person_id=inquiry.person_id, released_at__isnull=True).order_by(
            "started_at"
        )
    )
    is_clinician = has_role(user, Role.CLINICAL_REVIEWER)
    may_release_unclear = has_role(user, Role.CLINICAL_REVIEWER, Role.COORDINATOR, Role.MANAGER)
    limit = deferral_limit()
    pending = [
        {
            "followup": f,
            "deferred": f.deferrals > 0,
            "hands_over_at": (f.deferred_from or f.due_at) + limit
            if f.channel != FollowUp.Channel.TASK
            else None,
        }
        for f in context.get("pending") or []
    ]
    handed_over = list(
        FollowUp.objects.filter(
            inquiry=inquiry, state=FollowUp.State.CANCELLED, outcome__startswith="handed to a coordinator"
        ).order_by("-finished_at")[:HANDED_OVER_SHOWN]
    )
    reach = person_reach(
        person=inquiry.person,
        phone=str(inquiry.person.phone or inquiry.phone or ""),
        fallback_zone=inquiry.facility.time_zone,
    )
    return {
        "holds": [
            (h, is_clinician if h.reason == MessagingHold.Reason.CRISIS else may_release_unclear)
            for h in holds
        ],
        "pending": pending,
        "handed_over": handed_over,
        "reach": reach,
        "no_common_minute": next_allowed(timezone.now(), reach=reach) is None,
        "zones": ", ".join(zone_words(z) for z in reach.zones[:4])
        + (f" and {len(reach.zones) - 4} more" if len(reach.zones) > 4 else ""),
        "limit_hours": int(limit.total_seconds() // 3600),
    }
