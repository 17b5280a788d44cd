"""Small display helpers of the coordinator pages."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from html import escape as escape_text
from typing import Any

import phonenumbers
from django import forms, template
from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.forms import BoundField
from django.template import Context
from django.urls import get_script_prefix, reverse
from django.utils import timezone, translation
from django.utils.dateformat import time_format
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import get_text_list

from admissions.models import CallTrackingSource, FollowUp, InquiryEvent, InsurancePolicy
from admissions.next_step import NextStep, next_step
from admissions.pipeline import Stage
from admissions.screening.rules import FLAG_LABELS
from crm import phones
from crm.masking import sees_for
from crm.models import AuditEvent
from crm.roles import Role, has_role
from crm.scoping import facility_ids_for
from programs.models import Program, Setting

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

    def options(choices: Iterable[tuple[Any, Any]]) -> SafeString:
        return format_html_join(
            "",
            "{}",
            (
                (
                    format_html('<optgroup label="{}">{}</optgroup>', value, options(label))
                    if isinstance(label, list | tuple)  # a group: (its name, its choices)
                    else format_html(
                        '<option value="{}"{}>{}</option>',
                        value,
                        mark_safe(" selected") if str(value) in selected else "",  # noqa: S308
                        label,
                    ),
                )
                for value, label in choices
            ),
        )

    return format_html(
        '<select name="{}"{}>{}</select>',
        field.html_name,
        _attributes(attrs),
        options(field.field.choices),  # type: ignore[attr-defined]
    )


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


RED_FLAG = ' <span class="flag">Red flag</span>'
UNASSIGNED = '<span class="muted">Unassigned</span>'
OVERDUE = ' class="overdue"'
TIMER_TITLE = "Time since the inquiry arrived, with no contact attempt"

# Queue rows are built in Python, as f-strings with every text escaped, for the same reason as
# field rows: fifty rows of a dozen template variables (then of ``format_html`` calls, which
# escape every argument, numbers included) were a third of the work queue's time.


@register.filter
def settles_cross_facility_duplicates(user: Any) -> bool:
    """Whether the user may settle possible duplicates across facilities: more than one facility."""
    if not user.is_authenticated or not user.has_perm("admissions.change_inquiry"):
        return False
    ids = facility_ids_for(user)
    return ids is None or len(ids) > 1


_PK_SENTINEL = 987654321


@lru_cache(maxsize=16)
def _inquiry_path_parts(script_prefix: str) -> tuple[str, str]:
    path = reverse("admissions:inquiry", args=[_PK_SENTINEL])
    head, _, tail = path.partition(str(_PK_SENTINEL))
    return head, tail


def inquiry_path(pk: int) -> str:
    """The inquiry page's path, as ``reverse`` gives it, with the URL resolved once per script
    prefix rather than once per row."""
    head, tail = _inquiry_path_parts(get_script_prefix())
    return f"{head}{int(pk)}{tail}"


def _person_name(context: Context, inquiry: Any) -> str:
    """The person's name in a row (escaped), or their number for a role that may not see names
    (crm.masking)."""
    if sees_for(context["request"].user).name:
        return escape_text(f"{inquiry.person.first_name} {inquiry.person.last_name}")
    return f"Person #{int(inquiry.person_id)}"


def _stage_cell(stage: str) -> str:
    return f'<span class="stage stage-{escape_text(stage)}">{escape_text(str(Stage(stage).label))}</span>'


def _step_cell(step: NextStep | None) -> str:
    """A queue row's next step: what, and who acts when it is not the coordinator."""
    if step is None:
        return '<span class="muted">—</span>'
    cell = f'<span class="step step-{escape_text(step.code)}">{escape_text(str(step.label))}</span>'
    if Role.COORDINATOR in step.roles:
        return cell
    return f'{cell} <span class="muted">· {escape_text(str(step.who))}</span>'


