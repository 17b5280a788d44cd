"""Forms of the consent, disclosure and audit pages. Every missing element is a field error."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from admissions.models import ReferralPartner
from crm.formfields import ModelChoiceField
from crm.models import Facility, User
from privacy.models import (
    DEFAULT_RIGHT_TO_REVOKE,
    Information,
    Purpose,
    RecipientType,
    RevocationMethod,
    SignatureMethod,
    SignerCapacity,
    TpoClass,
)
from privacy.services import PATH_RULES, Recipient

_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
_BLANK: list[tuple[str, str]] = [("", "---------")]


class ConsentForm(forms.Form):
    """The elements of a Part 2 consent (42 CFR 2.31), each required unless another one stands in."""

    discloser = ModelChoiceField(
        queryset=Facility.objects.none(),
        label="Who discloses",
        error_messages={"required": "Name the facility that discloses."},
    )
    information = forms.MultipleChoiceField(
        choices=Information.choices,
        widget=forms.CheckboxSelectMultiple,
        label="What information",
        error_messages={"required": "Choose the information the person allows to be disclosed."},
    )
    information_detail = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Limits on the information",
        help_text="Optional: how much and what kind, e.g. dates of service.",
    )
    recipient_type = forms.ChoiceField(
        choices=_BLANK + list(RecipientType.choices),
        label="To whom",
        error_messages={"required": "Choose who may receive the information."},
    )
    recipient_partner = ModelChoiceField(
        queryset=ReferralPartner.objects.filter(is_active=True), required=False, label="Referral partner"
    )
    recipient_name = forms.CharField(
        required=False,
        max_length=160,
        label="Recipient's name",
        help_text="The VOB company, provider or individual, by name.",
    )
    tpo_class = forms.ChoiceField(
        choices=_BLANK + list(TpoClass.choices),
        required=False,
        label="Treatment, payment or operations class",
    )
    purpose = forms.ChoiceField(
        choices=_BLANK + list(Purpose.choices),
        label="Purpose",
        error_messages={"required": "State the purpose of the disclosure."},
    )
    right_to_revoke = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        initial=DEFAULT_RIGHT_TO_REVOKE,
        label="Right to revoke, and how",
        error_messages={"required": "Include the right-to-revoke statement and how to revoke."},
    )
    expires_on = forms.DateField(required=False, widget=_DATE, label="Expires on")
    expiry_event = forms.CharField(
        required=False, max_length=200, label="Or expires on this event", help_text='e.g. "on admission".'
    )
    signature_method = forms.ChoiceField(
        choices=_BLANK + list(SignatureMethod.choices),
        label="How it was signed",
        error_messages={"required": "Say how the consent was signed."},
    )
    signer_name = forms.CharField(
        max_length=160, label="Signed by (name)", error_messages={"required": "Give the signer's name."}
    )
    signer_capacity = forms.ChoiceField(
        choices=SignerCapacity.choices, initial=SignerCapacity.PATIENT, label="Signer is"
    )
    signature_reference = forms.CharField(
        required=False,
        max_length=200,
        label="Recording or scan reference",
        help_text="Required for verbal and paper consent.",
    )
    signed_on = forms.DateField(
        widget=_DATE, label="Signed on", error_messages={"required": "Give the date it was signed."}
    )

    def __init__(self, *args: Any, facilities: QuerySet[Facility], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["discloser"].queryset = facilities  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("recipient_type")
        if kind == RecipientType.PARTNER and not data.get("recipient_partner"):
            self.add_error("recipient_partner", "Choose the referral partner.")
        named = (RecipientType.VOB_COMPANY, RecipientType.PROVIDER, RecipientType.INDIVIDUAL)
        if kind in named and not data.get("recipient_name"):
            self.add_error("recipient_name", "Name the recipient.")
        if kind == RecipientType.TPO and not data.get("tpo_class"):
            self.add_error("tpo_class", "Choose the class of recipients.")
        today = timezone.localdate()
        expires_on: date | None = data.get("expires_on")
        signed_on: date | None = data.get("signed_on")
        if expires_on is None and not data.get("expiry_event") and "expires_on" not in self.errors:
            self.add_error("expires_on", "Give an expiry date or the event that ends the consent.")
        elif expires_on is not None and expires_on < today:
            self.add_error("expires_on", "That expiry date has passed.")
        if signed_on is not None and signed_on > today:
            self.add_error("signed_on", "The signature date cannot be in the future.")
        method = data.get("signature_method")
        if method in (SignatureMethod.VERBAL, SignatureMethod.PAPER) and not data.get("signature_reference"):
            self.add_error("signature_reference", "Say where the recording or the scanned paper is kept.")
        return data


class RevokeForm(forms.Form):
    method = forms.ChoiceField(
        choices=_BLANK + list(RevocationMethod.choices),
        label="How the person revoked",
        error_messages={"required": "Say how the person revoked."},
    )
    note = forms.CharField(required=False, max_length=300, label="Note")


class DisclosureForm(forms.Form):
    """Recipient, purpose and information of one disclosure path, limited to what the path allows."""

    recipient_partner = ModelChoiceField(
        queryset=ReferralPartner.objects.filter(is_active=True), required=False, label="Referral partner"
    )
    recipient_name = forms.CharField(required=False, max_length=160, label="Recipient's name")
    purpose = forms.ChoiceField(choices=(), label="Purpose")
    information = forms.MultipleChoiceField(
        choices=(),
        widget=forms.CheckboxSelectMultiple,
        label="Information to disclose",
        error_messages={"required": "Choose the information to disclose."},
    )

    def __init__(self, *args: Any, path: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path = path
        rule = PATH_RULES[path]
        self.fields["purpose"].choices = [(p.value, p.label) for p in rule.purposes]  # type: ignore[attr-defined]
        self.fields["information"].choices = [(i.value, i.label) for i in rule.information]  # type: ignore[attr-defined]
        if RecipientType.PARTNER not in rule.recipient_types:
            del self.fields["recipient_partner"]
        if RecipientType.VOB_COMPANY in rule.recipient_types:
            self.fields["recipient_name"].label = "VOB company"
        elif RecipientType.PROVIDER in rule.recipient_types:
            self.fields["recipient_name"].label = "Or another provider, by name"
        else:
            del self.fields["recipient_name"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        partner = data.get("recipient_partner")
        name = data.get("recipient_name", "")
        if partner and name:
            self.add_error("recipient_name", "Choose a partner or name a provider, not both.")
        elif not partner and not name:
            field = "recipient_partner" if "recipient_partner" in self.fields else "recipient_name"
            self.add_error(field, "Say who receives the information.")
        return data

    def recipient(self) -> Recipient:
        partner = self.cleaned_data.get("recipient_partner")
        if partner is not None:
            return Recipient(type=RecipientType.PARTNER, partner=partner)
        kind = (
            RecipientType.VOB_COMPANY
            if RecipientType.VOB_COMPANY in PATH_RULES[self.path].recipient_types
            else RecipientType.PROVIDER
        )
        return Recipient(type=kind, name=self.cleaned_data["recipient_name"])


MAX_AUDIT_RANGE_DAYS = 366


class InquiryLookupForm(forms.Form):
    """An inquiry's number, to open the audit of everything about it."""

    inquiry = forms.IntegerField(
        label="Inquiry number",
        min_value=1,
        max_value=2**63 - 1,
        error_messages={
            "required": "Give the inquiry's number.",
            "invalid": "Give the number only, e.g. 1042.",
        },
    )


