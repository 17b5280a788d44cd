"""Field-level masking in templates: ``{% load masking %}``, after the one definition in ``crm.masking``.

Every page has ``sees`` (``crm.context_processors.masking``): the categories its user may see.
A template passes the category of a value and gets the value or the fixed mask::

    {{ policy.member_id|mask:sees.insurance_ids }}
    {{ event|event_body:sees.clinical|linebreaksbr }}
"""

from __future__ import annotations

from typing import Any

from django import template

from crm.masking import MASK, event_category, masked

register = template.Library()

__all__ = ["MASK", "event_body", "mask"]


@register.filter
def mask(value: Any, allowed: Any) -> Any:
    """The value when ``allowed`` is true; otherwise the mask (an empty value stays empty)."""
    return masked(value, allowed)


@register.filter
def event_body(event: Any, allowed: Any) -> Any:
    """A timeline entry's text, masked when it carries clinical or caller-supplied text."""
    body = getattr(event, "body", "")
    if event_category(getattr(event, "kind", "")) is not None:
        return masked(body, allowed)
    return body
