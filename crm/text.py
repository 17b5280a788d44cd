"""Text that is safe to store, log, encode and echo, whatever a client sent."""

from __future__ import annotations

import re

# NUL and the other control characters but tab and newlines, and lone surrogates: PostgreSQL
# refuses NUL in text and JSON, and no UTF-8 encoder writes a surrogate.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def text_safe(value: str) -> str:
    """``value`` with every unsafe character replaced by U+FFFD (so it still shows something was there)."""
    return _UNSAFE.sub(REPLACEMENT, value)


def json_safe(value: object) -> object:
    """Parsed JSON with every string, object keys included, made safe (``text_safe``)."""
    if isinstance(value, str):
        return text_safe(value)
    if isinstance(value, dict):
        return {text_safe(key): json_safe(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [json_safe(inner) for inner in value]
    return value
