"""Small display helpers of the coordinator pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import phonenumbers
from django import forms, template
from django.forms import BoundField
from django.template import Context
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import time_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from admissions.pipeline import Stage
from crm import phones
from crm.masking import sees_for
from crm.roles import has_role
from crm.scoping import facility_ids_for

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
        number = phones.phone_parse(str(value))
    except ValueError:
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
def plain_select(field: BoundField) -> SafeString:
    """A single-choice field as the ``<select>`` Django's widget would render, built in one pass.

    Django's widget rendering spends a template include on every option: the work queue shows
    five filter selects (about 80 options) on every refresh and the inquiry page a dozen. Same
    attributes (``required``, ``aria-invalid``, ``aria-describedby``, ``id``), same escaping.
    Model fields list their options through ``crm.formfields.ListedChoiceIterator``.
    """
    widget = field.field.widget
    attrs = field.build_widget_attrs({}, widget)  # as BoundField.as_widget, then Widget.build_attrs
    if field.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", field.auto_id)
    attrs = {**widget.attrs, **attrs}
    selected = set(widget.format_value(field.value()))  # type: ignore[attr-defined]
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (value, mark_safe(" selected") if str(value) in selected else "", label)  # noqa: S308
            for value, label in field.field.choices  # type: ignore[attr-defined]
        ),
    )
    return format_html('<select name="{}"{}>{}</select>', field.html_name, _attributes(attrs), options)


def _attributes(attrs: dict[str, Any]) -> SafeString:
    """Widget attributes in their order, as Django's ``attrs.html`` writes them (``flatatt`` sorts)."""
    return format_html_join(
        "",
        " {}{}",
        (
            (name, "" if value is True else format_html('="{}"', value))
            for name, value in attrs.items()
            if value is not False
        ),
    )


RED_FLAG = mark_safe(' <span class="flag">Red flag</span>')  # noqa: S308
UNASSIGNED = mark_safe('<span class="muted">Unassigned</span>')  # noqa: S308
TIMER_TITLE = "Time since the inquiry arrived, with no contact attempt"

# Queue rows are built in Python for the same reason as field rows: fifty rows of a dozen
# template variables each were a quarter of the work queue's time.


@register.filter
def settles_cross_facility_duplicates(user: Any) -> bool:
    """Whether the user may settle possible duplicates across facilities: more than one facility."""
    if not user.is_authenticated or not user.has_perm("admissions.change_inquiry"):
        return False
    ids = facility_ids_for(user)
    return ids is None or len(ids) > 1


def _person_name(context: Context, inquiry: Any) -> str:
    """The person's name in a row, or their number for a role that may not see names (crm.masking)."""
    if sees_for(context["request"].user).name:
        return f"{inquiry.person.first_name} {inquiry.person.last_name}"
    return f"Person #{inquiry.person_id}"


@register.simple_tag(takes_context=True)
def inquiry_row(context: Context, inquiry: Any) -> SafeString:
    """One row of a queue tab or of search results (``admissions/_queue_results.html``)."""
    now, target = context["now"], context["target_minutes"]
    link = reverse("admissions:inquiry", args=[inquiry.pk])
    if inquiry.stage == Stage.NEW and not inquiry.first_attempt_at:
        waited = minutes_since(inquiry.created_at, now)
        since = iso(inquiry.created_at)
        waiting = format_html(
            '<time class="timer{}" datetime="{}" data-since="{}" data-target="{}" title="{}">{}</time>',
            " late" if waited >= target else "",
            since,
            since,
            target,
            TIMER_TITLE,
            duration(waited),
        )
    else:
        in_stage = duration(minutes_since(inquiry.stage_changed_at, now))
        waiting = format_html('<span class="muted">{} in stage</span>', in_stage)
    owner = inquiry.assigned_to
    return format_html(
        '<tr>\n      <td><a href="{}">{}</a></td>\n      <td><a href="{}">{}</a>{}</td>\n'
        '      <td><span class="stage stage-{}">{}</span></td>\n      <td>{}</td>\n      <td>{}</td>\n'
        "      <td>{}</td>\n      <td>{}</td>\n    </tr>",
        link,
        inquiry.pk,
        link,
        _person_name(context, inquiry),
        RED_FLAG if inquiry.has_red_flag else "",
        inquiry.stage,
        inquiry.get_stage_display(),
        waiting,
        inquiry.facility.name,
        (inquiry.lead_source.name if inquiry.lead_source else "") or "—",
        (owner.get_full_name() or owner.username) if owner else UNASSIGNED,
    )


@register.simple_tag(takes_context=True)
def followup_row(context: Context, followup: Any) -> SafeString:
    """One row of the due follow-ups tab."""
    now = context["now"]
    inquiry = followup.inquiry
    link = reverse("admissions:inquiry", args=[followup.inquiry_id])
    overdue = followup.due_at < now
    when = (
        f"overdue {duration(minutes_since(followup.due_at, now))}"
        if overdue
        else time_format(timezone.localtime(followup.due_at), "g:i A")
    )
    return format_html(
        '<tr{}>\n      <td><a href="{}">{}</a></td>\n      <td><a href="{}">{}</a>{}</td>\n'
        '      <td>{}</td>\n      <td><time datetime="{}">{}</time></td>\n'
        '      <td><span class="stage stage-{}">{}</span></td>\n      <td>{}</td>\n    </tr>',
        mark_safe(' class="overdue"') if overdue else "",  # noqa: S308
        link,
        followup.inquiry_id,
        link,
        _person_name(context, inquiry),
        RED_FLAG if inquiry.has_red_flag else "",
        followup.get_kind_display(),
        iso(followup.due_at),
        when,
        inquiry.stage,
        inquiry.get_stage_display(),
        inquiry.facility.name,
    )


REQUIRED_MARK = mark_safe(' <span class="req" aria-hidden="true">*</span>')  # noqa: S308


@register.simple_tag
def field_row(field: BoundField) -> SafeString:
    """A form field with its label, help and errors, as the coordinator pages lay them out.

    Built in Python: the inquiry page shows about thirty fields, and a template include per
    field was a third of its time. The widget itself is Django's (``str(field)``).
    """
    widget = field.field.widget
    checkbox = getattr(widget, "input_type", None) == "checkbox"
    control = plain_select(field) if type(widget) is forms.Select else field
    classes = "field" + (" has-error" if field.errors else "") + (" check" if checkbox else "")
    if checkbox:
        body = format_html('{} <label for="{}">{}</label>', control, field.id_for_label, field.label)
    else:
        required = REQUIRED_MARK if field.field.required else ""
        label = format_html('<label for="{}">{}{}</label>', field.id_for_label, field.label, required)
        body = format_html("{}\n  {}", label, control)
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
