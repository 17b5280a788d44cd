"""Two database roles: the owner runs migrations, the application role runs web, worker and beat.

The owner is whatever role ``DATABASE_URL`` connects as when ``manage.py migrate`` runs: it
creates, and so owns, every table, sequence, trigger and function. ``DATABASE_APP_ROLE`` names
the application role; after every ``migrate`` (``post_migrate``, idempotent) the owner gives it:

- USAGE on the schema;
- SELECT, INSERT, UPDATE, DELETE on every table of the schema, and USAGE on every sequence;
- on the append-only tables (``crm.audit_guard.APPEND_ONLY``: audit events, the Part 2
  disclosure ledger) only SELECT and INSERT; on the chain's links and head, which only the
  chain's trigger writes (as the owner), and on ``django_migrations`` only SELECT;
- nothing else: no TRUNCATE, REFERENCES or TRIGGER, no ownership, so it cannot alter or drop
  the tables, their triggers or the guard functions. Grants it held before are revoked first.

``migrate`` refuses to run as the application role, and refuses an application role that is a
superuser, may create roles, is a member of the owner, or owns anything in the schema.
An empty ``DATABASE_APP_ROLE`` (local development) means one role does everything: no grants.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from psycopg import sql

from crm.audit_guard import APPEND_ONLY, HEAD_TABLE, LINK_TABLE

READ_ONLY_TABLES = (LINK_TABLE, HEAD_TABLE, "django_migrations")


def app_role_problems(cursor: Any, role: str) -> list[str]:
    """Why ``role`` cannot be the application role of the database ``cursor`` is connected to
    as its owner; empty when it can."""
    cursor.execute(
        "SELECT oid, rolsuper, rolcreaterole, current_user, pg_has_role(%s, current_user, 'MEMBER') "
        "FROM pg_roles WHERE rolname = %s",
        [role, role],
    )
    row = cursor.fetchone()
    if row is None:
        return [f"the role {role!r} does not exist; create it (docs/deployment.md)"]
    oid, superuser, createrole, owner, member_of_owner = row
    if role == owner:
        return [
            f"migrate connects as the application role {role!r}: run it as the owner role "
            "(DATABASE_URL naming the owner, DATABASE_APP_ROLE the application role)"
        ]
    problems = []
    if superuser:
        problems.append(f"{role!r} is a superuser")
    if createrole:
        problems.append(f"{role!r} may create roles (CREATEROLE)")
    if member_of_owner:
        problems.append(f"{role!r} is a member of the owner role {owner!r}")
    cursor.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relowner = %s "
        "AND c.relnamespace = current_schema()::regnamespace "
        "UNION ALL SELECT p.proname FROM pg_proc p WHERE p.proowner = %s "
        "AND p.pronamespace = current_schema()::regnamespace ORDER BY 1 LIMIT 5",
        [oid, oid],
    )
    owned = [name for (name,) in cursor.fetchall()]
    if owned:
        problems.append(
            f"{role!r} owns {', '.join(owned)}: make the owner role own them "
            f"(REASSIGN OWNED BY {role} TO {owner}, as a superuser)"
        )
    return problems


def app_role_grant(*, using: str = "default", role: str | None = None) -> None:
    """Give the application role exactly its rights on the database ``using`` connects to, as the
    owner (see the module's notes); raises ``ImproperlyConfigured`` for an unfit role."""
    role = settings.DATABASE_APP_ROLE if role is None else role
    if not role:
        return
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        problems = app_role_problems(cursor, role)
        if problems:
            raise ImproperlyConfigured(f"DATABASE_APP_ROLE: {'; '.join(problems)}.")
        cursor.execute("SELECT current_schema()")
        schema = sql.Identifier(cursor.fetchone()[0])
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind IN ('r', 'p') "
            "AND c.relnamespace = current_schema()::regnamespace"
        )
        tables = {name for (name,) in cursor.fetchall()}
        app = sql.Identifier(role)
        statements = [
            sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema, app),
            sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(schema, app),
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, app),
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
                schema, app
            ),
            sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, app),
        ]
        for table in sorted(APPEND_ONLY.keys() & tables):
            statements.append(
                sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(sql.Identifier(table), app)
            )
        for table in sorted(set(READ_ONLY_TABLES) & tables):
            statements.append(
                sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {} FROM {}").format(sql.Identifier(table), app)
            )
        for statement in statements:
            cursor.execute(statement.as_string(cursor.connection))


def refuse_migrating_as_app_role(*, using: str = "default", **kwargs: Any) -> None:
    """``pre_migrate``: tables made by the application role would be its own to alter."""
    role = settings.DATABASE_APP_ROLE
    if not role:
        return
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] == role:
            raise ImproperlyConfigured(
                f"migrate connects as the application role {role!r}: run it as the owner role "
                "(DATABASE_URL naming the owner, DATABASE_APP_ROLE the application role)."
            )


def grant_after_migrate(*, using: str = "default", verbosity: int = 1, **kwargs: Any) -> None:
    """``post_migrate``: re-grant the application role after every ``migrate``."""
    role = settings.DATABASE_APP_ROLE
    if not role:
        return
    app_role_grant(using=using, role=role)
    if verbosity >= 1:
        print(f"  Granted the application role {role!r} its rights.")  # noqa: T201


def check_app_role_set(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """System check: in production, web, worker and beat should not run as the owner role."""
    if not settings.PRODUCTION or settings.DATABASE_APP_ROLE:
        return []
    return [
        Warning(
            "DATABASE_APP_ROLE is empty: migrations grant no application role, so web, worker and "
            "beat run as the role that owns the tables and could erase the audit trail.",
            hint="Create an owner and an application role, run migrate as the owner with "
            "DATABASE_APP_ROLE naming the application role, and run the processes as the application "
            "role (docs/deployment.md).",
            id="crm.W001",
        )
    ]
