"""Small display helpers of the coordinator pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import phonenumbers
from django import template
from django.utils import timezone

from admissions.pipeline import Stage
from crm.roles import has_role

register = template.Library()


@register.filter
def minutes_since(value: datetime | None, now: datetime | None = None) -> int:
    if value is None:
        return 0
    return int(((now or timezone.now()) - value).total_seconds() // 60)


@register.filter
def phone_display(value: Any) -> str:
    """A stored E.164 number as people read it: (727) 555-0123 for US numbers."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(str(value), "US")
    except phonenumbers.NumberParseException:
        return str(value)
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 1
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)


@register.filter
def duration(minutes: int) -> str:
    """Whole minutes as "45 min", "3 h 05 min" or "2 d 4 h"."""
    minutes = max(0, int(minutes))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // (24 * 60)} d {minutes % (24 * 60) // 60} h"


@register.filter
def sees_review_queue(user: Any) -> bool:
    from admissions.screening.views import REVIEW_QUEUE_ROLES  # noqa: PLC0415 - views import this library

    return bool(user.is_authenticated and has_role(user, *REVIEW_QUEUE_ROLES))


@register.filter
def stage_label(value: str) -> str:
    """A stage code as coordinators read it."""
    try:
        return str(Stage(value).label)
    except ValueError:
        return value
