"""Reading an import file one row at a time (CSV, or XLSX through openpyxl's read-only mode),
so memory stays flat whatever the file's size."""

from __future__ import annotations

import csv
import queue
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

FORMATS = ("csv", "xlsx")
Value = str | datetime | date
Row = tuple[int, dict[str, Value]]  # (row number as a spreadsheet shows it, header -> value)

csv.field_size_limit(1 << 20)


class FileUnreadable(ValueError):
    """The file is not a CSV or XLSX file we can read; the message says why, for the person."""


def format_of(name: str) -> str:
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise FileUnreadable("Upload a .csv or .xlsx file.")
    return suffix


def _encoding(path: Path) -> str:
    """UTF-8 (with or without a byte-order mark) when the file's start decodes as such, else
    Windows-1252, which spreadsheet programs on Windows still write."""
    with path.open("rb") as f:
        head = f.read(1 << 20)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "cp1252"
    return "utf-8-sig"


def _cell(value: Any) -> Value:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number or id a spreadsheet stored as a number
    return str(value)


@contextmanager
def rows_open(path: Path, file_format: str) -> Iterator[tuple[list[str], Iterator[Row]]]:
    """The file's headers and its data rows (blank rows left out, numbers kept)."""
    if file_format == "csv":
        with path.open(encoding=_encoding(path), newline="") as f:
            reader = csv.reader(f)
            try:
                headers = [h.strip() for h in next(reader, [])]
            except (csv.Error, UnicodeDecodeError) as exc:
                raise FileUnreadable(f"The file could not be read as CSV: {exc}.") from exc
            yield _headers_checked(headers), _csv_rows(reader, headers)
        return
    import openpyxl  # only imports that read spreadsheets pay for it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise FileUnreadable("The file could not be read as an XLSX workbook.") from exc
    try:
        sheet = workbook.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        headers = [str(_cell(v)).strip() for v in next(values, ())]
        while headers and not headers[-1]:
            headers.pop()
        yield _headers_checked(headers), _xlsx_rows(values, headers)
    finally:
        workbook.close()


def _headers_checked(headers: list[str]) -> list[str]:
    if not any(headers):
        raise FileUnreadable("The file has no header row.")
    seen: set[str] = set()
    for h in headers:
        if h and h in seen:
            raise FileUnreadable(f"The column {h!r} appears twice in the header row.")
        seen.add(h)
    return headers


def _csv_rows(reader: Any, headers: list[str]) -> Iterator[Row]:
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            yield reader.line_num, dict(zip(headers, values, strict=False))
    except (csv.Error, UnicodeDecodeError) as exc:
        raise FileUnreadable(f"The file could not be read past line {reader.line_num}: {exc}.") from exc


def _xlsx_rows(values: Iterator[tuple[Any, ...]], headers: list[str]) -> Iterator[Row]:
    for number, raw in enumerate(values, start=2):
        cells = [_cell(v) for v in raw]
        if not any(c for c in cells if not isinstance(c, str) or c.strip()):
            continue
        yield number, dict(zip(headers, cells, strict=False))


def rows_count(path: Path, file_format: str) -> int:
    """The number of data rows: counted for CSV (a quick pass), read from the sheet's stated size
    for XLSX (blank rows included, so the count may end a little early)."""
    if file_format == "xlsx":
        import openpyxl

        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            stated = workbook.worksheets[0].max_row
        finally:
            workbook.close()
        if stated:
            return max(stated - 1, 0)
    with rows_open(path, file_format) as (_, rows):
        return sum(1 for _ in rows)


_END = object()


@contextmanager
def read_ahead(items: Iterator[T], depth: int = 1) -> Iterator[Iterator[T]]:
    """``items``, produced by a thread up to ``depth`` items ahead of the caller.

    Reading and checking the next batch of a file is Python work that needs no database, so it
    runs while the caller waits on PostgreSQL for the batch before (psycopg lets go of the GIL
    while it waits). What the producer raises is raised to the caller in its place; leaving the
    block stops the thread (it must not read a file that the caller is about to close).
    """
    handoff: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                handoff.put((item, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            put(_END, exc)

    def consume() -> Iterator[T]:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()
