"""Signed deliveries of the fixture payloads, shifted to the present, as each service sends them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from admissions.calls.models import CallTrackingSource

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "whsec-test-0123456789abcdef"  # noqa: S105 - synthetic


def payload(name: str, *, started: datetime | None = None, **changes: Any) -> dict[str, Any]:
    """A fixture payload with its call moved to ``started`` (default: a minute ago)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    started = started or timezone.now() - timedelta(minutes=1)
    if "start_time" in data:
        data["start_time"] = started.isoformat()
    if "unix_time" in data:
        data["unix_time"] = int(started.timestamp())
        data["called_at"] = timezone.localtime(started).strftime("%Y-%m-%d %I:%M %p %z")
    data.update(changes)
    return data


def signed_headers(
    source: CallTrackingSource, body: bytes, *, secret: str = SECRET, sent: datetime | None = None
) -> dict[str, str]:
    if source.provider == CallTrackingSource.Provider.CALLRAIL:
        digest = hmac.new(secret.encode(), body, hashlib.sha1).digest()
        return {"HTTP_SIGNATURE": base64.b64encode(digest).decode()}
    stamp = str(int((sent or timezone.now()).timestamp()))
    digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha1).digest()
    return {"HTTP_X_CTM_TIME": stamp, "HTTP_X_CTM_SIGNATURE": base64.b64encode(digest).decode()}


def deliver(
    source: CallTrackingSource,
    event: str,
    data: Any,
    *,
    client: Client | None = None,
    secret: str = SECRET,
    sent: datetime | None = None,
    raw: bytes | None = None,
) -> Any:
    body = raw if raw is not None else json.dumps(data).encode()
    url = reverse("calls:webhook", kwargs={"ref": source.ref, "event": event})
    return (client or Client()).post(
        url, body, content_type="application/json", **signed_headers(source, body, secret=secret, sent=sent)
    )
