"""Pre-screen page forms: the item catalogue as HTML fields, posted fields back to answers.

The pre-screen is rendered straight from the versioned item catalogue (``definition.py``),
so a new form version needs no template change. Each input is named by the dotted path of
its answer (``medical.pregnant``, ``substances.baclofen.days_used_30``), which is also the
key ``AnswersInvalid.errors`` uses, so an error lands next to its field.

Parsing here is only about HTML: strings become booleans, numbers and lists where they can;
anything that does not convert is passed on as posted, so the catalogue's own checks
(``FormDefinition.clean``) give the one wording of every validation error.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone

from admissions.screening.definition import DIMENSIONS, FormDefinition, answer_datetime
from admissions.screening.services import MIN_OVERRIDE_REASON
from crm.formfields import ModelChoiceField
from programs.models import LevelOfCare, Payer, Program

# Posted by a safety multi-choice item's "none of these" box: the answer is an empty list.
NONE_OF_THESE = "__none__"
YES, NO = "yes", "no"
_WHOLE_NUMBER = re.compile(r"^[+-]?\d+$")
_SLUG_SPLIT = re.compile(r"[\s,;]+")

Values = Mapping[str, str | list[str]]


@dataclass
class Field:
    """One question of the pre-screen, ready for ``screening/_field.html``."""

    path: str
    label: str
    kind: str
    safety: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    value: str = ""
    values: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    minimum: Any = None
    maximum: Any = None
    max_length: int | None = None
    # The value of a "refused / not known" answer, when this safety item offers one.
    unknown: str = ""
    # Items asked only when this one is answered "yes" (``ask_if`` in the catalogue).
    followups: list[Field] = field(default_factory=list)
    # Substance rows of a grid section whose rows come from this multi-choice item.
    rows: list[GridRow] = field(default_factory=list)
    # Where a proposed value came from ("From intake"): shown beside it until the screen is saved.
    source: str = ""
    # What intake recorded about a question a pre-fill must not answer (a safety item).
    hint: str = ""
    # The user's role may neither read nor write this item (``crm.masking.answers_withheld``).
    locked: bool = False

    @property
    def id(self) -> str:
        return "q-" + self.path.replace(".", "-")

    @property
    def described_by(self) -> str:
        """Ids of the texts that describe the input: its source or hint, then its error slot."""
        ids = [self.id + "-source"] if self.source else []
        if self.hint:
            ids.append(self.id + "-hint")
        return " ".join([*ids, self.error_id])

    @property
    def error_id(self) -> str:
        return "err-" + self.path.replace(".", "-")

    @property
    def none_of_these(self) -> bool:
        """A safety list offers an explicit "none of these" (an empty list is an answer)."""
        return self.kind == "multi" and self.safety

    @property
    def answered(self) -> bool:
        return bool(self.value or self.values)

    @property
    def is_unknown(self) -> bool:
        return bool(self.unknown) and (self.value == self.unknown or self.unknown in self.values)


@dataclass
class GridRow:
    path: str
    code: str
    name: str
    checked: bool
    fields: list[Field]
    errors: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return "row-" + self.path.replace(".", "-")

    @property
    def error_id(self) -> str:
        return "err-" + self.path.replace(".", "-")


@dataclass
class Section:
    code: str
    title: str
    dimension: int | None
    fields: list[Field]
    errors: list[str] = field(default_factory=list)

    @property
    def dimension_name(self) -> str:
        return DIMENSIONS.get(self.dimension, "") if self.dimension else ""

    @property
    def id(self) -> str:
        return f"section-{self.code}"

    @property
    def error_id(self) -> str:
        return f"err-{self.code}"


@dataclass
class ScreeningFields:
    sections: list[Section]
    # Errors whose path names no field on the page (a whole section, or an unknown key).
    other_errors: list[tuple[str, str]]

    @property
    def error_slots(self) -> list[tuple[str, str]]:
        """(element id, message) of every error shown next to its field, row or section."""
        slots = []
        for section in self.sections:
            if section.errors:
                slots.append((section.error_id, " ".join(section.errors)))
            for f in _walk(section.fields):
                if f.errors:
                    slots.append((f.error_id, " ".join(f.errors)))
                slots += [(row.error_id, " ".join(row.errors)) for row in f.rows if row.errors]
        return slots

    @property
    def payer(self) -> Field | None:
        """The payer field when it is searchable by name (its value is then the payer's name)."""
        return next((f for s in self.sections for f in s.fields if f.kind == "payer"), None)

    @property
    def error_count(self) -> int:
        return len(self.error_slots) + len(self.other_errors)


def _walk(fields: list[Field]) -> list[Field]:
    out: list[Field] = []
    for f in fields:
        out.append(f)
        out += _walk(f.followups)
        for row in f.rows:
            out += _walk(row.fields)
    return out


# --- answers <-> strings shown in the inputs ---------------------------------------------------


def _display(item: dict[str, Any], value: Any) -> str | list[str]:
    """A stored answer as the input shows it."""
    kind = item["type"]
    if value is None:
        return [] if kind == "multi" else ""
    if kind == "bool":
        return YES if value is True else NO if value is False else str(value)
    if kind == "multi":
        if isinstance(value, list):
            return [str(v) for v in value] or ([NONE_OF_THESE] if item.get("safety") else [])
        return [str(value)] if isinstance(value, str) else []
    if kind == "slugs":
        return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if kind == "datetime":
        parsed = answer_datetime(value)
        if parsed is None:
            return str(value)
        if timezone.is_aware(parsed):
            parsed = timezone.localtime(parsed)
        return parsed.strftime("%Y-%m-%dT%H:%M")
    return str(value)


def stored_values(definition: FormDefinition, answers: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """Every answer of a saved screening as input values, keyed by path."""
    out: dict[str, str | list[str]] = {}
    for section in definition.data["sections"]:
        code = section["code"]
        given = answers.get(code) or {}
        if not isinstance(given, dict):
            continue
        if section.get("grid"):
            for row, _name in section["rows"]:
                row_answers = given.get(row) or {}
                for item in _row_items(section, row):
                    if item["code"] in row_answers:
                        out[f"{code}.{row}.{item['code']}"] = _display(item, row_answers[item["code"]])
            continue
        for item in section["items"]:
            if item["code"] in given:
                out[f"{code}.{item['code']}"] = _display(item, given[item["code"]])
    return out


def posted_values(data: QueryDict) -> dict[str, str | list[str]]:
    """What the browser sent, to show it back unchanged next to an error."""
    out: dict[str, str | list[str]] = {}
    for key in data:
        sent = data.getlist(key)
        out[key] = sent[0] if len(sent) == 1 else [v for v in sent if v]
    return out


def _row_items(section: dict[str, Any], row: str) -> list[dict[str, Any]]:
    return [*section["items"], *section.get("row_items", {}).get(row, [])]


# --- the payer, searchable by name ---------------------------------------------------------------

# The payer item stores the payer's id; the page shows and takes its name.
PAYER_PATH = "insurance.payer_id"


@dataclass(frozen=True)
class PayerChoices:
    """The payer list behind the payer field: (id, name), by name."""

    rows: tuple[tuple[int, str], ...]

    @property
    def choices(self) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in self.rows]

    def name_of(self, value: str) -> str:
        """The name to show for a stored payer id (what was typed, when it is not one)."""
        if _WHOLE_NUMBER.match(value or ""):
            return next((name for pk, name in self.rows if str(pk) == value.lstrip("+")), value)
        return value

    def resolve(self, text: str) -> tuple[int | None, str]:
        """The payer a coordinator typed: by its whole name, else the one payer whose name holds the
        text; or None and why not."""
        wanted = " ".join(text.split()).casefold()
        exact = [pk for pk, name in self.rows if name.casefold() == wanted]
        if exact:
            return exact[0], ""
        holding = [(pk, name) for pk, name in self.rows if wanted in name.casefold()]
        if len(holding) == 1:
            return holding[0][0], ""
        if holding:
            names = ", ".join(name for _pk, name in holding[:5])
            return None, f"Several payers match “{text}”: {names}. Pick one from the list."
        return None, (
            f"No payer called “{text}” in the list. Pick one from the list, or write what the caller "
            "said in “Payer as the caller said it”."
        )


def payer_choices() -> PayerChoices:
    """Every payer, by name (one query)."""
    return PayerChoices(rows=tuple(Payer.objects.order_by("name").values_list("pk", "name")))


# --- the fields of the page --------------------------------------------------------------------


def _on_the_page(message: str, unknown: str | None) -> str:
    """An error as the page says it: the API's "unknown" answer is the "Refused / not known" box."""
    if not unknown:
        return message
    return message.replace(
        f'Or "{unknown}" when they refuse or do not know.',
        "Or mark it “Refused / not known” if they refuse or do not know.",
    )


def _field(
    path: str, item: dict[str, Any], values: Values, errors: Mapping[str, list[str]], unknown: str | None
) -> Field:
    value = values.get(path, [] if item["type"] == "multi" else "")
    as_list = value if isinstance(value, list) else ([value] if value else [])
    if item["type"] != "multi" and isinstance(value, list):
        # A number or date posted with its "not known" box: show the box ticked.
        value = unknown if unknown and unknown in value else next((v for v in value if v), "")
    return Field(
        path=path,
        label=str(item["label"]),
        kind=str(item["type"]),
        safety=bool(item.get("safety")),
        choices=[(str(c), str(n)) for c, n in item.get("choices", [])],
        value=value if isinstance(value, str) else (value[0] if value else ""),
        values=[str(v) for v in as_list],
        errors=[_on_the_page(message, unknown) for message in errors.get(path, [])],
        minimum=item.get("min"),
        maximum=item.get("max"),
        max_length=item.get("max_length"),
        unknown=(unknown or "") if item.get("safety") else "",
    )


def screening_fields(
    definition: FormDefinition,
    *,
    values: Values,
    errors: Mapping[str, list[str]] | None = None,
    sources: Mapping[str, str] | None = None,
    hints: Mapping[str, str] | None = None,
    payers: PayerChoices | None = None,
    locked: Collection[str] = (),
) -> ScreeningFields:
    """The sections of the form, in catalogue order, with values and errors attached.

    A grid section (one set of items per substance) is folded into the multi-choice item
    its rows come from, so each substance's questions sit under its checkbox. ``sources``
    marks proposed values (from intake), ``hints`` adds what intake recorded beside a
    question, ``payers`` turns the payer id into a payer searchable by name, and the items in
    ``locked`` are shown disabled (the role may not read or write them).
    """
    errors = errors or {}
    sources, hints = sources or {}, hints or {}
    unknown = definition.unknown_answer
    used: set[str] = set()
    sections: list[Section] = []
    grids = {s["rows_from"]: s for s in definition.data["sections"] if s.get("grid")}
    for section in definition.data["sections"]:
        code = section["code"]
        if section.get("grid"):
            continue
        fields: dict[str, Field] = {}
        for item in section["items"]:
            path = f"{code}.{item['code']}"
            f = _field(path, item, values, errors, unknown)
            f.source, f.hint, f.locked = sources.get(path, ""), hints.get(path, ""), path in locked
            if path == PAYER_PATH and payers is not None:
                f.kind, f.choices, f.value = "payer", payers.choices, payers.name_of(f.value)
            used.add(path)
            grid = grids.get(path)
            if grid is not None:
                f.rows = _grid_rows(grid, f, values, errors, used, unknown)
            condition = item.get("ask_if")
            parent = fields.get(condition["item"]) if condition else None
            if parent is not None and condition is not None and condition["is"] is True:
                parent.followups.append(f)
            else:
                fields[item["code"]] = f
        sections.append(
            Section(
                code=code,
                title=str(section["title"]),
                dimension=section.get("dimension"),
                fields=list(fields.values()),
                errors=list(errors.get(code, [])),
            )
        )
        used.add(code)
    other = [(path, message) for path, messages in errors.items() if path not in used for message in messages]
    return ScreeningFields(sections=sections, other_errors=other)


def _grid_rows(
    grid: dict[str, Any],
    parent: Field,
    values: Values,
    errors: Mapping[str, list[str]],
    used: set[str],
    unknown: str | None,
) -> list[GridRow]:
    rows = []
    code = grid["code"]
    for row, name in grid["rows"]:
        fields = []
        for item in _row_items(grid, row):
            path = f"{code}.{row}.{item['code']}"
            fields.append(_field(path, item, values, errors, unknown))
            used.add(path)
        used.add(f"{code}.{row}")
        rows.append(
            GridRow(
                path=f"{code}.{row}",
                code=row,
                name=str(name),
                checked=row in parent.values,
                fields=fields,
                errors=list(errors.get(f"{code}.{row}", [])),
            )
        )
    return rows


# --- posted fields -> answers ------------------------------------------------------------------


def _parse(item: dict[str, Any], data: QueryDict, path: str, unknown: str | None) -> tuple[Any, str | None]:
    """One posted field as an answer (None clears it), or the raw text for the catalogue to refuse."""
    kind = item["type"]
    sent = [v.strip() for v in data.getlist(path) if v.strip()]
    if kind == "multi":
        if NONE_OF_THESE in sent or (unknown and unknown in sent):
            if len(sent) > 1:
                return None, "Tick one of “none of these”, “will not say” or what they use."
            return ([] if NONE_OF_THESE in sent else unknown), None
        return (sent or None), None
    if unknown and item.get("safety") and unknown in sent:
        return unknown, None  # the "refused / not known" box wins over a half-typed value
    raw = sent[-1] if sent else ""
    if raw == "":
        return None, None
    if kind == "bool":
        return {YES: True, NO: False}.get(raw, raw), None
    if kind == "int" and _WHOLE_NUMBER.match(raw):
        try:
            return int(raw), None
        except ValueError:  # more digits than Python converts: the catalogue refuses the text
            return raw, None
    if kind == "slugs":
        return [s.lower() for s in _SLUG_SPLIT.split(raw) if s], None
    return raw, None


def answers_from_post(
    definition: FormDefinition, data: QueryDict, *, payers: PayerChoices | None = None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The answers a posted form gives, and errors the HTML itself makes plain (before the rules).

    Only posted fields are answered, so a partial post changes only what it sends. Follow-up
    items are cleared when their question is answered otherwise, and a substance's row when
    the substance is no longer ticked: hidden inputs must not keep raising flags.
    """
    answers: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    unknown = definition.unknown_answer

    def take(code: str, item: dict[str, Any], path: str, into: dict[str, Any]) -> None:
        if path not in data:
            return
        value, error = _parse(item, data, path, unknown)
        if path == PAYER_PATH and payers is not None and isinstance(value, str):
            # A payer picked or typed by name (an id still passes, for the catalogue to check).
            value, error = payers.resolve(value)
            error = error or None
        if error:
            errors[path] = [error]
        else:
            into[code] = value

    for section in definition.data["sections"]:
        code = section["code"]
        if section.get("grid"):
            grid: dict[str, Any] = {}
            for row, _name in section["rows"]:
                row_answers: dict[str, Any] = {}
                items = _row_items(section, row)
                for item in items:
                    take(item["code"], item, f"{code}.{row}.{item['code']}", row_answers)
                _clear_unasked(items, row_answers)
                if row_answers:
                    grid[row] = row_answers
            if grid:
                answers[code] = grid
            continue
        given: dict[str, Any] = {}
        for item in section["items"]:
            take(item["code"], item, f"{code}.{item['code']}", given)
        _clear_unasked(section["items"], given)
        if given:
            answers[code] = given
    for grid_section in (s for s in definition.data["sections"] if s.get("grid")):
        rows_section, _, rows_item = grid_section["rows_from"].partition(".")
        if rows_item not in (answers.get(rows_section) or {}):
            continue
        listed = answers[rows_section][rows_item]
        ticked = set(listed) if isinstance(listed, list) else set()
        grid = answers.setdefault(grid_section["code"], {})
        for row, _name in grid_section["rows"]:
            if row not in ticked:
                grid[row] = None
            elif isinstance(grid.get(row), dict) and all(v is None for v in grid[row].values()):
                # Every question of a ticked substance left blank: clear the row (not an empty one).
                grid[row] = None
    return answers, errors


def _clear_unasked(items: list[dict[str, Any]], given: dict[str, Any]) -> None:
    """Follow-ups whose question was answered otherwise are cleared: hidden answers must not count."""
    for item in items:
        condition = item.get("ask_if")
        if condition and given.get(condition["item"]) not in (None, condition["is"]):
            given[item["code"]] = None


# --- sign-off and match override ---------------------------------------------------------------


class SignoffForm(forms.Form):
    level = ModelChoiceField(
        queryset=LevelOfCare.objects.none(),
        error_messages={
            "required": "Choose the final level of care.",
            "invalid_choice": "Choose a level from the list.",
        },
    )
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, levels: QuerySet[LevelOfCare], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["level"].queryset = levels  # type: ignore[attr-defined]


class MatchOverrideForm(forms.Form):
    program = ModelChoiceField(
        queryset=Program.objects.filter(is_active=True),
        error_messages={
            "required": "Choose the program.",
            "invalid_choice": "Choose a program from the list.",
        },
    )
    reason = forms.CharField(
        max_length=1000,
        error_messages={
            "required": f"Say why the match is overridden (at least {MIN_OVERRIDE_REASON} characters)."
        },
    )
