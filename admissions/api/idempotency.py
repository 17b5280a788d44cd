"""``Idempotency-Key`` handling: the claim, the replay, and the result stored with the lead.

The claim (``TransactionClaim``) is a transaction-scoped advisory lock on
(API key, Idempotency-Key), taken as the first statement of the lead's own transaction.
A concurrent request with the same key cannot take it and gets 409 (422 if its body
differs: a second lock on (key, body hash) tells the two apart) without waiting. The
record, with the result, is inserted by the lead's transaction, so a lead and its
idempotency result commit together in one commit; the unique constraint on
(API key, key) still backs the lock up.

Records keep the inquiry id and a hash of the body, never the body, for 72 hours.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from admissions.api.errors import IdempotencyKeyInFlight, IdempotencyKeyReused
from admissions.leads import LeadResult, public_stage
from admissions.models import IdempotencyRecord, LeadSourceKey

HEADER = "Idempotency-Key"
RETENTION = timedelta(hours=72)
# A claim older than this whose request never finished (the process died) is taken over.
STALE_CLAIM = timedelta(seconds=60)
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class Replay:
    """The response first given for this key and body."""

    status: int
    body: dict[str, Any]


class ReplayInstead(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside the lead's transaction (rolling it back) when the key already has a result."""

    def __init__(self, replay: Replay) -> None:
        super().__init__("replay")
        self.replay = replay


def idempotency_key_from(headers: Any) -> str | None:
    """The Idempotency-Key header, or None; a malformed key is a 400."""
    value = headers.get(HEADER)
    if value is None:
        return None
    if not _VALID_KEY.match(value):
        raise ValidationError(
            {HEADER: ["Use 1 to 255 printable ASCII characters without spaces (a UUID is ideal)."]}
        )
    return str(value)


def request_fingerprint(data: dict[str, Any]) -> str:
    """SHA-256 of the body as canonical JSON: key order and whitespace do not matter."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_claim(*, api_key: LeadSourceKey, key: str, fingerprint: str) -> IdempotencyRecord | Replay:
    """Claim ``key`` for this request, or say how to answer: replay, 409 or 422."""
    for _ in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    api_key=api_key,
                    key=key,
                    request_hash=fingerprint,
                    created_at=now,
                    expires_at=now + RETENTION,
                )
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
        if existing is None:
            continue  # released in between: claim again
        if existing.expires_at <= now or (
            existing.response_status is not None and existing.inquiry_id is None
        ):
            IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        if existing.response_status is None:
            if existing.created_at < now - STALE_CLAIM:
                taken = IdempotencyRecord.objects.filter(
                    pk=existing.pk, response_status__isnull=True, created_at=existing.created_at
                ).update(created_at=now, expires_at=now + RETENTION)
                if taken:
                    existing.created_at, existing.expires_at = now, now + RETENTION
                    return existing
            raise IdempotencyKeyInFlight()
        return Replay(status=existing.response_status, body=_body_of(existing))
    raise IdempotencyKeyInFlight()


def _body_of(record: IdempotencyRecord) -> dict[str, Any]:
    if record.result == "created":
        return {"id": record.inquiry_id, "status": "created", "stage": record.stage}
    return {"id": record.inquiry_id, "status": record.result}


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Give a claim back when the request ended without a result (invalid body, error)."""
    IdempotencyRecord.objects.filter(pk=record.pk, response_status__isnull=True).delete()


# --- PostgreSQL: the claim is part of the lead's transaction ----------------------------------------

_LOCK_NAMESPACE = "admissions.lead-api.idempotency"


def _lock_id(*parts: object) -> int:
    """A signed 64-bit advisory lock id for these parts (namespaced, so it collides with no other lock)."""
    digest = hashlib.blake2b(repr((_LOCK_NAMESPACE, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class TransactionClaim:
    """An Idempotency-Key claimed inside the lead's own transaction (PostgreSQL)."""

    api_key: LeadSourceKey
    key: str
    fingerprint: str

    def _probe(self) -> tuple[bool, bool, IdempotencyRecord | None]:
        """Take the key's lock and the (key, body) lock, without waiting, and read the key's record.
        Advisory locks have no ORM expression: this is the one statement that takes them."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(%s), pg_try_advisory_xact_lock(%s)",
                [_lock_id(self.api_key.pk, self.key), _lock_id(self.api_key.pk, self.key, self.fingerprint)],
            )
            locked, body_locked = cursor.fetchone()
        record = IdempotencyRecord.objects.filter(api_key=self.api_key, key=self.key).first()
        return locked, body_locked, record

    def _answer(self, locked: bool, body_lock: bool, record: IdempotencyRecord | None) -> Replay | None:
        """Raise 409 or 422, return the replay, or None when the key is free to use."""
        if not locked:
            # Another request with this key is inside its transaction right now. It holds the lock
            # on (key, its body) too: if ours is free the bodies differ.
            raise IdempotencyKeyReused() if body_lock else IdempotencyKeyInFlight()
        if record is None:
            return None
        now = timezone.now()
        if record.expires_at <= now or (record.response_status is not None and record.inquiry_id is None):
            return None
        if record.request_hash != self.fingerprint:
            raise IdempotencyKeyReused()
        if record.response_status is None:
            # A claim committed ahead of its request (as on SQLite) that is still running.
            if record.created_at < now - STALE_CLAIM:
                return None
            raise IdempotencyKeyInFlight()
        return Replay(status=record.response_status, body=_body_of(record))

    def check(self) -> None:
        """In the lead's transaction, before anything is written: claim the key, or refuse, or
        replay."""
        locked, body_lock, record = self._probe()
        replay = self._answer(locked, body_lock, record)
        if replay is not None:
            raise ReplayInstead(replay)
        if record is not None:
            # Expired, unusable or abandoned: this request takes the key over.
            IdempotencyRecord.objects.filter(pk=record.pk).delete()

    def complete(self, result: LeadResult) -> None:
        """Store the result in the lead's transaction; the lock is released when it commits."""
        now = timezone.now()
        IdempotencyRecord.objects.create(
            api_key=self.api_key,
            key=self.key,
            request_hash=self.fingerprint,
            inquiry_id=result.inquiry.pk,
            response_status=result.response_status,
            result=result.status,
            stage=public_stage(result.inquiry.stage),
            created_at=now,
            expires_at=now + RETENTION,
        )

    def answer_for_invalid_body(self) -> Replay | None:
        """For a body that failed validation: what a claim would have answered (409, 422, replay),
        or None for the 400. Nothing is written and no lock outlives the statement."""
        locked, body_lock, record = self._probe()
        return self._answer(locked, body_lock, record)

    def release(self) -> None:
        """Nothing to give back: the lock ends with the transaction."""


def idempotency_begin(*, api_key: LeadSourceKey, key: str, fingerprint: str) -> TransactionClaim:
    """The claim for this request's key, taken in the lead's own transaction."""
    return TransactionClaim(api_key=api_key, key=key, fingerprint=fingerprint)
