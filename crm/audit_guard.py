"""Database triggers that make the audit trail append-only (PostgreSQL and SQLite).

Two tables are guarded: the audit events (``crm_auditevent``) and the Part 2 disclosure ledger
(``privacy_disclosure``). UPDATE and DELETE of a row are refused by the database itself, whatever
the application does; on PostgreSQL TRUNCATE is refused too, unless the session declares
maintenance (a test database being reset) with ``SET crm.audit_maintenance = 'on'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# table -> the words of the error message
GUARDED = {
    "crm_auditevent": "audit events",
    "privacy_disclosure": "disclosure ledger rows",
}

PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION crm_audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% are append-only', coalesce(TG_ARGV[0], 'audit events');
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION crm_audit_refuse_truncate() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('crm.audit_maintenance', true), '') <> 'on' THEN
        RAISE EXCEPTION '% are append-only', coalesce(TG_ARGV[0], 'audit events');
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
PG_TABLE = """
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION crm_audit_refuse_change('{label}');
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
CREATE TRIGGER {table}_no_truncate
    BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION crm_audit_refuse_truncate('{label}');
"""
PG_TABLE_REMOVE = """
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
"""
PG_FUNCTIONS_REMOVE = """
DROP FUNCTION IF EXISTS crm_audit_refuse_change();
DROP FUNCTION IF EXISTS crm_audit_refuse_truncate();
"""
SQLITE_TABLE = (
    "CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
    "BEGIN SELECT RAISE(ABORT, '{label} are append-only'); END;",
    "CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
    "BEGIN SELECT RAISE(ABORT, '{label} are append-only'); END;",
)


def install(cursor: Any, vendor: str, tables: Iterable[str] = tuple(GUARDED)) -> None:
    """Create the triggers on ``tables`` (idempotent)."""
    for table in tables:
        names = {"table": table, "label": GUARDED[table]}
        if vendor == "postgresql":
            cursor.execute(PG_FUNCTIONS + PG_TABLE.format(**names))
        elif vendor == "sqlite":
            for statement in SQLITE_TABLE:
                cursor.execute(statement.format(**names))


def remove(cursor: Any, vendor: str, tables: Iterable[str], *, functions: bool = False) -> None:
    """Drop the triggers of ``tables`` (migration rollback only); ``functions`` drops the shared
    PostgreSQL functions too, once no table uses them."""
    for table in tables:
        if vendor == "postgresql":
            cursor.execute(PG_TABLE_REMOVE.format(table=table))
        elif vendor == "sqlite":
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update;")
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete;")
    if functions and vendor == "postgresql":
        cursor.execute(PG_FUNCTIONS_REMOVE)


def allow_reset(cursor: Any, vendor: str) -> None:
    """Let a test database reset empty the tables; ``install`` restores the guard on SQLite."""
    if vendor == "postgresql":
        cursor.execute("SET crm.audit_maintenance = 'on'")
    elif vendor == "sqlite":
        for table in GUARDED:
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete;")
