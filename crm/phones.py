"""Phone numbers: the one parser.

Every number a person or a source types is read here, with the region that national numbers
belong to: the facility's (the country of its own phone number) where one is known, else the
``PHONENUMBER_DEFAULT_REGION`` setting. Stored numbers are E.164 text.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.conf import settings
from phonenumber_field import modelfields

E164 = phonenumbers.PhoneNumberFormat.E164


def default_region() -> str:
    """The region of national numbers when no facility says otherwise."""
    return str(settings.PHONENUMBER_DEFAULT_REGION)


def region_of(facility_phone: Any) -> str:
    """The region a facility's callers dial from: the country of the facility's own number,
    else the default region."""
    if facility_phone:
        try:
            number = phonenumbers.parse(str(facility_phone), default_region())
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and (region := phonenumbers.region_code_for_number(number)):
            return str(region)
    return default_region()


def phone_parse(raw: str, *, region: str | None = None) -> phonenumbers.PhoneNumber:
    """A number as typed, in any format (``region`` for national numbers, by default the
    setting's); ValueError if it cannot be read. Not checked for validity."""
    try:
        return phonenumbers.parse(raw, region or default_region())
    except phonenumbers.NumberParseException as exc:
        raise ValueError("Enter a valid phone number.") from exc


def phone_normalise(raw: str, *, region: str | None = None) -> str:
    """A phone number as E.164 text (``region`` as for ``phone_parse``); ValueError if it is not a
    valid number."""
    number = phone_parse(raw, region=region)
    if not phonenumbers.is_valid_number(number):
        raise ValueError("Enter a valid phone number.")
    e164 = phonenumbers.format_number(number, E164)
    _stored_remember(e164, e164)  # a valid number's E.164 text is stored as it is
    return e164


def phone_e164_or_blank(value: object) -> str:
    """A stored or typed number as E.164 text, or "" when it is not a number at all."""
    if not value:
        return ""
    try:
        return phonenumbers.format_number(phone_parse(str(value)), E164)
    except ValueError:
        return ""


# What the phone columns store for a text in international form ("+..."): the E.164 text of a valid
# number, else the text itself. Parsing and validating a number is the costliest step of writing a
# row that carries one, and a number is written several times on its way in (the person, the
# inquiry, the lookups that find them), so each process remembers the answer, bounded. Only texts
# that start with "+" are remembered: their reading does not depend on a region.
_STORED: dict[str, str] = {}
_STORED_MAX = 50_000


def _stored_remember(text: str, stored: str) -> None:
    if len(_STORED) >= _STORED_MAX:
        _STORED.clear()
    _STORED[text] = stored


class PhoneNumberField(modelfields.PhoneNumberField):
    """The phone column of every model (phonenumber_field's field, stored as E.164 text)."""

    def get_prep_value(self, value: Any) -> Any:
        # A model instance holds the number parsed from the text it was given (``raw_input``).
        text = value.raw_input if isinstance(value, phonenumbers.PhoneNumber) else value
        if isinstance(text, str) and text.startswith("+"):
            stored = _STORED.get(text)
            if stored is None:
                stored = super().get_prep_value(value)
                _stored_remember(text, stored)
            return stored
        return super().get_prep_value(value)
