"""What each call-tracking service sends, read into one ``CallEventData``.

A registry maps a provider to its adapter (``ADAPTERS``); an adapter knows the service's
signature scheme and the fields of its payload. Both payloads are the service's call object as
JSON; which event it is (start or end) comes from the URL the service was given for that event.

CallRail (pre-call and post-call webhooks): header ``Signature`` is the base64 HMAC-SHA1 of the
raw body under the company's signing token. The body signs no time, so the replay window is
checked on the call's own time (``start_time``; for the end, plus ``duration``).

CallTrackingMetrics (start-of-call and end-of-call webhooks): header ``X-CTM-Time`` (Unix
seconds) and ``X-CTM-Signature``, the base64 HMAC-SHA1 of that time followed by the raw body
under the account's webhook secret; the window is checked on the signed time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from admissions.calls.models import CallEvent, CallTrackingSource
from admissions.normalise import phone_normalise, text_clean

MAX_CALL_SECONDS = 24 * 3600


class PayloadInvalid(ValueError):  # noqa: N818 - named for what arrived
    """The payload lacks a field or carries one that cannot be read; nothing was written."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(", ".join(sorted(errors)))
        self.errors = errors


@dataclass(frozen=True)
class CallEventData:
    """One call event as a service reported it, read and normalised."""

    call_id: str
    kind: str  # CallEvent.Kind
    caller_number: str  # E.164
    tracking_number: str  # E.164, or "" when the service did not say
    caller_name: str
    direction: str  # "inbound" or "outbound"
    started_at: datetime
    duration_seconds: int | None = None  # the end event's
    answered: bool | None = None  # the end event's
    voicemail: bool = False
    recording_url: str = ""
    service_source: str = ""  # the service's own name for the marketing source

    @property
    def occurred_at(self) -> datetime:
        """When the event happened: the start, or the start plus the duration for the end."""
        if self.kind == CallEvent.Kind.END and self.duration_seconds:
            return self.started_at + timedelta(seconds=self.duration_seconds)
        return self.started_at

    @property
    def missed(self) -> bool:
        return self.kind == CallEvent.Kind.END and self.answered is False


class Adapter(Protocol):
    def signature_valid(self, *, secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether the request carries the service's signature of ``body`` under ``secret``."""

    def signed_time(self, headers: Mapping[str, str]) -> datetime | None:
        """The send time the signature covers, when the scheme signs one."""

    def read(self, payload: Any, *, kind: str) -> CallEventData:
        """The event in ``payload``; ``PayloadInvalid`` with every field error at once."""


def _hmac_sha1_b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha1).digest()).decode()


