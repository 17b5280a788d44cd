"""The audit trail in the database: append-only tables and a hash chain over their rows.

Guarded tables (``APPEND_ONLY``): the audit events (``crm_auditevent``), the Part 2 disclosure
ledger (``privacy_disclosure``) and the chain's links (``crm_auditchainlink``).

- **Append-only.** Triggers refuse UPDATE and DELETE of a row, whoever asks. TRUNCATE is refused
  too, except to the table's owner or a superuser: they could drop the trigger anyway, and
  Django's test database reset (a superuser) truncates every table. The application role gets
  neither TRUNCATE nor UPDATE nor DELETE on these tables (``crm.db_roles``), nor owns them, their
  triggers or these functions, so it can neither change the rows nor lift the guard.
- **Hash chain.** Every committed row of a chained table (``CHAINED``) gets one link in
  ``crm_auditchainlink``: its position, its table and id, and
  ``sha256(previous hash, position, table, the row as canonical JSON)`` (``chain_link``). The
  position is taken under the lock of the one head row (``crm_auditchainhead``), at commit, by a
  deferred constraint trigger: the chain's order is the order rows were committed in, whatever
  their ids (ids come from a sequence before any lock). A writer holds the head from its
  commit-time trigger to the end of its commit, so audited transactions commit one at a time;
  the trigger runs after the row's own foreign-key checks (trigger names sort after
  ``RI_ConstraintTrigger``), so it takes no other lock while holding the head.
  ``chain_verify`` walks the links and names the first row that was changed, deleted, or
  inserted outside the chain, even by a superuser; a superuser who rewrites the whole chain is
  caught by comparing with a head logged earlier (``privacy.tasks.audit_chain_head_log``).

The canonical JSON of a row is ``jsonb_strip_nulls(to_jsonb(row))::text`` with the time zone
UTC: PostgreSQL writes it, both when chaining and when verifying. A column added later to a
chained table must be nullable (NULL for the existing rows), or the older rows no longer verify.

PostgreSQL only. The functions are installed by migrations as the owner role.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

# table -> the words of the error message
APPEND_ONLY = {
    "crm_auditevent": "audit events",
    "privacy_disclosure": "disclosure ledger rows",
    "crm_auditchainlink": "audit chain links",
}
# chained table -> its time column (the order existing rows are chained in by a migration)
CHAINED = {"crm_auditevent": "at", "privacy_disclosure": "made_at"}
LINK_TABLE = "crm_auditchainlink"
HEAD_TABLE = "crm_auditchainhead"
GENESIS = "0" * 64

_GUARD_FUNCTIONS = """
CREATE OR REPLACE FUNCTION crm_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% are append-only', coalesce(TG_ARGV[0], 'audit events');
END;
$$;
CREATE OR REPLACE FUNCTION crm_audit_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Only who could drop this trigger anyway may empty the table (a test database reset).
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE')
    THEN
        RAISE EXCEPTION '% are append-only', coalesce(TG_ARGV[0], 'audit events');
    END IF;
    RETURN NULL;
END;
$$;
"""
_GUARD_TABLE = """
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION crm_audit_refuse_change('{label}');
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
CREATE TRIGGER {table}_no_truncate
    BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION crm_audit_refuse_truncate('{label}');
