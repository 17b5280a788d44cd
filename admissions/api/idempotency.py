"""``Idempotency-Key`` handling: claim the key in its own short transaction, complete it with the lead.

The claim is a unique insert committed before any work starts, so a concurrent
request with the same key sees it (409) on PostgreSQL and SQLite alike. The
result is written by ``lead_ingest`` in the lead's own transaction, so a lead
and its idempotency result commit together. Records keep the inquiry id and a
hash of the body, never the body, for 72 hours.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from admissions.api.errors import IdempotencyKeyInFlight, IdempotencyKeyReused
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


def idempotency_records_purge() -> int:
    """Delete records past their 72 hours; returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