def _same(expected: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace"))


class _Fields:
    """Reads fields of a JSON object, collecting every error before raising."""

    def __init__(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            raise PayloadInvalid({"non_field_errors": ["Send the call as a JSON object."]})
        self.payload = payload
        self.errors: dict[str, list[str]] = {}

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def first(self, *names: str) -> tuple[str, Any]:
        for name in names:
            if self.payload.get(name) not in (None, ""):
                return name, self.payload[name]
        return names[0], None

    def text(self, *names: str, required: bool = False, max_length: int = 200) -> str:
        name, value = self.first(*names)
        if value is None:
            if required:
                self.error(name, "This field is required.")
            return ""
        if not isinstance(value, str | int) or isinstance(value, bool):
            self.error(name, "Must be text.")
            return ""
        cleaned = text_clean(str(value))
        if not cleaned and required:  # nothing left once control characters were taken out
            self.error(name, "This field is required.")
            return ""
        if len(cleaned) > max_length:
            self.error(name, f"At most {max_length} characters.")
            return ""
        return cleaned

    def phone(self, *names: str, required: bool = False) -> str:
        name = self.first(*names)[0]
        raw = self.text(*names, required=required, max_length=40)
        if not raw:
            return ""
        try:
            return phone_normalise(raw)
        except ValueError:
            self.error(name, "Not a valid phone number.")
            return ""

    def seconds(self, *names: str, required: bool = False) -> int | None:
        name, value = self.first(*names)
        if value is None:
            if required:
                self.error(name, "This field is required.")
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_CALL_SECONDS:
            self.error(name, f"A whole number of seconds from 0 to {MAX_CALL_SECONDS}.")
            return None
        return value

    def flag(self, *names: str) -> bool | None:
        name, value = self.first(*names)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.error(name, "Must be true or false.")
        return None

    def url(self, *names: str) -> str:
        name = self.first(*names)[0]
        value = self.text(*names, max_length=500)
        if value and not value.startswith("https://"):
            self.error(name, "Must be an https:// address.")
            return ""
        return value

    def direction(self, *names: str) -> str:
        name = self.first(*names)[0]
        value = self.text(*names, max_length=20).lower() or "inbound"
        if value not in ("inbound", "outbound"):
            self.error(name, 'Must be "inbound" or "outbound".')
        return value

    def done(self) -> None:
        if self.errors:
            raise PayloadInvalid(self.errors)


def _iso_time(fields: _Fields, name: str) -> datetime | None:
    raw = fields.text(name, required=True, max_length=40)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        fields.error(name, "An ISO 8601 time with its UTC offset.")
        return None
    return parsed


class CallRailAdapter:
    """CallRail's call object (API v3 field names)."""

    def signature_valid(self, *, secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
        return bool(secret) and _same(_hmac_sha1_b64(secret, body), headers.get("Signature", ""))

    def signed_time(self, headers: Mapping[str, str]) -> datetime | None:
        return None

    def read(self, payload: Any, *, kind: str) -> CallEventData:
        f = _Fields(payload)
        call_id = f.text("resource_id", required=True, max_length=64)
        # Older payloads name the caller ``customer_number``; the v3 call object ``customer_phone_number``.
        caller = f.phone("customer_phone_number", "customer_number", required=True)
        tracking = f.phone("tracking_phone_number")
        started_at = _iso_time(f, "start_time")
        duration = f.seconds("duration", required=kind == CallEvent.Kind.END)
        answered = f.flag("answered")
        if kind == CallEvent.Kind.END and answered is None and "answered" not in f.errors:
            f.error("answered", "This field is required.")
        data = {
            "caller_name": f.text("customer_name", max_length=160),
            "direction": f.direction("direction"),
            "voicemail": bool(f.flag("voicemail")),
            "recording_url": f.url("recording_player", "recording"),
            "service_source": f.text("source_name", "source", max_length=120),
        }
        f.done()
        assert started_at is not None  # noqa: S101 - done() raised otherwise
        return CallEventData(
            call_id=call_id,
            kind=kind,
            caller_number=caller,
            tracking_number=tracking,
            started_at=started_at,
            duration_seconds=duration if kind == CallEvent.Kind.END else None,
            answered=answered if kind == CallEvent.Kind.END else None,
            **data,  # type: ignore[arg-type]
        )


# CallTrackingMetrics' dial statuses of a call nobody answered.
CTM_MISSED_STATUSES = frozenset(
    {"no-answer", "no answer", "busy", "failed", "canceled", "cancelled", "missed"}
)


class CallTrackingMetricsAdapter:
    """CallTrackingMetrics' call (activity) object."""

    def signature_valid(self, *, secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
        stamp = headers.get("X-CTM-Time", "").strip()
        if not secret or not stamp:
            return False
        return _same(_hmac_sha1_b64(secret, stamp.encode() + body), headers.get("X-CTM-Signature", ""))

    def signed_time(self, headers: Mapping[str, str]) -> datetime | None:
        stamp = headers.get("X-CTM-Time", "").strip()
        try:
            return datetime.fromtimestamp(int(stamp), tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None

    def read(self, payload: Any, *, kind: str) -> CallEventData:
        f = _Fields(payload)
        call_id = f.text("id", required=True, max_length=64)
        caller = f.phone("caller_number", required=True)
        tracking = f.phone("tracking_number")
        started_at = self._started_at(f)
        duration = f.seconds("duration", required=kind == CallEvent.Kind.END)
        talk_time = f.seconds("talk_time")
        status = f.text("dial_status", "status", max_length=40).lower()
        if kind == CallEvent.Kind.END and talk_time is None and not status:
            f.error("dial_status", "This field is required.")
        answered = (talk_time > 0) if talk_time is not None else (status not in CTM_MISSED_STATUSES)
        data = {
            "caller_name": f.text("name", max_length=160),
            "direction": f.direction("direction"),
            "voicemail": bool(f.flag("voicemail")) or status == "voicemail",
            "recording_url": f.url("audio"),
            "service_source": f.text("source", max_length=120),
        }
        f.done()
        assert started_at is not None  # noqa: S101 - done() raised otherwise
        return CallEventData(
            call_id=call_id,
            kind=kind,
            caller_number=caller,
            tracking_number=tracking,
            started_at=started_at,
            duration_seconds=duration if kind == CallEvent.Kind.END else None,
            answered=answered if kind == CallEvent.Kind.END else None,
            **data,  # type: ignore[arg-type]
        )

    @staticmethod
    def _started_at(f: _Fields) -> datetime | None:
        """``unix_time`` (seconds), else ``called_at`` as the service writes it
        ("2026-12-07 09:15 AM -05:00")."""
        unix = f.payload.get("unix_time")
        if isinstance(unix, int) and not isinstance(unix, bool) and unix > 0:
            return datetime.fromtimestamp(unix, tz=UTC)
        raw = f.text("called_at", required=unix is None, max_length=40)
        if unix is not None and not raw:
            f.error("unix_time", "Unix seconds.")
            return None
        if not raw:
            return None
        for pattern in ("%Y-%m-%d %I:%M %p %z", "%Y-%m-%d %H:%M:%S %z"):
            try:
                return datetime.strptime(raw, pattern)  # noqa: DTZ007 - each pattern reads the offset
            except ValueError:
                continue
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            f.error("called_at", "A time with its UTC offset.")
            return None
        return parsed


ADAPTERS: dict[str, Adapter] = {
    CallTrackingSource.Provider.CALLRAIL: CallRailAdapter(),
    CallTrackingSource.Provider.CALLTRACKINGMETRICS: CallTrackingMetricsAdapter(),
}
