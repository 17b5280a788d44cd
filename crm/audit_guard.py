"""Database triggers that make the audit table append-only (PostgreSQL and SQLite)."""

from __future__ import annotations

from typing import Any

PG_INSTALL = """
CREATE OR REPLACE FUNCTION crm_audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
-- TRUNCATE is refused too, unless the session declares maintenance (a test
-- database being reset) with SET crm.audit_maintenance = 'on'.
CREATE OR REPLACE FUNCTION crm_audit_refuse_truncate() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('crm.audit_maintenance', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit events are append-only';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS crm_auditevent_append_only ON crm_auditevent;
CREATE TRIGGER crm_auditevent_append_only
    BEFORE UPDATE OR DELETE ON crm_auditevent
    FOR EACH ROW EXECUTE FUNCTION crm_audit_refuse_change();
DROP TRIGGER IF EXISTS crm_auditevent_no_truncate ON crm_auditevent;
CREATE TRIGGER crm_auditevent_no_truncate
    BEFORE TRUNCATE ON crm_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION crm_audit_refuse_truncate();
"""
PG_REMOVE = """
DROP TRIGGER IF EXISTS crm_auditevent_append_only ON crm_auditevent;
DROP TRIGGER IF EXISTS crm_auditevent_no_truncate ON crm_auditevent;
DROP FUNCTION IF EXISTS crm_audit_refuse_change();
DROP FUNCTION IF EXISTS crm_audit_refuse_truncate();
"""
SQLITE_INSTALL = (
    "CREATE TRIGGER IF NOT EXISTS crm_auditevent_no_update BEFORE UPDATE ON crm_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;",
    "CREATE TRIGGER IF NOT EXISTS crm_auditevent_no_delete BEFORE DELETE ON crm_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;",
)
SQLITE_DELETE_TRIGGER = "crm_auditevent_no_delete"
SQLITE_REMOVE = (
    "DROP TRIGGER IF EXISTS crm_auditevent_no_update;",
    f"DROP TRIGGER IF EXISTS {SQLITE_DELETE_TRIGGER};",
)


def install(cursor: Any, vendor: str) -> None:
    """Create the triggers (idempotent)."""
    if vendor == "postgresql":
        cursor.execute(PG_INSTALL)
    elif vendor == "sqlite":
        for statement in SQLITE_INSTALL:
            cursor.execute(statement)


def remove(cursor: Any, vendor: str) -> None:
    """Drop the triggers (migration rollback only)."""
    if vendor == "postgresql":
        cursor.execute(PG_REMOVE)
    elif vendor == "sqlite":
        for statement in SQLITE_REMOVE:
            cursor.execute(statement)


def allow_reset(cursor: Any, vendor: str) -> None:
    """Let a test database reset empty the table; ``install`` restores the guard on SQLite."""
    if vendor == "postgresql":
        cursor.execute("SET crm.audit_maintenance = 'on'")
    elif vendor == "sqlite":
        cursor.execute(f"DROP TRIGGER IF EXISTS {SQLITE_DELETE_TRIGGER};")