class UserActivityForm(forms.Form):
    """Whose activity, between which two dates (inclusive, in the CRM's time zone)."""

    user = ModelChoiceField(
        queryset=User.objects.none(),
        label="Staff member",
        error_messages={"required": "Choose a staff member."},
    )
    start = forms.DateField(widget=_DATE, label="From", error_messages={"required": "Give the first day."})
    end = forms.DateField(widget=_DATE, label="To", error_messages={"required": "Give the last day."})

    def __init__(self, *args: Any, users: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = users  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: date | None = data.get("start")
        end: date | None = data.get("end")
        if start and start > timezone.localdate():
            self.add_error("start", "The first day cannot be in the future.")
        if start and end:
            if end < start:
                self.add_error("end", "The last day comes before the first.")
            elif (end - start).days >= MAX_AUDIT_RANGE_DAYS:
                self.add_error("end", f"Choose at most {MAX_AUDIT_RANGE_DAYS} days.")
        return data

    def window(self) -> tuple[datetime, datetime]:
        """[start of the first day, start of the day after the last) as aware datetimes."""
        tz = timezone.get_current_timezone()
        start = datetime.combine(self.cleaned_data["start"], time.min, tzinfo=tz)
        end = datetime.combine(self.cleaned_data["end"] + timedelta(days=1), time.min, tzinfo=tz)
        return start, end
