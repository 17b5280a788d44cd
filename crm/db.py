"""Database helpers for the few statements that run on every lead.

``prepared_cursor`` gives a Django cursor (same connection, transaction, error
wrapping and query capture as ``connection.cursor()``) whose statements
PostgreSQL parses and plans once per connection: server-side binding, and each
statement prepared from its second use on. Django's own cursors bind parameters on the
client, so every statement is parsed and planned again; for a fixed statement
such as the lead's duplicate lookup, planning alone cost about 1.2 ms, several
times its execution. After five executions PostgreSQL switches a prepared
statement to a generic plan if that is no dearer than the custom ones, so the
SQL given to this cursor should let a generic plan use the same indexes (spell
out partial-index predicates such as ``NOT (phone = '')`` next to the parameter).

Prepared statements live on the connection (``CONN_MAX_AGE`` keeps it between
requests). Behind a pooler in transaction mode that does not track prepared
statements (PgBouncer before 1.21), set ``DB_PREPARED_STATEMENTS=false``.

The same cursor also keeps psycopg from re-reading the text of each statement: psycopg turns
``%s`` / ``%(name)s`` placeholders into ``$n`` with a scan of the whole statement, and caches
the result only for statements up to 4 kB and 50 parameters (to keep ORM-generated inserts of
varying length out of its cache). The lead's batch insert is longer than that but one of a few
fixed texts, so this cursor caches every conversion (``_converted``, 256 texts): the scan cost
about 80 µs a lead.
"""

from __future__ import annotations

import functools
from typing import Any

import psycopg
from django.db import transaction
from django.db.backends.utils import CursorWrapper
from psycopg import _queries

# Placeholder conversion of a statement's text (psycopg's own function, cached for every length).
_converted = functools.lru_cache(maxsize=256)(_queries._query2pg_nocache)


class _FixedTextQuery(_queries.PostgresQuery):
    """psycopg's query conversion, cached whatever the statement's length (see the module's notes)."""

    def convert(self, query: Any, vars: Any) -> None:
        if vars is None or not isinstance(query, str | bytes):
            super().convert(query, vars)
            return
        text = query.encode(self._tx.encoding) if isinstance(query, str) else query
        self.query, self._want_formats, self._order, self._parts = _converted(text, self._tx.encoding)
        self.dump(vars)


class _PreparingCursor(psycopg.Cursor):  # type: ignore[type-arg]
    """psycopg's server-side binding cursor, keeping the statement it ran for Django's query log
    (``connection.queries``, ``CaptureQueriesContext``): psycopg leaves it unset when it runs a
    prepared statement."""

    _query_cls = _FixedTextQuery

    def _convert_query(self, query: Any, params: Any = None) -> Any:
        self._query = converted = super()._convert_query(query, params)
        return converted


def prepared_cursor() -> CursorWrapper:
    """``connection.cursor()``, with statements prepared (see the module's notes).

    Meant for SQL whose text is fixed (its values all parameters), one of a few hundred texts at
    most: each text's placeholder conversion is cached, and psycopg prepares a text at
    its second execution on the connection (``prepare_threshold`` 1, in the settings) and keeps
    the 100 most recent. Without a threshold this is a server-side binding cursor, unprepared."""
    db = transaction.get_connection()
    cursor = db.cursor()
    cursor.cursor.close()
    cursor.cursor = _PreparingCursor(db.connection)
    return cursor
