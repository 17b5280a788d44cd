"""Server-rendered SVG charts: no JavaScript, every label escaped, a <title> and <desc> on each.

Each chart names the table that holds its exact figures (the text alternative).
Markup is built with f-strings; every piece of text goes through ``escape`` and
every number is formatted here, so the result is safe to mark as such.
"""

from __future__ import annotations

import itertools

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from dashboards.reports import ChartSpec, format_value

_PALETTE = ("#1f5fbf", "#e07b1a")
_ids = itertools.count(1)


def _truncate(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open(spec: ChartSpec, width: int, height: int) -> str:
    n = next(_ids)
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="c{n}t c{n}d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="c{n}t">{escape(spec.title)}</title><desc id="c{n}d">{escape(spec.description)}</desc>'
    )


def _legend(spec: ChartSpec, x: int, y: int) -> str:
    return "".join(
        f'<rect x="{x + i * 150}" y="{y}" width="12" height="12" fill="{_PALETTE[i % 2]}"/>'
        f'<text x="{x + i * 150 + 18}" y="{y + 11}">{escape(name)}</text>'
        for i, (name, _values) in enumerate(spec.series)
    )


def _safe(parts: list[str]) -> SafeString:
    return mark_safe("".join(parts))  # noqa: S308 - text escaped, numbers formatted above


def bars(spec: ChartSpec) -> SafeString:
    """Horizontal bars, one row per label, one thin bar per series."""
    label_w, bar_w, row_h = 250, 330, 12 * len(spec.series) + 10
    top = 24 if len(spec.series) > 1 else 4
    height = top + row_h * max(len(spec.labels), 1) + 4
    width = label_w + bar_w + 90
    peak = max((v for _n, values in spec.series for v in values), default=0) or 1
    if spec.value_kind == "pct":
        peak = max(peak, 1.0)
    parts = [_open(spec, width, height)]
    if len(spec.series) > 1:
        parts.append(_legend(spec, label_w, 4))
    for row, label in enumerate(spec.labels):
        y = top + row * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row_h / 2 + 4}" text-anchor="end" class="label">'
            f"<title>{escape(label)}</title>{escape(_truncate(label))}</text>"
        )
        for i, (name, values) in enumerate(spec.series):
            value = values[row] if row < len(values) else 0.0
            w = round(bar_w * value / peak, 1)
            by = y + 4 + i * 12
            text = escape(format_value(value if spec.value_kind == "pct" else int(value), spec.value_kind))
            parts.append(
                f'<rect x="{label_w}" y="{by}" width="{w}" height="10" fill="{_PALETTE[i % 2]}">'
                f"<title>{escape(name)}: {text}</title></rect>"
                f'<text x="{label_w + w + 4}" y="{by + 9}" class="value">{text}</text>'
            )
    parts.append("</svg>")
    return _safe(parts)


def columns(spec: ChartSpec) -> SafeString:
    """Vertical columns per label (weeks), series side by side."""
    n = max(len(spec.labels), 1)
    plot_w, plot_h, left, top = 760, 180, 48, 26
    width, height = left + plot_w + 10, top + plot_h + 30
    group_w = plot_w / n
    bar_w = max(group_w / (len(spec.series) + 0.5), 1)
    peak = max((v for _n, values in spec.series for v in values), default=0) or 1
    parts = [_open(spec, width, height), _legend(spec, left, 4)]
    for frac in (0.0, 0.5, 1.0):
        y = round(top + plot_h - plot_h * frac, 1)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y}" y2="{y}" class="grid"/>'
            f'<text x="{left - 4}" y="{y + 4}" text-anchor="end" class="value">{int(peak * frac):,}</text>'
        )
    for i, label in enumerate(spec.labels):
        x0 = left + i * group_w
        safe_label = escape(label)
        for s, (name, values) in enumerate(spec.series):
            value = values[i] if i < len(values) else 0.0
            h = plot_h * value / peak
            parts.append(
                f'<rect x="{x0 + s * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{_PALETTE[s % 2]}"><title>{safe_label} {escape(name)}: {int(value):,}</title></rect>'
            )
        if i % 4 == 0:
            parts.append(f'<text x="{x0:.1f}" y="{top + plot_h + 16}" class="label">{safe_label}</text>')
    parts.append("</svg>")
    return _safe(parts)


def heatmap(spec: ChartSpec) -> SafeString:
    """Grid of cells shaded by a 0..1 value (cells without data in grey)."""
    cell_w, cell_h, left, top = 28, 22, 44, 18
    cols = max(len(spec.column_labels), 1)
    width, height = left + cols * cell_w + 4, top + len(spec.row_labels) * cell_h + 4
    parts = [_open(spec, width, height)]
    column_labels = [escape(label) for label in spec.column_labels]
    for c, label in enumerate(column_labels):
        parts.append(f'<text x="{left + c * cell_w + 6}" y="12" class="value">{label}</text>')
    for r, row_label in enumerate(spec.row_labels):
        y = top + r * cell_h
        safe_row = escape(row_label)
        parts.append(f'<text x="4" y="{y + 15}" class="label">{safe_row}</text>')
        for c, value in enumerate(spec.grid[r] if r < len(spec.grid) else []):
            if value is None:
                fill, opacity, text = "#d9dee8", 1.0, "no data"
            else:
                fill, opacity, text = _PALETTE[0], round(0.08 + 0.92 * value, 3), format_value(value, "pct")
            col_label = column_labels[c] if c < len(column_labels) else ""
            parts.append(
                f'<rect x="{left + c * cell_w}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{fill}" '
                f'fill-opacity="{opacity}"><title>{safe_row} {col_label}:00 {escape(text)}</title></rect>'
            )
    parts.append("</svg>")
    return _safe(parts)


def render(spec: ChartSpec) -> SafeString:
    drawer = {"bars": bars, "columns": columns, "heatmap": heatmap}[spec.kind]
    return drawer(spec)
