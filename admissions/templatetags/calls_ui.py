"""Template helpers for calls received from call-tracking services (``admissions/calls``)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def call_duration(seconds: object) -> str:
    """A call's length as a coordinator reads it: "45 s", "3 min 04 s", "1 h 02 min"."""
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"
