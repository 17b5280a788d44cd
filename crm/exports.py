"""Exports of records and reports: the permission they need and the guard their CSV cells pass.

The kernel owns both because several apps export (the dashboards' tables, the privacy app's
audit trail) and none of them should import another to do it.
"""

from __future__ import annotations

# Exporting is its own permission (minimum necessary): managers hold it, see ``crm.roles``.
EXPORT_PERMISSION = "crm.export_records"

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula with a quote (CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA_PREFIXES) else cell
