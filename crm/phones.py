"""Phone numbers: parsed and validated once, then carried as what they are.

``phone_normalise`` reads a number in any format (US default region) and returns an ``E164``:
its E.164 text, a ``str`` anywhere text is expected, with the number it was parsed into.
Every phone column is a ``PhoneNumberField`` of this module, phonenumber_field's own field
taking an ``E164`` as it is: assigning one to a model keeps its number without parsing the
text again, and saving it stores the text without validating and formatting the number again
(phonenumber_field does each twice per save). Any other value goes the library's way.

A lead's phone was parsed five times and validated and formatted six times on its way to the
database; it is now parsed, validated and formatted once, when the request is read.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.conf import settings
from phonenumber_field import modelfields
from phonenumber_field.phonenumber import PhoneNumber

_E164 = phonenumbers.PhoneNumberFormat.E164


class ValidPhoneNumber(PhoneNumber):
    """A ``PhoneNumber`` found valid when it was parsed, with its E.164 text kept."""

    e164: str

    def is_valid(self) -> bool:
        return True

    def format_as(self, format: int) -> str:  # noqa: A002 - the library's own name
        return self.e164 if format == _E164 else super().format_as(format)


class E164(str):
    """A valid phone number's E.164 text, with the number it was parsed into (``number``)."""

    number: ValidPhoneNumber


def phone_normalise(raw: str, *, region: str | None = None) -> E164:
    """A phone number as E.164 (``region`` for numbers without a country code, by default
    ``PHONENUMBER_DEFAULT_REGION``); ValueError if it is not a valid number."""
    number = ValidPhoneNumber()
    try:
        phonenumbers.parse(
            raw, region or settings.PHONENUMBER_DEFAULT_REGION, keep_raw_input=True, numobj=number
        )
    except phonenumbers.NumberParseException as exc:
        raise ValueError("Enter a valid phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("Enter a valid phone number.")
    text = E164(phonenumbers.format_number(number, _E164))
    number.e164 = text
    text.number = number
    return text


class _PhoneNumberDescriptor(modelfields.PhoneNumberDescriptor):
    def __set__(self, instance: Any, value: Any) -> None:
        if type(value) is E164:
            instance.__dict__[self.field.name] = value.number
        else:
            super().__set__(instance, value)


class PhoneNumberField(modelfields.PhoneNumberField):
    """phonenumber_field's model field, storing a number normalised once as it is (see above)."""

    descriptor_class = _PhoneNumberDescriptor

    def get_prep_value(self, value: Any) -> Any:
        if type(value) is E164:
            return str(value)
        if type(value) is ValidPhoneNumber:
            return value.e164
        return super().get_prep_value(value)