@register.simple_tag(takes_context=True)
def inquiry_row(context: Context, inquiry: Any) -> SafeString:
    """One row of a queue tab or of search results (``admissions/_queue_results.html``)."""
    now, target = context["now"], int(context["target_minutes"])
    link = inquiry_path(inquiry.pk)
    if inquiry.stage == Stage.NEW and not inquiry.first_attempt_at:
        waited = minutes_since(inquiry.created_at, now)
        since = iso(inquiry.created_at)
        waiting = (
            f'<time class="timer{" late" if waited >= target else ""}" datetime="{since}" '
            f'data-since="{since}" data-target="{target}" title="{TIMER_TITLE}">{duration(waited)}</time>'
        )
    else:
        waiting = (
            f'<span class="muted">{duration(minutes_since(inquiry.stage_changed_at, now))} in stage</span>'
        )
    owner = inquiry.assigned_to
    source = (inquiry.lead_source.name if inquiry.lead_source else "") or "—"
    step = next_step(inquiry, today=timezone.localdate(now))
    return mark_safe(  # noqa: S308 - every text is escaped; the rest are numbers and our own markup
        f'<tr>\n      <td><a href="{link}">{int(inquiry.pk)}</a></td>\n'
        f'      <td><a href="{link}">{_person_name(context, inquiry)}</a>'
        f"{RED_FLAG if inquiry.has_red_flag else ''}</td>\n"
        f"      <td>{_stage_cell(inquiry.stage)}</td>\n      <td>{_step_cell(step)}</td>\n"
        f"      <td>{waiting}</td>\n      <td>{escape_text(inquiry.facility.name)}</td>\n"
        f"      <td>{escape_text(source)}</td>\n"
        f"      <td>{escape_text(owner.get_full_name() or owner.username) if owner else UNASSIGNED}</td>\n"
        "    </tr>"
    )


@register.simple_tag(takes_context=True)
def followup_row(context: Context, followup: Any) -> SafeString:
    """One row of the due follow-ups tab."""
    now = context["now"]
    inquiry = followup.inquiry
    link = inquiry_path(followup.inquiry_id)
    overdue = followup.due_at < now
    when = (
        f"overdue {duration(minutes_since(followup.due_at, now))}"
        if overdue
        else time_format(timezone.localtime(followup.due_at), "g:i A T")
    )
    what = followup.outcome if followup.kind == FollowUp.Kind.HANDOFF else followup_kind_label(followup.kind)
    return mark_safe(  # noqa: S308 - every text is escaped; the rest are numbers and our own markup
        f"<tr{OVERDUE if overdue else ''}>\n"
        f'      <td><a href="{link}">{int(followup.inquiry_id)}</a></td>\n'
        f'      <td><a href="{link}">{_person_name(context, inquiry)}</a>'
        f"{RED_FLAG if inquiry.has_red_flag else ''}</td>\n"
        f"      <td>{escape_text(str(what))}</td>\n"
        f'      <td><time datetime="{iso(followup.due_at)}">{escape_text(when)}</time></td>\n'
        f"      <td>{_stage_cell(inquiry.stage)}</td>\n      <td>{escape_text(inquiry.facility.name)}</td>\n"
        "    </tr>"
    )


def _board_hold(hold: Any, holder: tuple[int, str] | None, weekdays: tuple[str, ...]) -> str:
    if holder is None:
        who = '<span class="muted">Not at your facilities</span>'
    else:
        pk, name = holder
        who = f'<a href="{inquiry_path(pk)}">{escape_text(name)}</a>'
    offer = ' <span class="badge">offer</span>' if ":offer:" in hold.reference else ""
    until = timezone.localtime(hold.held_until)
    # as the date filter's "c" and "D j, H:i" write it, without its general formatting machinery
    # (a quarter of the board's time at six hundred holds)
    shown = f"{weekdays[until.weekday()]} {until.day}, {until:%H:%M}"
    return (
        f'<li>{who}{offer} <span class="muted">until <time datetime="{until.isoformat()}">'
        f"{escape_text(shown)}</time></span></li>"
    )


@lru_cache(maxsize=16)
def _weekdays_in(language: str | None) -> tuple[str, ...]:
    with translation.override(language):
        return tuple(str(WEEKDAYS_ABBR[day]) for day in range(7))


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


