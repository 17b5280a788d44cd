"""CSV rendering of a dashboard table, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

from dashboards.reports import Table, format_value

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula with a quote (CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA_PREFIXES) else cell


def table_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise(c.title) for c in table.columns])
    for row in table.rows:
        writer.writerow(
            [
                neutralise(format_value(v, c.kind, grouping=False))
                for v, c in zip(row, table.columns, strict=True)
            ]
        )
    return out.getvalue()
