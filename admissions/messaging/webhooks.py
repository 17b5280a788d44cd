"""Twilio-style webhook signatures (HMAC-SHA1 over the URL plus the sorted form fields, base64) and replays.

Twilio's signature covers the URL and every form field but no time, so a
captured request stays valid for ever. Two defences, both per request:

- a signed timestamp, when the request carries one (a ``Timestamp`` form field,
  Unix seconds or ISO 8601, added by some Twilio-compatible providers; being a
  form field it is covered by the signature): refused outside
  ``SMS_WEBHOOK_REPLAY_WINDOW_SECONDS`` either way (clock skew). With
  ``SMS_WEBHOOK_REQUIRE_TIMESTAMP`` a request without one is refused too.
- the signature itself: a signature is deterministic, so a replay carries the
  one already seen. Seen signatures are remembered (in the cache) for the
  window and a second request with one is refused. Past the window the
  durable checks hold: an inbound text's ``MessageSid`` is unique in the
  database, and a status callback can never move a status backwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)


def webhook_signature(*, url: str, params: Mapping[str, str], auth_token: str) -> str:
    """The signature a provider puts in ``X-Twilio-Signature`` for a form POST to ``url``."""
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def webhook_signature_valid(*, url: str, params: Mapping[str, str], auth_token: str, signature: str) -> bool:
    """Constant-time check of a webhook signature; an empty token never validates."""
    if not auth_token or not signature:
        return False
    expected = webhook_signature(url=url, params=params, auth_token=auth_token)
    return hmac.compare_digest(expected.encode(), signature.encode())


def webhook_timestamp(params: Mapping[str, str]) -> datetime | None:
    """The signed ``Timestamp`` form field as an aware datetime, or None when absent or unreadable."""
    raw = (params.get("Timestamp") or "").strip()
    if not raw:
        return None
    try:
        return datetime.fromtimestamp(float(raw), tz=UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def webhook_timestamp_problem(params: Mapping[str, str], *, now: datetime) -> str:
    """Why the request's timestamp is not acceptable, or "" when it is (or when none is required)."""
    window = settings.SMS_WEBHOOK_REPLAY_WINDOW_SECONDS
    if not (params.get("Timestamp") or "").strip():
        return "missing Timestamp" if settings.SMS_WEBHOOK_REQUIRE_TIMESTAMP else ""
    stamp = webhook_timestamp(params)
    if stamp is None:
        return "unreadable Timestamp"
    if abs((now - stamp).total_seconds()) > window:
        return "Timestamp outside the replay window"
    return ""


def _seen_key(signature: str) -> str:
    return "sms-webhook-seen:" + hashlib.sha256(signature.encode()).hexdigest()


def webhook_signature_claim(signature: str) -> bool:
    """Remember a signature for the replay window; False if it was seen already (a replay).

    If the cache is unreachable the request goes on (True): refusing it would
    lose a STOP, and the durable checks (unique MessageSid, statuses that never
    go backwards) still stop a replay from acting twice.
    """
    try:
        return bool(cache.add(_seen_key(signature), 1, timeout=settings.SMS_WEBHOOK_REPLAY_WINDOW_SECONDS))
    except Exception:  # noqa: BLE001 - any cache failure: fall back on the durable checks
        log.warning("webhook replay memory unavailable; relying on the durable checks", exc_info=True)
        return True


def webhook_signature_forget(signature: str) -> None:
    """Forget a signature whose request failed, so the provider's retry of it is accepted."""
    try:
        cache.delete(_seen_key(signature))
    except Exception:  # noqa: BLE001 - nothing to forget if the cache is gone
        log.warning("webhook replay memory unavailable", exc_info=True)
