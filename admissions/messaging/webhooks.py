"""Twilio-style webhook signatures: HMAC-SHA1 over the URL plus the sorted form fields, base64."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping


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
