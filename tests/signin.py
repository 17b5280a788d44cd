"""Signing test clients in with both factors, as the MFA middleware requires.

``login_verified`` is ``Client.force_login`` plus the second factor: it gives the user a confirmed
TOTP device (once) and records in the session that the device verified it, exactly what the MFA
pages do after a correct code. ``totp_code`` computes a device's code for tests that go through
the MFA pages themselves.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

# The password every ``tests.factories.UserFactory`` user gets.
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - synthetic test users


def confirmed_device(user: Any) -> TOTPDevice:
    device, _ = TOTPDevice.objects.get_or_create(
        user=user, confirmed=True, defaults={"name": "Authenticator app"}
    )
    return device


def login_verified(client: Client, user: Any) -> Client:
    """Sign ``client`` in as ``user`` with a verified second factor; returns the client."""
    device = confirmed_device(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def typed_key_bytes(typed: str) -> bytes:
    """The key the set-up page shows as text ("ABCD EFGH ..."), as bytes."""
    key = typed.replace(" ", "")
    return base64.b32decode(key + "=" * (-len(key) % 8))


def totp_code(key: bytes | str, *, steps_ahead: int = 0) -> str:
    """The six-digit code for ``key`` (bytes, or a device's hex key) now, or ``steps_ahead`` later."""
    raw = bytes.fromhex(key) if isinstance(key, str) else key
    totp = TOTP(raw)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def unused_code(device: TOTPDevice) -> str:
    """A code ``device`` will still accept: now, or the next time step if now's is spent.

    A device takes each 30-second step's code once and accepts one step of clock drift, so a
    test that signs the same user in twice within a step uses the next step's code.
    """
    device.refresh_from_db()
    now = TOTP(device.bin_key).t()
    return totp_code(device.key, steps_ahead=1 if device.last_t >= now else 0)
