"""Free text of screenings and inquiries is ciphertext in the database and plaintext in the app."""

from __future__ import annotations

import importlib
import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from admissions.models import Inquiry
from admissions.screening.models import Screening, ScreeningForm
from crm.fields import PREFIX, FieldDecryptionError, field_lookup_hash
from tests.factories import InquiryFactory

pytestmark = pytest.mark.django_db

MARKER_NOTE = "Marker-note-7731 drinks a fifth a day"
MARKER_REASON = "Marker-reason-5512 prefers the Asheville program"
MARKER_ANSWER = "Marker-answer-9043 heroin"
MARKER_MESSAGE = "Marker-message-2210 my son needs detox"


def _raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def screening(facility):  # type: ignore[no-untyped-def]
    inquiry = InquiryFactory(facility=facility, message=MARKER_MESSAGE)
    return Screening.objects.create(
        inquiry=inquiry,
        form=ScreeningForm.objects.get(version=1),
        answers={"substances": {"other_text": MARKER_ANSWER}, "count": 3},
        signoff_note=MARKER_NOTE,
        override_reason=MARKER_REASON,
    )


def test_database_holds_ciphertext_and_the_app_reads_plaintext(screening):
    for column, marker in [
        ("signoff_note", MARKER_NOTE),
        ("override_reason", MARKER_REASON),
        ("answers", MARKER_ANSWER),
    ]:
        raw = _raw("admissions_screening", column, screening.pk)
        assert raw.startswith(PREFIX), column
        assert marker not in raw, column
        assert "Marker" not in raw, column
    raw_message = _raw("admissions_inquiry", "message", screening.inquiry_id)
    assert raw_message.startswith(PREFIX)
    assert "Marker" not in raw_message

    fresh = Screening.objects.get(pk=screening.pk)
    assert fresh.signoff_note == MARKER_NOTE
    assert fresh.override_reason == MARKER_REASON
    assert fresh.answers == {"substances": {"other_text": MARKER_ANSWER}, "count": 3}
    assert Inquiry.objects.get(pk=screening.inquiry_id).message == MARKER_MESSAGE
    # values() and only() read through the field as well
    assert Screening.objects.filter(pk=screening.pk).values_list("answers", flat=True)[0]["count"] == 3


def test_empty_text_stays_empty_so_blank_checks_work(facility):
    inquiry = InquiryFactory(facility=facility, message="")
    assert _raw("admissions_inquiry", "message", inquiry.pk) == ""
    assert Inquiry.objects.filter(pk=inquiry.pk, message="").exists()


def test_same_plaintext_encrypts_differently(facility):
    a = InquiryFactory(facility=facility, message="same words")
    b = InquiryFactory(facility=facility, message="same words")
    assert _raw("admissions_inquiry", "message", a.pk) != _raw("admissions_inquiry", "message", b.pk)


def test_searching_inside_an_encrypted_column_is_refused():
    with pytest.raises(TypeError, match="cannot be searched"):
        Inquiry.objects.filter(message__icontains="detox").exists()


def test_a_wrong_key_fails_loudly(screening):
    with override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        with pytest.raises(FieldDecryptionError, match="does not decrypt"):
            Screening.objects.get(pk=screening.pk)
        with pytest.raises(FieldDecryptionError):
            Inquiry.objects.get(pk=screening.inquiry_id)


def test_plaintext_left_in_an_encrypted_column_fails_loudly(screening):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE admissions_screening SET signoff_note = 'left in clear' WHERE id = %s", [screening.pk]
        )
    with pytest.raises(FieldDecryptionError, match="never encrypted"):
        Screening.objects.get(pk=screening.pk)


def test_rotation_reencrypts_with_the_newest_key(screening, settings):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    before = _raw("admissions_screening", "signoff_note", screening.pk)

    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_field_keys", verbosity=0)
    after = _raw("admissions_screening", "signoff_note", screening.pk)
    assert after != before
    assert after.startswith(PREFIX)

    # Only the new key is needed now: the old one can be removed.
    settings.FIELD_ENCRYPTION_KEYS = [new]
    fresh = Screening.objects.get(pk=screening.pk)
    assert fresh.signoff_note == MARKER_NOTE
    assert fresh.answers["substances"]["other_text"] == MARKER_ANSWER
    assert Inquiry.objects.get(pk=screening.inquiry_id).message == MARKER_MESSAGE

    # And the old key alone no longer reads the rotated rows.
    settings.FIELD_ENCRYPTION_KEYS = [old]
    with pytest.raises(FieldDecryptionError):
        Screening.objects.get(pk=screening.pk)


def test_rotation_dry_run_changes_nothing(screening, settings):
    before = _raw("admissions_screening", "signoff_note", screening.pk)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), settings.FIELD_ENCRYPTION_KEYS[0]]
    call_command("rotate_field_keys", "--dry-run", verbosity=0)
    assert _raw("admissions_screening", "signoff_note", screening.pk) == before


def test_the_migration_encrypts_existing_plaintext_rows_and_reverses(screening):
    """Rows written before the columns were encrypted are converted in place."""
    migration = importlib.import_module("admissions.migrations.0013_field_encryption")
    answers = {"substances": {"other_text": MARKER_ANSWER}}
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE admissions_screening SET signoff_note = %s, override_reason = '', answers = %s "
            "WHERE id = %s",
            [MARKER_NOTE, json.dumps(answers), screening.pk],
        )
        cursor.execute(
            "UPDATE admissions_inquiry SET message = %s WHERE id = %s", [MARKER_MESSAGE, screening.inquiry_id]
        )

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection  # type: ignore[attr-defined]
    migration.encrypt_existing(None, editor)
    assert _raw("admissions_screening", "signoff_note", screening.pk).startswith(PREFIX)
    assert _raw("admissions_screening", "override_reason", screening.pk) == ""
    fresh = Screening.objects.get(pk=screening.pk)
    assert fresh.signoff_note == MARKER_NOTE
    assert fresh.answers == answers
    assert Inquiry.objects.get(pk=screening.inquiry_id).message == MARKER_MESSAGE

    # Running it again changes nothing (already encrypted rows are skipped).
    raw = _raw("admissions_screening", "signoff_note", screening.pk)
    migration.encrypt_existing(None, editor)
    assert _raw("admissions_screening", "signoff_note", screening.pk) == raw

    migration.decrypt_existing(None, editor)
    assert _raw("admissions_screening", "signoff_note", screening.pk) == MARKER_NOTE
    assert json.loads(_raw("admissions_screening", "answers", screening.pk)) == answers


def test_lookup_hash_is_keyed_and_stable(settings):
    assert field_lookup_hash("x") == field_lookup_hash("x")
    first = field_lookup_hash("x")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert field_lookup_hash("x") != first
