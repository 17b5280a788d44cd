"""Plain data shapes a dashboard page is made of: KPI tiles, tables, chart specs.

Selectors build them, ``charts`` draws the specs as SVG, the templates and the
CSV export both read the same ``Table`` so what is exported is what is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "int", "pct", "minutes", "days"]


@dataclass(frozen=True)
class Column:
    title: str
    kind: Kind = "int"


@dataclass
class Table:
    slug: str
    title: str
    columns: list[Column]
    rows: list[list[object]]
    note: str = ""


@dataclass
class Tile:
    label: str
    value: object
    kind: Kind = "int"


@dataclass
class ChartSpec:
    """What to draw. ``kind``: "bars" (horizontal, one or two series), "columns" (weekly), "heatmap"."""

    kind: Literal["bars", "columns", "heatmap"]
    title: str
    description: str
    labels: list[str]
    series: list[tuple[str, list[float]]]
    value_kind: Kind = "int"
    table_slug: str = ""
    # heat map only: rows x columns of values in 0..1 (None = no data) and their labels
    grid: list[list[float | None]] = field(default_factory=list)
    row_labels: list[str] = field(default_factory=list)
    column_labels: list[str] = field(default_factory=list)


@dataclass
class Report:
    slug: str
    title: str
    tiles: list[Tile] = field(default_factory=list)
    charts: list[ChartSpec] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, slug: str) -> Table | None:
        return next((t for t in self.tables if t.slug == slug), None)


def format_value(value: object, kind: Kind, *, grouping: bool = True) -> str:
    """How a value reads on the page and in the CSV ("" for missing)."""
    if value is None:
        return "" if not grouping else "–"
    if kind == "text":
        return str(value)
    if not isinstance(value, int | float):
        return str(value)
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind in ("minutes", "days"):
        unit = "min" if kind == "minutes" else "d"
        if math.isinf(value):
            return f"> {2880 if kind == 'minutes' else 90} {unit}"
        return f"{value:.1f} {unit}"
    return f"{value:,}" if grouping else str(value)
