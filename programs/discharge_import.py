"""Discharges the EHR sends, as CSV or JSON: parsed and checked here, written by
``programs.services.discharges_import``. The management command ``import_discharges`` and the
discharge API both come through this module, so a file and a request get the same checks.

Each row: ``program`` (the program's id, as the administration shows it), ``external_id`` (the
EHR's id of the discharge, required: it makes a re-sent file change nothing), ``date``
(YYYY-MM-DD) and ``status`` (``expected``, ``done`` or ``cancelled``; ``expected`` if empty).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection
from datetime import date
from typing import Any

from programs.models import Discharge, Program
from programs.services import DischargeRow

MAX_ROWS = 5000
FIELDS = ("program", "external_id", "date", "status")


class DischargeFileError(ValueError):
    """The file as a whole cannot be read (not CSV / JSON, too many rows)."""


def discharge_records_read(*, text: str, kind: str) -> list[dict[str, Any]]:
    """The rows of a CSV (header line) or JSON (a list of objects, or ``{"discharges": [...]}``) text."""
    if kind == "json":
        try:
            data = json.loads(text)
        except ValueError:
            raise DischargeFileError("The body is not valid JSON.") from None
        if isinstance(data, dict):
            data = data.get("discharges")
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DischargeFileError('Send a list of discharges, or {"discharges": [...]}.')
        records = data
    elif kind == "csv":
        reader = csv.DictReader(io.StringIO(text))
        missing = [f for f in ("program", "external_id", "date") if f not in (reader.fieldnames or [])]
        if missing:
            raise DischargeFileError(f"The CSV header lacks: {', '.join(missing)}.")
        records = list(reader)
    else:
        raise DischargeFileError("Send CSV or JSON.")
    if len(records) > MAX_ROWS:
        raise DischargeFileError(f"At most {MAX_ROWS} discharges at a time.")
    return records


def discharge_rows_check(
    *, records: list[dict[str, Any]], facility_ids: Collection[int] | None
) -> tuple[list[DischargeRow], dict[int, dict[str, str]]]:
    """Checked rows, and per row number (from 1) the errors by field; a program outside
    ``facility_ids`` (``None``: all) is unknown, as one that does not exist."""
    wanted = {str(r.get("program", "")).strip() for r in records}
    programs = Program.objects.filter(pk__in=[int(v) for v in wanted if v.isdigit() and len(v) < 10])
    if facility_ids is not None:
        programs = programs.filter(facility_id__in=list(facility_ids))
    known = set(programs.values_list("pk", flat=True))
    rows, errors = [], {}
    seen: set[tuple[int, str]] = set()
    for n, record in enumerate(records, start=1):
        problems: dict[str, str] = {}
        program = str(record.get("program", "")).strip()
        if not program.isdigit() or int(program[:10]) not in known:
            problems["program"] = "No such program at your facilities."
        external_id = str(record.get("external_id", "") or "").strip()
        if not external_id:
            problems["external_id"] = "Required: the EHR's id of the discharge."
        elif len(external_id) > 80 or "\x00" in external_id:
            problems["external_id"] = "At most 80 characters."
        try:
            on = date.fromisoformat(str(record.get("date", "")).strip())
        except ValueError:
            problems["date"] = "A date as YYYY-MM-DD."
        status = str(record.get("status", "") or Discharge.State.EXPECTED).strip().lower()
        if status not in Discharge.State.values:
            problems["status"] = f"One of: {', '.join(Discharge.State.values)}."
        if not problems:
            key = (int(program), external_id)
            if key in seen:
                problems["external_id"] = "The same discharge twice in one file."
            seen.add(key)
        if problems:
            errors[n] = problems
        else:
            rows.append(DischargeRow(program_id=int(program), external_id=external_id, on=on, state=status))
    return rows, errors
