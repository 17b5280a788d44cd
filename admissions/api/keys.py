"""API keys of lead sources: created, shown once, stored as a hash, revoked."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from admissions.models import LeadSource, LeadSourceKey

if TYPE_CHECKING:
    from crm.models import User

KEY_PREFIX = "lsk_"


def lead_source_key_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lead_source_key_prefix(token: str) -> str | None:
    """The visible prefix of a token, or None when the token is not shaped like a key."""
    if not token.startswith(KEY_PREFIX) or len(token) > 128:
        return None
    prefix, sep, secret = token.partition(".")
    if not sep or len(prefix) != len(KEY_PREFIX) + 8 or len(secret) < 20:
        return None
    return prefix


def lead_source_key_create(
    *,
    lead_source: LeadSource,
    label: str = "",
    valid_days: int = 365,
    expires_at: datetime | None = None,
    rate_limit_per_minute: int = 120,
    created_by: User | None = None,
) -> tuple[LeadSourceKey, str]:
    """Create an API key; returns the row and the token, which is shown once and never stored."""
    for _ in range(5):
        prefix = KEY_PREFIX + secrets.token_hex(4)
        token = f"{prefix}.{secrets.token_urlsafe(32)}"
        if not LeadSourceKey.objects.filter(prefix=prefix).exists():
            break
    key = LeadSourceKey.objects.create(
        lead_source=lead_source,
        label=label,
        prefix=prefix,
        key_hash=lead_source_key_hash(token),
        expires_at=expires_at or timezone.now() + timedelta(days=valid_days),
        rate_limit_per_minute=rate_limit_per_minute,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )
    return key, token


def lead_source_key_revoke(*, key: LeadSourceKey) -> LeadSourceKey:
    """Revoke an API key now; requests with it get 401 from then on."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        LeadSourceKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=key.revoked_at)
    return key
