"""The pre-screen's questions, built in Python.

The pre-screen asks a hundred-odd questions: follow-ups under a yes, and a row of questions per
substance. A template include per question (and one more for its source line) was two thirds
of the page's time, so each question is one string built here, every text escaped, with the
markup the include had.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from django import template
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

if TYPE_CHECKING:
    from admissions.screening.forms import Field

register = template.Library()

# A number question's input: its step and the keyboard a phone shows for it.
NUMBER_INPUTS = {"int": ("1", "numeric"), "decimal": ("any", "decimal")}

FOLLOWUP_HINT = (
    "Ask only when the answer above is yes. Left unanswered after a yes, each counts as yes until "
    "a clinician decides."
)


@register.simple_tag
def screening_field(f: Field) -> SafeString:
    """One question of the pre-screen (with its follow-ups or substance rows)."""
    today = timezone.localtime().strftime("%Y-%m-%d")  # the latest a last use can be
    return mark_safe(_question(f, today))  # noqa: S308 - every text is escaped in _question


def _checked(on: bool, word: str = "checked") -> str:
    return f" {word}" if on else ""


def _errors(f: Field) -> str:
    return f'<p class="field-error" id="{escape(f.error_id)}">{_joined(f.errors)}</p>'


def _joined(errors: list[str]) -> str:
    return " ".join(escape(e) for e in errors)


def _label(f: Field) -> str:
    return escape(f.label) + (' <span class="q-safety">safety</span>' if f.safety else "")


def _source(f: Field) -> str:
    out = ""
    if f.source:
        out += (
            f'<p class="q-source" id="{escape(f.id)}-source">{escape(f.source)}: confirm with the caller</p>'
        )
    if f.hint:
        out += f'<p class="q-source" id="{escape(f.id)}-hint">{escape(f.hint)}</p>'
    return out


def _question(f: Field, today: str) -> str:
    if f.kind == "bool":
        return _bool(f, today)
    if f.kind == "multi":
        return _multi(f, today)
    return _single(f, today)


def _bool(f: Field, today: str) -> str:
    name, fid, described = escape(f.path), escape(f.id), escape(f.described_by)
    unknown = (
        f'<label class="q-unknown"><input type="radio" name="{name}" value="{escape(f.unknown)}"'
        f"{_checked(f.is_unknown)}> Refused / not known</label>"
        if f.unknown
        else ""
    )
    unanswered = f.value not in ("yes", "no") and not f.is_unknown
    followups = (
        f'<div class="q-followups">\n<p class="q-hint">{FOLLOWUP_HINT}</p>\n'
        + "".join(_question(sub, today) for sub in f.followups)
        + "\n</div>"
        if f.followups
        else ""
    )
    return (
        f'<div class="q-group{" q-controls" if f.followups else ""}">\n'
        f'<fieldset class="q q-bool{" q-prefilled" if f.source else ""}" id="{fid}" '
        f'aria-describedby="{described}">\n<legend>{_label(f)}</legend>\n{_source(f)}\n'
        '<div class="q-options">\n'
        f'<label><input type="radio" name="{name}" value="yes"{_checked(f.value == "yes")}> Yes</label>\n'
        f'<label><input type="radio" name="{name}" value="no"{_checked(f.value == "no")}> No</label>\n'
        f"{unknown}\n"
        f'<label class="q-unanswered"><input type="radio" name="{name}" value=""{_checked(unanswered)}>'
        " Not answered</label>\n</div>\n"
        f"{_errors(f)}\n</fieldset>\n{followups}\n</div>\n"
    )


def _multi(f: Field, today: str) -> str:
    name, fid = escape(f.path), escape(f.id)
    values = set(f.values)
    if f.rows:
        body = "".join(
            f'<div class="q-row" id="{escape(row.id)}">\n'
            f'<label class="q-check"><input type="checkbox" name="{name}" value="{escape(row.code)}" '
            f'id="{fid}-{escape(row.code)}"{_checked(row.code in values)}> {escape(row.name)}</label>\n'
            f'<fieldset class="q-row-detail" aria-describedby="{escape(row.error_id)}">\n'
            f"<legend>{escape(row.name)}: details</legend>\n"
            '<div class="q-row-grid">\n' + "".join(_question(sub, today) for sub in row.fields) + "\n</div>\n"
            f'<p class="field-error" id="{escape(row.error_id)}">{_joined(row.errors)}</p>\n'
            "</fieldset>\n</div>\n"
            for row in f.rows
        )
    else:
        body = (
            '<div class="q-options">\n'
            + "".join(
                f'<label><input type="checkbox" name="{name}" value="{escape(code)}"'
                f"{_checked(code in values)}> {escape(label)}</label>\n"
                for code, label in f.choices
            )
            + "</div>\n"
        )
    none = ""
    if f.none_of_these:
        none = (
            f'<label class="q-check q-none"><input type="checkbox" name="{name}" value="__none__"'
            f"{_checked('__none__' in values)}> None of these</label>\n"
        )
        if f.unknown:
            none += (
                f'<label class="q-check q-none"><input type="checkbox" name="{name}" '
                f'value="{escape(f.unknown)}"{_checked(f.is_unknown)}> Will not say / not known</label>\n'
            )
    return (
        f'<fieldset class="q q-multi{" q-grid" if f.rows else ""}{" q-prefilled" if f.source else ""}" '
        f'id="{fid}" aria-describedby="{escape(f.described_by)}">\n<legend>{_label(f)}</legend>\n'
        f'{_source(f)}\n<input type="hidden" name="{name}" value="">\n{body}{none}{_errors(f)}\n</fieldset>\n'
    )


def _bounds(f: Field) -> str:
    low = f' min="{escape(str(f.minimum))}"' if f.minimum is not None else ""
    high = f' max="{escape(str(f.maximum))}"' if f.maximum is not None else ""
    return low + high


def _single(f: Field, today: str) -> str:
    name, fid, described = escape(f.path), escape(f.id), escape(f.described_by)
    value = escape(f.value)
    known = "" if f.is_unknown else value
    lock = " disabled" if f.locked else ""  # the role may neither read nor write it: see its hint
    if f.kind == "choice":
        options = "".join(
            f'<option value="{escape(code)}"{_checked(f.value == code, "selected")}>{escape(label)}</option>'
            for code, label in f.choices
        )
        unknown = (
            f'<option value="{escape(f.unknown)}"{_checked(f.is_unknown, "selected")}>'
            "Refused / not known</option>"
            if f.unknown
            else ""
        )
        control = (
            f'<select name="{name}" id="{fid}" aria-describedby="{described}"{lock}>\n'
            f'<option value=""{_checked(not f.value, "selected")}>Not answered</option>\n'
            f"{options}\n{unknown}\n</select>"
        )
    elif f.kind in NUMBER_INPUTS:
        step, mode = NUMBER_INPUTS[f.kind]
        control = (
            f'<input type="number" name="{name}" id="{fid}" value="{known}" step="{step}" inputmode="{mode}"'
            f'{_bounds(f)} aria-describedby="{described}"{lock}>'
        )
    elif f.kind == "date":
        control = (
            f'<input type="date" name="{name}" id="{fid}" value="{value}" '
            f'aria-describedby="{described}"{lock}>'
        )
    elif f.kind == "payer":
        options = "".join(f'<option value="{escape(label)}"></option>' for _code, label in f.choices)
        control = (
            f'<input type="text" name="{name}" id="{fid}" value="{value}" list="{fid}-list" '
            f'autocomplete="off" aria-describedby="{fid}-how {described}"{lock}>\n'
            f'<datalist id="{fid}-list">{options}</datalist>\n'
            + render_to_string("screening/_payer_how.html", {"f": f})
        )
    elif f.kind == "datetime":
        control = (
            f'<input type="datetime-local" name="{name}" id="{fid}" value="{known}" max="{today}T23:59" '
            f'aria-describedby="{described}"{lock}>'
        )
    elif f.kind == "slugs":
        control = (
            f'<input type="text" name="{name}" id="{fid}" value="{value}" aria-describedby="{fid}-codes '
            f'{described}" autocomplete="off"{lock}>\n<p class="q-hint" id="{fid}-codes">Codes separated by '
            "commas, e.g. veterans, co-occurring.</p>"
        )
    elif f.max_length and f.max_length > 200:
        control = (
            f'<textarea name="{name}" id="{fid}" rows="2" maxlength="{int(f.max_length)}" '
            f'aria-describedby="{described}"{lock}>{value}</textarea>'
        )
    else:
        length = f' maxlength="{int(f.max_length)}"' if f.max_length else ""
        control = (
            f'<input type="text" name="{name}" id="{fid}" value="{value}"{length} '
            f'aria-describedby="{described}"{lock} autocomplete="off">'
        )
    unknown_box = (
        f'<label class="q-check q-unknown"><input type="checkbox" name="{name}" value="{escape(f.unknown)}"'
        f"{_checked(f.is_unknown)}{lock}> Refused / not known</label>"
        if f.unknown and f.kind != "choice"
        else ""
    )
    return (
        f'<div class="q q-{escape(f.kind)}{" q-prefilled" if f.source else ""}">\n'
        f'<label for="{fid}">{_label(f)}</label>\n{_source(f)}\n{control}\n{unknown_box}\n'
        f"{_errors(f)}\n</div>\n"
    )
