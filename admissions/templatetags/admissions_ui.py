"""Small display helpers of the coordinator pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import phonenumbers
from django import template
from django.forms import BoundField, Field
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from admissions.pipeline import Stage
from crm.roles import has_role

register = template.Library()


@register.filter
def minutes_since(value: datetime | None, now: datetime | None = None) -> int:
    if value is None:
        return 0
    return int(((now or timezone.now()) - value).total_seconds() // 60)


@register.filter
def iso(value: datetime | None) -> str:
    """A moment as ISO 8601 with its offset, for ``<time datetime>`` and the live timers
    (the ``date:"c"`` filter, without its general formatting machinery)."""
    return value.isoformat(timespec="seconds") if value else ""


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


def _choices(field: Field) -> list[tuple[Any, str]]:
    # A model choice field read as one plain query: its own iterator opens a server-side cursor
    # per field (DECLARE, FETCH, CLOSE) on PostgreSQL.
    queryset = getattr(field, "queryset", None)
    if queryset is None:
        return list(field.choices)  # type: ignore[attr-defined]
    empty = [("", field.empty_label)] if field.empty_label is not None else []  # type: ignore[attr-defined]
    return empty + [(obj.pk, field.label_from_instance(obj)) for obj in queryset]  # type: ignore[attr-defined]


@register.filter
def plain_select(field: BoundField) -> SafeString:
    """A choice field as a ``<select>`` built in one pass, without the widget templates.

    The work queue shows five filter selects (about 80 options) on every refresh; Django's
    widget rendering spends a template include on each option. Same markup, same escaping.
    """
    selected = field.value()
    selected = {str(v) for v in selected} if isinstance(selected, list | tuple) else {str(selected or "")}
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (value, mark_safe(" selected") if str(value) in selected else "", label)  # noqa: S308
            for value, label in _choices(field.field)
        ),
    )
    invalid = mark_safe(' aria-invalid="true"') if field.errors else ""  # noqa: S308
    return format_html(
        '<select name="{}" id="{}"{}>{}</select>', field.html_name, field.id_for_label, invalid, options
    )


REQUIRED_MARK = mark_safe(' <span class="req" aria-hidden="true">*</span>')  # noqa: S308


@register.simple_tag
def field_row(field: BoundField) -> SafeString:
    """A form field with its label, help and errors, as the coordinator pages lay them out.

    Built in Python: the inquiry page shows about thirty fields, and a template include per
    field was a third of its time. The widget itself is Django's (``str(field)``).
    """
    checkbox = getattr(field.field.widget, "input_type", None) == "checkbox"
    classes = "field" + (" has-error" if field.errors else "") + (" check" if checkbox else "")
    if checkbox:
        body = format_html('{} <label for="{}">{}</label>', field, field.id_for_label, field.label)
    else:
        required = REQUIRED_MARK if field.field.required else ""
        label = format_html('<label for="{}">{}{}</label>', field.id_for_label, field.label, required)
        body = format_html("{}\n  {}", label, field)
    help_text = (
        format_html('<small class="help" id="{}_helptext">{}</small>', field.auto_id, field.help_text)
        if field.help_text
        else ""
    )
    # Django's widget points aria-describedby at "<id>_error" when the field has errors
    errors = (
        format_html(
            '<span class="field-error" role="alert" id="{}_error">{}</span>',
            field.auto_id,
            " ".join(str(error) for error in field.errors),
        )
        if field.errors
        else ""
    )
    return format_html('<div class="{}">\n  {}\n  {}\n  {}\n</div>', classes, body, help_text, errors)


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
