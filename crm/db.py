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
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import transaction
from django.db.backends.utils import CursorWrapper


class _PreparingCursor(psycopg.Cursor):  # type: ignore[type-arg]
    """psycopg's server-side binding cursor, keeping the statement it ran for Django's query log
    (``connection.queries``, ``CaptureQueriesContext``): psycopg leaves it unset when it runs a
    prepared statement."""

    def _convert_query(self, query: Any, params: Any = None) -> Any:
        self._query = converted = super()._convert_query(query, params)
        return converted


def prepared_cursor() -> CursorWrapper:
    """``connection.cursor()``, with statements prepared on PostgreSQL (see the module's notes).

    Meant for SQL whose text is fixed (its values all parameters): psycopg prepares a text at
    its second execution on the connection (``prepare_threshold`` 1, in the settings) and keeps
    the 100 most recent. Without a threshold this is a server-side binding cursor, unprepared."""
    db = transaction.get_connection()
    cursor = db.cursor()
    if db.vendor == "postgresql":
        cursor.cursor.close()
        cursor.cursor = _PreparingCursor(db.connection)
    return cursor
