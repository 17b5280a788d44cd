"""Normalising what people and sources type: text, phone numbers, email addresses.

Forms, serializers, intake, the lead write and imports share these, so a value is stored the
same way whichever door it came in by.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from crm import phones


def text_clean(value: str, *, multiline: bool = False) -> str:
    """Strip control and format characters (NUL among them) and lone surrogates (halves of a
    UTF-16 pair that no text can hold), and trim; multiline text keeps newlines and tabs."""
    if value.isprintable():
        return value.strip()
    out = []
    for ch in value:
        if ch in "\n\t\u2028\u2029":
            out.append(("\t" if ch == "\t" else "\n") if multiline else " ")
        elif ch in "\v\f":
            out.append(" ")
        elif unicodedata.category(ch) not in ("Cc", "Cf", "Cs"):
            out.append(ch)
    return "".join(out).strip()


def phone_normalise(raw: str, *, region: str | None = None) -> str:
    """A phone number as E.164 (``crm.phones``; ``region`` for national numbers, by default the
    setting's); ValueError if it is not a valid number."""
    return phones.phone_normalise(text_clean(raw), region=region)


def email_normalise(raw: str) -> str:
    """An email address trimmed and lower-cased; ValueError if it is not an address."""
    value = text_clean(raw).lower()
    try:
        validate_email(value)
    except ValidationError as exc:
        raise ValueError("Enter a valid email address.") from exc
    return value