"""
_GUARD_TABLE_REMOVE = """
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
"""
_GUARD_FUNCTIONS_REMOVE = """
DROP FUNCTION IF EXISTS crm_audit_refuse_change();
DROP FUNCTION IF EXISTS crm_audit_refuse_truncate();
"""

# ``crm_audit_chain_link`` appends one link; it runs with its caller's rights, which only the
# owner has (the application role may not write the link or head tables), and nobody else may
# call it. The trigger function runs as its owner (SECURITY DEFINER), so an insert by the
# application role is chained; it cannot be called directly (a trigger function).
_CHAIN_FUNCTIONS = """
CREATE OR REPLACE FUNCTION crm_audit_chain_link(tbl text, row_id bigint, canonical text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    link text;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM {schema}.crm_auditchainhead WHERE id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO {schema}.crm_auditchainhead (id, seq, hash, at)
            VALUES (1, 0, repeat('0', 64), clock_timestamp()) ON CONFLICT (id) DO NOTHING;
        SELECT seq, hash INTO head_seq, head_hash FROM {schema}.crm_auditchainhead WHERE id = 1 FOR UPDATE;
    END IF;
    head_seq := head_seq + 1;
    link := encode(sha256(convert_to(
        head_hash || E'\\n' || head_seq::text || E'\\n' || tbl || E'\\n' || canonical, 'UTF8')), 'hex');
    INSERT INTO {schema}.crm_auditchainlink (seq, table_name, row_id, hash)
        VALUES (head_seq, tbl, row_id, link);
    UPDATE {schema}.crm_auditchainhead SET seq = head_seq, hash = link, at = clock_timestamp() WHERE id = 1;
    RETURN link;
END;
$$;
REVOKE ALL ON FUNCTION crm_audit_chain_link(text, bigint, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION crm_audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET timezone = 'UTC' AS $$
BEGIN
    PERFORM {schema}.crm_audit_chain_link(
        TG_TABLE_NAME::text, NEW.id, jsonb_strip_nulls(to_jsonb(NEW))::text);
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION crm_audit_chain() FROM PUBLIC;
"""
# Deferred: the link is written at commit, after the row's own (deferred) foreign-key checks.
_CHAIN_TABLE = """
DROP TRIGGER IF EXISTS {table}_chain ON {table};
CREATE CONSTRAINT TRIGGER {table}_chain
    AFTER INSERT ON {table}
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION crm_audit_chain();
"""
# Rows written before the chain existed, linked in the order they were written.
_CHAIN_BACKFILL = """
DO $$
DECLARE r record;
BEGIN
    SET LOCAL timezone = 'UTC';
    FOR r IN
        SELECT t.id, jsonb_strip_nulls(to_jsonb(t))::text AS canonical FROM {table} t
        WHERE NOT EXISTS (
            SELECT 1 FROM crm_auditchainlink l WHERE l.table_name = '{table}' AND l.row_id = t.id)
        ORDER BY t.{time_column}, t.id
    LOOP
        PERFORM crm_audit_chain_link('{table}', r.id, r.canonical);
    END LOOP;
END;
$$;
"""
_CHAIN_FUNCTIONS_REMOVE = """
DROP FUNCTION IF EXISTS crm_audit_chain();
DROP FUNCTION IF EXISTS crm_audit_chain_link(text, bigint, text);
"""


def install_append_only(cursor: Any, tables: Iterable[str]) -> None:
    """Create the append-only triggers on ``tables`` (idempotent)."""
    cursor.execute(_GUARD_FUNCTIONS)
    for table in tables:
        cursor.execute(_GUARD_TABLE.format(table=table, label=APPEND_ONLY[table]))


def remove_append_only(cursor: Any, tables: Iterable[str], *, functions: bool = False) -> None:
    """Drop the append-only triggers of ``tables`` (migration rollback only); ``functions`` drops
    the shared functions too, once no table uses them."""
    for table in tables:
        cursor.execute(_GUARD_TABLE_REMOVE.format(table=table))
    if functions:
        cursor.execute(_GUARD_FUNCTIONS_REMOVE)


def install_chain(cursor: Any, tables: Iterable[str]) -> None:
    """Chain every new row of ``tables``, and link the rows they already hold (idempotent)."""
    cursor.execute("SELECT quote_ident(current_schema())")
    schema = cursor.fetchone()[0]
    cursor.execute(_CHAIN_FUNCTIONS.replace("{schema}", schema))
    for table in tables:
        cursor.execute(_CHAIN_TABLE.format(table=table))
        cursor.execute(_CHAIN_BACKFILL.format(table=table, time_column=CHAINED[table]))


def remove_chain(cursor: Any, tables: Iterable[str], *, functions: bool = False) -> None:
    """Stop chaining ``tables`` (migration rollback only)."""
    for table in tables:
        cursor.execute(f"DROP TRIGGER IF EXISTS {table}_chain ON {table};")
    if functions:
        cursor.execute(_CHAIN_FUNCTIONS_REMOVE)


# --- verification ------------------------------------------------------------------------


def chain_link(previous: str, seq: int, table: str, canonical: str) -> str:
    """The hash of one link, as ``crm_audit_chain_link`` computes it in the database."""
    text = f"{previous}\n{seq}\n{table}\n{canonical}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass
class ChainReport:
    """What ``chain_verify`` found: the links checked, the head, and every problem in chain order."""

    links: int = 0
    head: ChainHead = field(default_factory=lambda: ChainHead(0, GENESIS))
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def chain_head() -> ChainHead:
    """The chain's last position and hash (position 0 and the genesis hash before any row)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT seq, hash FROM {HEAD_TABLE} WHERE id = 1")  # noqa: S608
        row = cursor.fetchone()
    return ChainHead(int(row[0]), str(row[1])) if row else ChainHead(0, GENESIS)


_WALK = """
SELECT l.seq, l.table_name, l.row_id, l.hash, CASE l.table_name {cases} END
FROM crm_auditchainlink l {joins}
WHERE l.seq <= %s
ORDER BY l.seq
"""


def _walk_sql() -> str:
    cases = " ".join(
        f"WHEN '{table}' THEN jsonb_strip_nulls(to_jsonb(t{n}))::text" for n, table in enumerate(CHAINED)
    )
    joins = " ".join(
        f"LEFT JOIN {table} t{n} ON l.table_name = '{table}' AND t{n}.id = l.row_id"
        for n, table in enumerate(CHAINED)
    )
    return _WALK.format(cases=cases, joins=joins)


def chain_verify(*, expect: Iterable[ChainHead] = ()) -> ChainReport:
    """Walk the chain from its first link to its head and recompute every hash.

    Reports, in chain order: a row changed after it was chained; a row deleted (its link
    dangles); links deleted or moved (a gap or a wrong hash at a position); the head not at the
    last link (links cut off the end); then rows that have no link at all (inserted while the
    chain was switched off, or moved in from elsewhere). ``expect``: heads logged earlier; the
    link at each position must still carry that hash, which catches a rewrite of the whole chain.
    """
    report = ChainReport()
    expected = {head.seq: head.hash for head in expect}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL timezone = 'UTC'")
        report.head = head = chain_head()
        previous, position = GENESIS, 0
        with connection.chunked_cursor() as cursor:
            cursor.execute(_walk_sql(), [head.seq])
            for seq, table, row_id, stored, canonical in cursor:
                report.links += 1
                if seq != position + 1:
                    report.problems.append(
                        f"links {position + 1} to {seq - 1} are missing: deleted, or the chain was cut there"
                    )
                where = f"position {seq} ({table} id {row_id})"
                if canonical is None:
                    report.problems.append(f"{where}: the row was deleted")
                elif chain_link(previous, seq, table, canonical) != stored:
                    report.problems.append(
                        f"{where}: the row does not match its hash: it was changed, or inserted or "
                        "moved here out of order"
                    )
                if seq in expected and expected.pop(seq) != stored:
                    report.problems.append(
                        f"{where}: the hash differs from the head logged for this position"
                    )
                previous, position = stored, seq
        if position != head.seq or previous != head.hash:
            report.problems.append(
                f"the chain ends at position {position} but its head says {head.seq}: "
                "the last links were deleted, or the head was changed"
            )
        for seq in sorted(expected):
            report.problems.append(f"position {seq}: logged as a head, but the chain has no such link")
        with connection.cursor() as cursor:
            for table in CHAINED:
                cursor.execute(
                    f"SELECT t.id FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM {LINK_TABLE} l "  # noqa: S608
                    f"WHERE l.table_name = %s AND l.row_id = t.id) ORDER BY t.id LIMIT 11",
                    [table],
                )
                loose = [row[0] for row in cursor.fetchall()]
                if loose:
                    more = " and more" if len(loose) > 10 else ""
                    ids = ", ".join(str(i) for i in loose[:10])
                    report.problems.append(
                        f"{table} ids {ids}{more} are not in the chain: inserted while it was switched off"
                    )
    return report
