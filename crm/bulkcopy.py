"""Inserting many rows of one model with PostgreSQL's COPY.

``bulk_create`` renders every value of a batch into one INSERT statement: for thousands of rows
that text is most of the cost of the write, on both sides of the connection. COPY streams the
same values instead, at about twice the speed for an import batch. It has no ``ON CONFLICT`` and
returns nothing, so it serves rows whose keys the caller has chosen (or does not need back) and
that cannot conflict; everything else stays with ``bulk_create``.

Rows are given as values by attribute name, not as model instances: building an instance (its
``__init__`` walks every field, and a phone number field parses the number again) cost as much
as the rest of an import's write.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.utils import timezone

_MISSING = object()


def copy_insert(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` of ``model``, each a mapping of attribute names (``person_id``, not
    ``person``) to values, with one COPY. Each value is written as ``bulk_create`` writes it: a
    value left out is the field's default, a field with ``auto_now`` or ``auto_now_add`` gets the
    time of the call, and every value goes through the field's database form. Primary keys are
    written when every row gives one and left to the sequence when none does."""
    if not rows:
        return
    meta = model._meta
    pk_name = meta.pk.attname  # type: ignore[union-attr]
    with_pk = pk_name in rows[0]
    if any((pk_name in row) != with_pk for row in rows):
        raise ValueError("copy_insert takes rows that all give a primary key or none")
    fields = [f for f in meta.concrete_fields if with_pk or not f.primary_key]
    unknown = set().union(*rows) - {f.attname for f in fields}
    if unknown:
        raise ValueError(f"{meta.label} has no column for {sorted(unknown)}")
    if any(hasattr(value, "resolve_expression") for row in rows for value in row.values()):
        raise ValueError(f"copy_insert cannot write an expression ({meta.label})")
    now = timezone.now()
    steps = [(f.attname, f.get_default, _stamped(f, now), f.get_db_prep_save) for f in fields]
    # The connection itself, not the module's proxy, which looks itself up on every attribute a
    # field reads while preparing a value (a million values in an import).
    db = connections[DEFAULT_DB_ALIAS]
    table = db.ops.quote_name(meta.db_table)
    names = ", ".join(db.ops.quote_name(f.column) for f in fields)
    with db.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
        for row in rows:
            values = []
            for attname, default, stamp, prep in steps:
                value = stamp if stamp is not _MISSING else row.get(attname, _MISSING)
                values.append(prep(default() if value is _MISSING else value, db))
            copy.write_row(values)


def _stamped(field: Any, now: datetime.datetime) -> Any:
    """What the field's ``pre_save`` writes on an insert whatever the row says (the time, for
    ``auto_now`` and ``auto_now_add``, as Django's date and time fields take it), or ``_MISSING``
    for a field that writes its value as given. A field whose ``pre_save`` does anything else
    is refused rather than written wrongly."""
    if isinstance(field, models.DateField | models.TimeField):
        if not (field.auto_now or field.auto_now_add):
            return _MISSING
        if isinstance(field, models.DateTimeField):
            return now
        if isinstance(field, models.DateField):
            return datetime.date.today()  # noqa: DTZ011 - as DateField.pre_save
        return datetime.datetime.now().time()  # noqa: DTZ005 - as TimeField.pre_save
    if type(field).pre_save is models.Field.pre_save:
        return _MISSING
    label = f"{field.model._meta.label}.{field.name}"
    raise ValueError(f"copy_insert cannot write {label} ({type(field).__name__})")
