"""Writing generated rows with COPY, and loading a large run without per-row index and key upkeep."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models
from django.db.models import NOT_PROVIDED, Max

from admissions.messaging.models import MessagingHold
from admissions.models import (
    Caller,
    ContactConsent,
    FollowUp,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    Person,
    Touch,
)
from admissions.screening.models import Screening
from admissions.services import TOUCH_ATTRIBUTION_FIELDS
from crm.fields import EncryptedJSONField, EncryptedTextField
from demo.catalogue import STAMP_FIELDS
from programs.models import CapacityHold

Progress = Callable[[str], None]

# --- writing rows -----------------------------------------------------------------------


ENCRYPTED_FIELDS = (EncryptedTextField, EncryptedJSONField)


class Sink:
    """Writes rows of one model with COPY."""

    def write(self, model: type[models.Model], cols: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (values in ``cols`` order, attnames) into ``model``'s table."""
        if not rows:
            return
        fields = {f.attname: f for f in model._meta.concrete_fields}
        extra_cols, extra = column_defaults(model, cols)
        if extra_cols:
            cols = (*cols, *extra_cols)
            rows = [row + extra for row in rows]
        # Columns encrypted at rest get the field's own stored form (the raw write bypasses it).
        sealed = [i for i, c in enumerate(cols) if isinstance(fields[c], ENCRYPTED_FIELDS)]
        if sealed:
            rows = [
                tuple(
                    fields[cols[i]].get_prep_value(v) if i in sealed and v is not None else v
                    for i, v in enumerate(row)
                )
                for row in rows
            ]
        table = connection.ops.quote_name(model._meta.db_table)
        names = ", ".join(connection.ops.quote_name(fields[c].column) for c in cols)
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)


def column_defaults(
    model: type[models.Model], cols: Sequence[str]
) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """Columns the generator does not fill, with their model defaults.

    The database has no defaults for Django's Python-side ones, so a field added to a
    model later still gets a valid value here instead of breaking the seeder.
    """
    names: list[str] = []
    values: list[Any] = []
    for f in model._meta.concrete_fields:
        if f.attname in cols or f.primary_key or f.db_default is not NOT_PROVIDED:
            continue
        if f.null and not f.has_default():
            continue  # NULL is the column default
        value = f.get_default()
        names.append(f.attname)
        plain_json = isinstance(value, dict | list) and not isinstance(f, ENCRYPTED_FIELDS)
        values.append(json.dumps(value) if plain_json else value)
    return tuple(names), tuple(values)


def next_id(model: type[models.Model]) -> int:
    return (model._default_manager.aggregate(m=Max("pk"))["m"] or 0) + 1


