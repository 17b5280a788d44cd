"""Every foreign key keeps an index that its lookups can use, and the indexes a new lead writes
stay lean: a key that most rows leave empty is indexed without its empty rows."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

# Foreign keys a new inquiry (and what comes with it) leaves empty.
MOSTLY_EMPTY_KEYS = {
    ("admissions_inquiry", "program_of_interest_id"),
    ("admissions_inquiry", "approved_level_id"),
    ("admissions_inquiry", "approved_program_id"),
    ("admissions_inquiry", "admitted_program_id"),
    ("admissions_inquiry", "capacity_hold_id"),
    ("admissions_inquiry", "duplicate_of_id"),
    ("admissions_inquiry", "caller_id"),
    ("admissions_inquiry", "campaign_id"),
    ("admissions_inquiry", "referral_partner_id"),
    ("admissions_touch", "campaign_id"),
    ("admissions_touch", "referral_partner_id"),
    ("admissions_inquiryevent", "actor_id"),
    ("admissions_followup", "cadence_step_id"),
    ("admissions_contactconsent", "captured_by_id"),
    ("admissions_insurancepolicy", "payer_id"),
}

# (table, column) of every foreign key, with the indexes whose first column it is: (predicate or None).
_FOREIGN_KEY_INDEXES = """
    SELECT c.conrelid::regclass::text, a.attname,
           array_remove(array_agg(CASE WHEN i.indexrelid IS NULL THEN NULL
                                       ELSE coalesce(pg_get_expr(i.indpred, i.indrelid), '') END), NULL)
    FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    LEFT JOIN pg_index i ON i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1]
    WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
      AND c.conrelid::regclass::text LIKE 'admissions\\_%%'
    GROUP BY 1, 2
"""


def _foreign_key_indexes() -> dict[tuple[str, str], list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(_FOREIGN_KEY_INDEXES)
        return {(table, column): predicates for table, column, predicates in cursor.fetchall()}


def test_every_foreign_key_of_admissions_leads_an_index_its_lookups_can_use():
    keys = _foreign_key_indexes()
    assert ("admissions_inquiry", "facility_id") in keys
    usable = {"", *(f"({column} IS NOT NULL)" for _, column in keys)}
    unindexed = sorted(key for key, predicates in keys.items() if not set(predicates) & usable)
    assert unindexed == []


def test_keys_most_new_rows_leave_empty_take_no_index_entry_for_them():
    keys = _foreign_key_indexes()
    for table, column in sorted(MOSTLY_EMPTY_KEYS):
        assert keys[(table, column)] == [f"({column} IS NOT NULL)"], (table, column)


def test_a_new_inquiry_writes_no_redundant_index():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_index"
            " WHERE indrelid = 'admissions_inquiry'::regclass AND indpred IS NULL"
        )
        (full_indexes,) = cursor.fetchone()
    # primary key, queue, owner, created, stage changed, source, person (the only single-key index
    # left: a person's closed inquiries are looked up too)
    assert full_indexes == 7
