"""Template helpers for the dashboards: the nav check, fast table and filter rendering, SVG charts.

Table bodies and filter selects are built here rather than with template loops:
the heat map table alone has 840 cells and the template engine took most of
the page's time drawing them.
"""

from __future__ import annotations

from django import forms, template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from dashboards import charts
from dashboards.access import can_see_dashboards
from dashboards.reports import ChartSpec, Kind, Table, format_value

register = template.Library()


@register.filter
def sees_dashboards(user: object) -> bool:
    return can_see_dashboards(user)  # type: ignore[arg-type]


@register.filter
def cell(value: object, kind: Kind) -> str:
    return format_value(value, kind)


@register.simple_tag
def chart(spec: ChartSpec) -> SafeString:
    return charts.render(spec)


@register.simple_tag
def table_body(table: Table) -> SafeString:
    """The <tbody> of a dashboard table, every value escaped."""
    if not table.rows:
        return mark_safe(  # noqa: S308 - constant markup and an integer
            f'<tbody><tr><td colspan="{len(table.columns)}" class="empty">'
            "No inquiries match these filters.</td></tr></tbody>"
        )
    opens = ["<td>" if c.kind == "text" else '<td class="num">' for c in table.columns]
    parts = ["<tbody>"]
    for row in table.rows:
        parts.append("<tr>")
        for value, column, opening in zip(row, table.columns, opens, strict=True):
            parts.append(f"{opening}{escape(format_value(value, column.kind))}</td>")
        parts.append("</tr>")
    parts.append("</tbody>")
    return mark_safe("".join(parts))  # noqa: S308 - every value passed through escape()


@register.simple_tag
def filter_select(form: forms.Form, name: str) -> SafeString:
    """A <select> for one filter, with the submitted (or empty) value selected."""
    field = form[name]
    current = str(field.value() or "")
    options = []
    for value, label in field.field.choices:  # type: ignore[attr-defined]
        selected = " selected" if str(value) == current else ""
        options.append(f'<option value="{escape(value)}"{selected}>{escape(label)}</option>')
    return mark_safe(  # noqa: S308 - values and labels escaped
        f'<select name="{escape(name)}" id="{escape(field.id_for_label)}">{"".join(options)}</select>'
    )