def sync_sequence(model: type[models.Model]) -> None:
    """After writing explicit ids, move the id sequence past them."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'id'), "  # noqa: S608 - table from _meta
            f"GREATEST((SELECT MAX(id) FROM {connection.ops.quote_name(table)}), 1))",
            [table],
        )


BULK_MODELS: tuple[type[models.Model], ...] = (
    Person,
    Caller,
    CapacityHold,
    Inquiry,
    Inquiry.substances.through,
    Touch,
    InsurancePolicy,
    ContactConsent,
    InquiryEvent,
    FollowUp,
    Screening,
    MessagingHold,
)


@contextmanager
def bulk_tables(progress: Progress | None) -> Iterator[None]:
    """Drop the bulk tables' foreign keys and secondary indexes; rebuild them on the way out.

    PostgreSQL's own advice for loading a lot of data: per-row foreign key triggers and
    index updates cost more than one validating pass and one index build at the end. It
    must run inside the caller's transaction, so a failure restores everything; primary
    keys, unique constraints and partial or expression indexes (small, and their definitions
    would not read back verbatim) stay.
    """
    qn = connection.ops.quote_name
    foreign_keys: list[tuple[str, str, str]] = []
    indexes: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks before ALTER TABLE
        for model in BULK_MODELS:
            table = model._meta.db_table
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
                [table],
            )
            foreign_keys += [(table, name, definition) for name, definition in cursor.fetchall()]
            cursor.execute(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary "
                "AND x.indpred IS NULL AND x.indexprs IS NULL AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY 1",
                [table],
            )
            for name, definition in cursor.fetchall():
                indexes.append(definition)
                cursor.execute(f"DROP INDEX {qn(name)}")
        for table, name, _definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT {qn(name)}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    yield
    if progress:
        progress(f"rebuilding {len(indexes)} indexes and {len(foreign_keys)} foreign keys")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem TO '256MB'")
        for definition in indexes:
            cursor.execute(definition)
        for table, name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(name)} {definition}")


PERSON_COLS = (
    "id",
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "phone",
    "email",
    "street",
    "city",
    "state",
    "postal_code",
    "time_zone",
    "preferred_language",
    "ok_to_voicemail",
    "ok_to_text",
    "created_at",
)
CALLER_COLS = (
    "id",
    "relationship",
    "relationship_detail",
    "name",
    "phone",
    "email",
    "organisation",
)
HOLD_COLS = (
    "id",
    "program_id",
    "reference",
    "held_from",
    "held_until",
    "created_at",
    "released_at",
    "release_reason",
)
INQUIRY_COLS = (
    "id",
    "person_id",
    "caller_id",
    "facility_id",
    "channel",
    "lead_source_id",
    "campaign_id",
    "referral_partner_id",
    "external_id",
    "phone",
    "email",
    "message",
    "program_of_interest_id",
    "assigned_to_id",
    "assigned_at",
    "stage",
    "stage_changed_at",
    "created_at",
    *STAMP_FIELDS,
    "approved_level_id",
    "approved_program_id",
    "admission_date",
    "capacity_hold_id",
    "admitted_program_id",
    "lost_reason",
    "referred_out_to",
    "close_note",
    "duplicate_of_id",
    "has_red_flag",
)
SUBSTANCE_COLS = ("inquiry_id", "substance_id")
TOUCH_COLS = (
    "inquiry_id",
    "at",
    "channel",
    "lead_source_id",
    "campaign_id",
    "referral_partner_id",
    *TOUCH_ATTRIBUTION_FIELDS,
)
POLICY_COLS = (
    "inquiry_id",
    "rank",
    "payer_id",
    "payer_name",
    "member_id",
    "group_number",
    "subscriber_name",
    "subscriber_date_of_birth",
    "subscriber_relationship",
    "vob_status",
    "vob_requested_at",
    "vob_completed_at",
    "in_network",
    "deductible_remaining",
    "out_of_pocket_remaining",
    "authorization_required",
    "vob_notes",
)
CONSENT_COLS = (
    "person_id",
    "medium",
    "address",
    "source",
    "consent_text",
    "captured_at",
    "captured_by_id",
    "ip",
    "page_url",
    "revoked_at",
    "revocation_source",
)
EVENT_COLS = (
    "inquiry_id",
    "at",
    "kind",
    "actor_id",
    "actor_label",
    "call_direction",
    "call_outcome",
    "body",
    "data",
)
FOLLOWUP_COLS = (
    "inquiry_id",
    "kind",
    "due_at",
    "state",
    "dedupe_key",
    "attempts",
    "lease_until",
    "created_at",
    "finished_at",
    "outcome",
)


SCREENING_COLS = (
    "id",
    "inquiry_id",
    "form_id",
    "answers",
    "complete",
    "result",
    "provisional_level_id",
    "minimum_intensity",
    "safety_flags",
    "has_red_flag",
    "created_at",
    "saved_at",
    "saved_by_id",
    "final_level_id",
    "signed_by_id",
    "signed_at",
)
MESSAGING_HOLD_COLS = ("id", "person_id", "inquiry_id", "reason", "started_at", "started_by_id")


@dataclass
class Batch:
    """Rows of one chunk, per table."""

    persons: list[tuple[Any, ...]] = field(default_factory=list)
    callers: list[tuple[Any, ...]] = field(default_factory=list)
    holds: list[tuple[Any, ...]] = field(default_factory=list)
    inquiries: list[tuple[Any, ...]] = field(default_factory=list)
    substances: list[tuple[Any, ...]] = field(default_factory=list)
    touches: list[tuple[Any, ...]] = field(default_factory=list)
    policies: list[tuple[Any, ...]] = field(default_factory=list)
    consents: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    followups: list[tuple[Any, ...]] = field(default_factory=list)
    screenings: list[tuple[Any, ...]] = field(default_factory=list)
    messaging_holds: list[tuple[Any, ...]] = field(default_factory=list)

    def write(self, sink: Sink) -> Counter[str]:
        """Write every table in dependency order; returns row counts."""
        plan: tuple[tuple[str, type[models.Model], Sequence[str], list[tuple[Any, ...]]], ...] = (
            ("people", Person, PERSON_COLS, self.persons),
            ("callers", Caller, CALLER_COLS, self.callers),
            ("capacity holds", CapacityHold, HOLD_COLS, self.holds),
            ("inquiries", Inquiry, INQUIRY_COLS, self.inquiries),
            ("inquiry substances", Inquiry.substances.through, SUBSTANCE_COLS, self.substances),
            ("touches", Touch, TOUCH_COLS, self.touches),
            ("insurance policies", InsurancePolicy, POLICY_COLS, self.policies),
            ("contact consents", ContactConsent, CONSENT_COLS, self.consents),
            ("timeline events", InquiryEvent, EVENT_COLS, self.events),
            ("follow-ups", FollowUp, FOLLOWUP_COLS, self.followups),
            ("pre-screens", Screening, SCREENING_COLS, self.screenings),
            ("messaging holds", MessagingHold, MESSAGING_HOLD_COLS, self.messaging_holds),
        )
        counts: Counter[str] = Counter()
        for label, model, cols, rows in plan:
            sink.write(model, cols, rows)
            counts[label] += len(rows)
        return counts
