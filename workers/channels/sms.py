"""SMS providers: a Twilio-compatible REST provider over httpx, and a development provider.

The HTTP provider posts a form to ``{SMS_API_URL}/2010-04-01/Accounts/{sid}/Messages.json``
with basic auth (account sid, auth token), asks for status callbacks at our
``/messaging/sms/status`` URL, and sends the message's idempotency key in an
``Idempotency-Key`` header (and ``I-Twilio-Idempotency-Token``) so a retried
request never creates a second message at a provider that dedupes.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Protocol

import httpx
from django.conf import settings
from django.urls import reverse

from admissions.messaging.envelope import Envelope, PermanentSendError, SendResult, TransientSendError


class SmsProvider(Protocol):
    def send(self, envelope: Envelope) -> SendResult: ...


class HttpSmsProvider:
    """A Twilio-compatible REST API."""

    def __init__(self, *, base_url: str, account_sid: str, auth_token: str, from_number: str) -> None:
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = (account_sid, auth_token)
        self.from_number = from_number
        self._client: httpx.Client | None = None
        self._pid = 0

    def client(self) -> httpx.Client:
        # One pooled client per process: a prefork child must not share the parent's sockets.
        if self._client is None or self._pid != os.getpid():
            self._client = httpx.Client(timeout=settings.SMS_TIMEOUT_SECONDS, auth=self.auth)
            self._pid = os.getpid()
        return self._client

    def send(self, envelope: Envelope) -> SendResult:
        form = {
            "To": envelope.to,
            "From": self.from_number,
            "Body": envelope.body,
            "StatusCallback": _status_callback_url(settings.CRM_PUBLIC_URL),
        }
        headers = {
            "Idempotency-Key": envelope.idempotency_key,
            "I-Twilio-Idempotency-Token": envelope.idempotency_key,
        }
        try:
            response = self.client().post(self.url, data=form, headers=headers)
        except httpx.HTTPError as error:
            raise TransientSendError(f"SMS provider unreachable: {type(error).__name__}") from error
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientSendError(f"SMS provider answered {response.status_code}")
        if response.status_code >= 400:
            code = _json(response).get("code", "")
            raise PermanentSendError(f"SMS provider refused the message ({response.status_code} {code})")
        data = _json(response)
        sid = str(data.get("sid", ""))
        if not sid:
            raise TransientSendError("SMS provider answered without a message id")
        return SendResult(provider_message_id=sid, status=str(data.get("status", "queued")))


@cache
def _status_callback_url(public_url: str) -> str:
    # Resolved once per process: the first reverse() loads the whole URL configuration.
    return f"{public_url}{reverse('messaging:sms-status')}"


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class TimelineSmsProvider:
    """Development: nothing leaves the machine; the text appears on the inquiry timeline only."""

    def send(self, envelope: Envelope) -> SendResult:
        return SendResult(provider_message_id=f"dev-{envelope.idempotency_key}", status="delivered")


@cache
def _http_provider(base_url: str, sid: str, token: str, from_number: str) -> HttpSmsProvider:
    return HttpSmsProvider(base_url=base_url, account_sid=sid, auth_token=token, from_number=from_number)


def sms_provider() -> SmsProvider:
    """The provider chosen by ``SMS_PROVIDER``."""
    if settings.SMS_PROVIDER == "http":
        return _http_provider(
            settings.SMS_API_URL, settings.SMS_ACCOUNT_SID, settings.SMS_AUTH_TOKEN, settings.SMS_FROM_NUMBER
        )
    return TimelineSmsProvider()
