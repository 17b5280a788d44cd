"""Fields and nested serializers shared by the lead API views (the views hold Input/Output).

Validation reports every invalid field at once, cross-field rules included: see
``AllErrorsSerializer``.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from admissions.leads import PublicStage
from admissions.normalise import email_normalise, phone_normalise, text_clean

US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM "
    "NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP".split()
)
# The text a pattern field accepts, as sent (surrounding spaces allowed): the same expression is
# the OpenAPI schema's ``pattern`` and the check the API runs, so the two cannot disagree.
POSTAL_CODE_PATTERN = r"^\s*(?:[A-Za-z0-9][A-Za-z0-9 -]{1,8}[A-Za-z0-9])?\s*$"
STATE_PATTERN = (
    r"^\s*(?:"
    + "|".join("".join(f"[{c}{c.lower()}]" for c in code) for code in sorted(US_STATES))
    + r")?\s*$"
)
# Dates as YYYY-MM-DD only, within the years the API accepts.
_MONTH_DAY = r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$"
BIRTH_DATE_PATTERN = r"^(?:19|20)[0-9]{2}" + _MONTH_DAY
REPORT_DATE_PATTERN = r"^(?:20[0-9]{2}|2100)" + _MONTH_DAY


class CleanCharField(serializers.CharField):
    """Text with control and format characters removed and surrounding space trimmed.

    Only a JSON string is text (DRF's own field turns a number into one), and ``max_length`` is
    the length of the text as sent, as the schema's ``maxLength`` says."""

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        self.multiline = multiline
        super().__init__(**kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        if isinstance(data, str):
            if self.max_length is not None and len(data) > self.max_length:
                self.fail("max_length", max_length=self.max_length)
            data = text_clean(data, multiline=self.multiline)
        elif data is not empty and data is not None:
            self.fail("invalid")
        return super().run_validation(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only, as the schema says (DRF's own field takes 0, 1, "yes"...)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class PatternField(serializers.CharField):
    """Text that must match ``pattern`` as sent; kept trimmed and upper-cased. Subclasses carry
    the pattern, which their schema shows."""

    pattern = ""
    message = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, allow_blank=True, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if not re.fullmatch(self.pattern, data):
            raise serializers.ValidationError(self.message)
        return data.strip().upper()


@extend_schema_field(
    {
        "type": "string",
        "pattern": POSTAL_CODE_PATTERN,
        "description": "A ZIP or postal code: 3 to 10 letters, digits, spaces or hyphens, starting and "
        "ending with a letter or digit; kept upper-cased.",
        "example": "33602",
    }
)
class PostalCodeField(PatternField):
    pattern = POSTAL_CODE_PATTERN
    message = "Enter a postal code of 3 to 10 letters, digits, spaces or hyphens."


@extend_schema_field(
    {
        "type": "string",
        "pattern": STATE_PATTERN,
        "description": "A two-letter US state or territory code, in any case (kept upper-cased).",
        "example": "FL",
    }
)
class StateField(PatternField):
    pattern = STATE_PATTERN
    message = "Use a two-letter US state or territory code."


class PatternDateField(serializers.DateField):
    """A date sent as YYYY-MM-DD (DRF alone takes 1990-4-2 too), within the pattern's years."""

    pattern = ""

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            self.fail("invalid", format="YYYY-MM-DD")
        day = super().to_internal_value(value)
        if not re.fullmatch(self.pattern, day.isoformat()):
            raise serializers.ValidationError(self.out_of_range(day))
        return day

    def out_of_range(self, day: date) -> str:
        raise NotImplementedError


@extend_schema_field(
    {
        "type": "string",
        "format": "date",
        "pattern": BIRTH_DATE_PATTERN,
        "nullable": True,
        "description": "YYYY-MM-DD, from 1900-01-01 to today.",
    }
)
class BirthDateField(PatternDateField):
    pattern = BIRTH_DATE_PATTERN

    def out_of_range(self, day: date) -> str:
        return (
            "The date of birth is before 1900." if day.year < 1900 else "The date of birth is in the future."
        )


@extend_schema_field(
    {
        "type": "string",
        "format": "date",
        "pattern": REPORT_DATE_PATTERN,
        "description": "YYYY-MM-DD, between 2000-01-01 and 2100-12-31.",
    }
)
class ReportDateField(PatternDateField):
    pattern = REPORT_DATE_PATTERN

    def out_of_range(self, day: date) -> str:
        return "Use a date between 2000-01-01 and 2100-12-31."


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 40,
        "description": "A phone number in any format (digits, spaces, + ( ) . -, letters of a vanity "
        "number, an extension after x or ext); national numbers are read as US numbers. It must be a "
        "valid number for its country; kept as E.164.",
        "example": "(813) 555-0142",
    }
)
class PhoneField(CleanCharField):
    """A phone number, returned as E.164; national numbers are read in the region the serializer's
    context names (``phone_region``: the facility's), else the default region."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=40, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        try:
            return phone_normalise(value, region=self.context.get("phone_region"))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class LowerEmailField(serializers.EmailField):
    """An email address, trimmed and lower-cased."""

    def run_validation(self, data: Any = empty) -> Any:
        if isinstance(data, str):
            data = text_clean(data).lower()
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        try:
            return email_normalise(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class AllErrorsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Validates every field, then cross-field rules on the fields that were valid,
    and reports all problems in one ValidationError (DRF stops before ``validate``).
    """

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": [f"Expected a JSON object, got {type(data).__name__}."]}
            )
        values: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for name, fld in self.fields.items():
            if fld.read_only:
                continue
            try:
                value = fld.run_validation(fld.get_value(data))
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
            except serializers.SkipField:
                continue
            else:
                values[name] = value
        for name, message in self.cross_errors(values, errors):
            errors.setdefault(name, []).append(message)
        if errors:
            raise serializers.ValidationError(errors)
        return values

    def cross_errors(self, values: dict[str, Any], errors: dict[str, Any]) -> list[tuple[str, str]]:
        """(field, message) pairs for rules that span fields; only valid fields are checked."""
        return []


class InsuranceSerializer(AllErrorsSerializer):
    payer = CleanCharField(max_length=120, required=False, allow_blank=True)
    member_id = CleanCharField(max_length=60, required=False, allow_blank=True)


class ConsentSerializer(AllErrorsSerializer):
    sms = StrictBooleanField(default=False, help_text="Agreed to automated text messages.")
    email = StrictBooleanField(default=False, help_text="Agreed to automated email.")
    call = StrictBooleanField(default=False, help_text="Agreed to automated or recorded calls.")
    text = CleanCharField(
        multiline=True,
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text="The exact consent wording the person agreed to; required when any consent is true.",
    )
    captured_at = serializers.DateTimeField(
        required=False, help_text="When the person agreed (defaults to when the lead arrives)."
    )
    ip = serializers.IPAddressField(required=False, help_text="The person's IP address at the time.")
    page_url = serializers.URLField(max_length=500, required=False, allow_blank=True)

    def cross_errors(self, values: dict[str, Any], errors: dict[str, Any]) -> list[tuple[str, str]]:
        problems = []
        given = any(values.get(m) for m in ("sms", "email", "call"))
        if given and "text" not in errors and not values.get("text"):
            problems.append(("text", "Send the exact consent wording when any consent is true."))
        captured = values.get("captured_at")
        if captured is not None and captured > timezone.now() + timedelta(minutes=5):
            problems.append(("captured_at", "The consent time is in the future."))
        return problems


class AttributionSerializer(AllErrorsSerializer):
    utm_source = CleanCharField(max_length=120, required=False, allow_blank=True)
    utm_medium = CleanCharField(max_length=120, required=False, allow_blank=True)
    utm_campaign = CleanCharField(max_length=120, required=False, allow_blank=True)
    utm_term = CleanCharField(max_length=120, required=False, allow_blank=True)
    utm_content = CleanCharField(max_length=120, required=False, allow_blank=True)
    gclid = CleanCharField(max_length=200, required=False, allow_blank=True)
    landing_page = CleanCharField(max_length=500, required=False, allow_blank=True)
    referrer = CleanCharField(max_length=500, required=False, allow_blank=True)
    call_tracking_id = CleanCharField(max_length=100, required=False, allow_blank=True)


def date_of_birth_errors(value: date | None) -> str:
    if value is None:
        return ""
    if value > timezone.localdate():
        return "The date of birth is in the future."
    if value < date(1900, 1, 1):
        return "The date of birth is before 1900."
    return ""


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    detail = serializers.CharField()
    code = serializers.CharField()


class ValidationErrorsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    errors = serializers.DictField(  # type: ignore[assignment]  # a field, not Serializer.errors
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Messages per field; nested fields are dotted ("consent.text", "substances.1"); '
        'errors about the whole body are under "non_field_errors".',
    )


class StageCountsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """One integer per public stage."""

    def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
        return {stage: serializers.IntegerField(min_value=0) for stage in PublicStage.values}