@register.simple_tag(takes_context=True)
def board_row(context: Context, row: Any, holds: list[tuple[Any, Any]], waiting: int) -> SafeString:
    """One program of the capacity board (``admissions/_board.html``). The board shows hundreds of
    programs with a week each, so the row is one string built here, every text escaped, rather
    than thousands of template nodes."""
    program = row.program
    gender = "" if program.gender == "any" else f" · {escape_text(_GENDERS[program.gender])}"
    waits = (
        f' <a class="waiting" href="{context["waitlist_url"]}">{int(waiting)} waiting</a>' if waiting else ""
    )
    held = ""
    if holds:
        weekdays = _weekdays_in(translation.get_language())  # "Mon" ... "Sun", as the date filter's "D"
        held = '<ul class="plain holds">' + "".join(_board_hold(h, i, weekdays) for h, i in holds) + "</ul>"
    undated = (
        f' <span class="muted">({int(row.undated_discharges)} undated)</span>'
        if row.undated_discharges
        else ""
    )
    days = "".join(
        f'<td class="day{" full" if d.free == 0 else ""}" title="{int(d.discharges)} expected '
        f'discharge{_plural(d.discharges)} that day">{int(d.free)}</td>'
        for d in row.outlook
    )
    name, facility = escape_text(program.name), escape_text(program.facility.name)
    level = f"{escape_text(program.level_of_care.code)} {escape_text(_SETTINGS[program.setting])}"
    capacity = f"{int(row.capacity)} {row.unit}{_plural(row.capacity)}"
    full = " full" if row.free_now == 0 else ""
    return mark_safe(  # noqa: S308 - every text above is escaped; the rest are numbers and our own URLs
        f'<tr id="program-{int(program.pk)}" data-free="{int(row.free_now)}"><th scope="row">'
        f'<strong>{name}</strong> <span class="muted">· {facility} · {level}{gender}</span>{waits}</th>'
        f"<td>{capacity}</td><td>{int(row.occupied)}</td><td>{int(row.held)} {held}</td>"
        f"<td>{int(row.expected_discharges)}{undated}</td>"
        f'<td class="free{full}"><strong>{int(row.free_now)}</strong></td>{days}</tr>'
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
        return humanise(value)


# --- codes in words -------------------------------------------------------------------------
# One label source per family of codes: the model's choices, the screening rules' flag labels,
# the fields' verbose names. A code none of them knows (an old row, a new kind) reads as
# words made of the code, never as the code itself and never as an error.

_ACRONYMS = {"id": "ID", "vob": "VOB", "sms": "SMS", "ip": "IP", "dob": "DOB", "npi": "NPI"}
_WORD = re.compile(r"[A-Za-z]+")


def _acronyms(text: str) -> str:
    return _WORD.sub(lambda m: _ACRONYMS.get(m.group(0).lower(), m.group(0)), text)


@register.filter
def humanise(code: Any) -> str:
    """A code no label source knows, as words: ``sedative_withdrawal`` -> "Sedative withdrawal"."""
    words = " ".join(str(code if code is not None else "").replace("_", " ").replace("-", " ").split())
    return _acronyms(words[:1].upper() + words[1:])


def _label(labels: Mapping[str, Any], code: Any) -> str:
    code = getattr(code, "value", code)
    label = labels.get(code) if isinstance(code, str) else None
    return str(label) if label else humanise(code)


def _choices(choices: Iterable[tuple[Any, Any]]) -> dict[str, str]:
    return {str(value): str(label) for value, label in choices}


_EVENT_KINDS = _choices(InquiryEvent.Kind.choices)
_FOLLOWUP_KINDS = _choices(FollowUp.Kind.choices)
_CHANNELS = _choices(FollowUp.Channel.choices)
_VOB_STATUSES = _choices(InsurancePolicy.VobStatus.choices)
_AUDIT_ACTIONS = _choices(AuditEvent.Action.choices)
# the board's rows (Django's get_FOO_display() flattens the choices on every call: hundreds a board)
_SETTINGS = _choices(Setting.choices)
_GENDERS = _choices(Program.Gender.choices)
_CALL_PROVIDERS = _choices(CallTrackingSource.Provider.choices)


@register.filter
def flag_label(flag: Any) -> str:
    """A safety flag (its code, or the flag as the screening result stores it) as staff read it."""
    code = flag.get("code") if isinstance(flag, Mapping) else flag
    return _label(FLAG_LABELS, code)


@register.filter
def flag_labels(flags: Any) -> str:
    """Several flags: "Sedative withdrawal risk, Suicide risk"."""
    return ", ".join(flag_label(flag) for flag in flags or ())


@register.filter
def event_kind_label(code: Any) -> str:
    return _label(_EVENT_KINDS, code)


@register.filter
def followup_kind_label(code: Any) -> str:
    return _label(_FOLLOWUP_KINDS, code)


@register.filter
def channel_label(code: Any) -> str:
    """A message channel: "Text message", "Email"."""
    return _label(_CHANNELS, code)


@register.filter
def call_provider_label(code: Any) -> str:
    """A call-tracking service: "CallRail"."""
    return _label(_CALL_PROVIDERS, code)


@register.filter
def vob_status_label(code: Any) -> str:
    return _label(_VOB_STATUSES, code)


@register.filter
def audit_action_label(code: Any) -> str:
    return _label(_AUDIT_ACTIONS, code)


@lru_cache(maxsize=512)
def _field_label(model_label: str, name: str) -> str:
    """A field's ``verbose_name`` (following ``person.first_name`` across relations), lower case."""
    try:
        model = apps.get_model(model_label)
    except (LookupError, ValueError):
        model = None
    words: list[str] = []
    for part in name.split("."):
        field = None
        if model is not None:
            try:
                field = model._meta.get_field(part)
            except FieldDoesNotExist:
                field = None
        if field is not None and not field.concrete:  # a reverse relation: the other model's name
            label = getattr(field.related_model._meta, "verbose_name_plural", "")  # type: ignore[union-attr]
        else:
            label = getattr(field, "verbose_name", "")
        words.append(str(label or humanise(part)))
        model = getattr(field, "related_model", None) if field is not None else None
    text = " ".join(words)
    return _acronyms(text[:1].lower() + text[1:] if text[1:2].islower() else text)


@register.filter
def field_label(name: Any, model_label: str = "") -> str:
    """One field's name as words, for the middle of a sentence: ``member_id`` -> "member ID"."""
    return _field_label(str(model_label or ""), str(name))


@register.filter
def field_labels(names: Any, model_label: str = "") -> str:
    """Field names as an English list: "authorization required and member ID"."""
    if isinstance(names, str):
        names = [names]
    return str(get_text_list([field_label(name, model_label) for name in names or ()], "and"))


@register.filter
def model_label(object_type: Any) -> str:
    """An ``app.model`` label as the model's name: ``admissions.insurancepolicy`` -> "Insurance policy"."""
    try:
        name = str(apps.get_model(str(object_type))._meta.verbose_name)
    except (LookupError, ValueError):
        name = str(object_type).rpartition(".")[2]
    return humanise(name)


@register.filter
def audit_fields(row: Any) -> str:
    """An audit row's field names as words; a list row's page (``list:queue:new``) first."""
    names = list(row.fields or ())
    page = ""
    if names and str(names[0]).startswith("list:"):
        page = humanise(str(names.pop(0)).removeprefix("list:").replace(":", " "))
    shown = ", ".join(field_label(name, row.object_type) for name in names)
    return f"{page}: {shown}" if page and shown else page or shown


@register.filter
def insurance_summary(data: Any) -> str:
    """An "insurance" timeline entry as a sentence: "Verification of benefits: viable. Changed
    authorization required and member ID." Field names only: the timeline never repeats values."""
    data = data if isinstance(data, Mapping) else {}
    changed = [str(name) for name in data.get("fields") or ()]
    fields = [name for name in changed if name != "vob_status"]
    status = data.get("vob_status")
    sentences = []
    if status and ("vob_status" in changed or not fields):
        sentences.append(f"Verification of benefits: {vob_status_label(status).lower()}.")
    if fields:
        source = f" from the {data['from']}" if data.get("from") else ""
        sentences.append(f"Changed {field_labels(fields, 'admissions.insurancepolicy')}{source}.")
    return " ".join(sentences)


@register.filter
def event_heading(event: Any) -> str:
    """A timeline entry's heading: "Inbound call · Connected", "Email sent · Acknowledge a new inquiry"."""
    data = event.data if isinstance(event.data, Mapping) else {}
    if event.kind == InquiryEvent.Kind.CALL:
        outcome = event.get_call_outcome_display() if event.call_outcome else ""
        direction = event.get_call_direction_display() if event.call_direction else ""
        heading = " · ".join(part for part in (f"{direction} call".strip().capitalize(), outcome) if part)
    elif event.kind == InquiryEvent.Kind.MESSAGE:
        verb = "received" if data.get("direction") == "inbound" else "sent"
        heading = f"{channel_label(data.get('channel') or 'message')} {verb}"
    else:
        heading = event_kind_label(event.kind)
    if data.get("kind"):
        heading += f" · {followup_kind_label(data['kind'])}"
    return heading


_RED_FLAG_REASON = re.compile(r"^Red flag: (?P<codes>[a-z0-9_]+(?:, [a-z0-9_]+)*)$")


@register.filter
def stage_reason(reason: Any) -> str:
    """A stage change's reason; the pre-screen's "Red flag: sedative_withdrawal" names the flags."""
    text = str(reason or "")
    found = _RED_FLAG_REASON.match(text)
    if found is None:
        return text
    return "Red flag: " + ", ".join(flag_label(code) for code in found["codes"].split(", "))
