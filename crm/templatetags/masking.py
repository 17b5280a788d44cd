"""Field-level masking in templates: ``{% load masking %}``.

The permission to see a category of values comes from ``crm.roles`` (for example
``admissions.view_clinical_answers``, ``admissions.view_insurance_ids``); a template passes
the user's answer, read from ``perms``, and gets either the value or a fixed mask that
reveals neither the value nor its length::

    {{ policy.member_id|mask:perms.admissions.view_insurance_ids }}
    {{ event|event_body:perms.admissions.view_clinical_answers|linebreaksbr }}
"""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

MASK = "•••••• (hidden for your role)"

# Timeline entries whose text is the caller's own words or a clinical judgement.
CLINICAL_EVENT_KINDS = frozenset(
    {"created", "touch", "screening", "red_flag", "refer_out_proposed", "screening_signoff", "match_override"}
)


@register.filter
def mask(value: Any, allowed: Any) -> Any:
    """The value when ``allowed`` is true; otherwise the mask (an empty value stays empty)."""
    if allowed or value in (None, ""):
        return value
    return MASK


@register.filter
def event_body(event: Any, allowed: Any) -> Any:
    """A timeline entry's text, masked when it carries clinical or caller-supplied text."""
    body = getattr(event, "body", "")
    if getattr(event, "kind", "") in CLINICAL_EVENT_KINDS:
        return mask(body, allowed)
    return body
