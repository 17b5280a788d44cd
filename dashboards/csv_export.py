"""CSV rendering of a dashboard table, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

from crm.exports import neutralise
from dashboards.reports import Table, format_value


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
