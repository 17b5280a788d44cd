"""``crm.db.prepared_cursor``: statements of any length are converted once per text and
prepared on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from crm import db

pytestmark = pytest.mark.django_db


def _long_statement(columns: int) -> str:
    # Over psycopg's own 4 kB limit for caching a conversion, with named and repeated placeholders.
    padding = " ".join(f"%(value)s AS c{n}_{'x' * 60}," for n in range(columns))
    return f"SELECT {padding} %(other)s::int AS last"  # noqa: S608 - test constants


def test_a_long_statement_is_converted_once_per_text_and_runs_with_its_values():
    sql = _long_statement(60)
    assert len(sql) > 4096
    db._converted.cache_clear()
    rows = []
    with transaction.atomic():
        for n in range(3):
            with db.prepared_cursor() as cursor:
                cursor.execute(sql, {"value": f"v{n}", "other": n})
                rows.append(cursor.fetchone())
    info = db._converted.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    assert [(row[0], row[59], row[-1]) for row in rows] == [("v0", "v0", 0), ("v1", "v1", 1), ("v2", "v2", 2)]


def test_the_statement_run_is_what_the_query_log_shows():
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured, db.prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int + %s::int", [1, 2])
        assert cursor.fetchone() == (3,)
    assert captured.captured_queries[-1]["sql"] == "SELECT $1::int + $2::int"
