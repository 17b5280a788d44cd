"""Forms of the coordinator pages. Every field error is shown next to its field."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.text import Truncator

from admissions.casework import ONLY_THE_PERSON_CONSENTS
from admissions.messaging.content import TEMPLATE_VARIABLES, render
from admissions.messaging.mediums import medium_for
from admissions.messaging.models import MessageTemplate
from admissions.models import Caller, InquiryEvent, InsurancePolicy, LeadSource, Substance
from admissions.normalise import email_normalise, phone_normalise, text_clean
from admissions.pipeline import REQUIRES, LostReason, Stage, allowed_targets
from crm import phones
from crm.formfields import ModelChoiceField, ModelMultipleChoiceField
from crm.models import Facility, User
from crm.roles import Role
from programs.models import Payer, Program

# Read to the caller before any consent box is ticked; stored with each consent.
CALL_CONSENT_WORDING = (
    "May we call, text or email you at the number and address you gave us about your inquiry, "
    "including with automated messages? Consent is not a condition of treatment, message and "
    "data rates may apply, and you can reply STOP at any time."
)
_STATE = re.compile(r"^[A-Za-z]{2}$")
_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
YES_NO_UNKNOWN = [("", "Not asked"), ("yes", "Yes"), ("no", "No")]


def yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class DateInput(forms.DateInput):
    input_type = "date"


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, datetime):
            local = timezone.localtime(value) if timezone.is_aware(value) else value
            return local.strftime("%Y-%m-%dT%H:%M")
        return super().format_value(value)


class PhoneField(forms.CharField):
    """A phone number in any common format, cleaned to E.164; national numbers are read in
    ``region`` (set by the form from the facility; the default region otherwise)."""

    region: str | None = None

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)
        self.widget.input_type = "tel"
        self.widget.attrs.setdefault("autocomplete", "off")

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        if not value:
            return ""
        try:
            return phone_normalise(value, region=self.region)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class CleanTextField(forms.CharField):
    """Text with control characters stripped."""

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        self.multiline = multiline
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str:
        return text_clean(super().to_python(value) or "", multiline=self.multiline)


def staff_for(facility_ids: list[int] | None) -> QuerySet[User]:
    """Coordinators and managers who can own inquiries at these facilities."""
    users = User.objects.filter(
        is_active=True, groups__name__in=[Role.COORDINATOR.value, Role.MANAGER.value]
    ).distinct()
    if facility_ids is not None:
        users = users.filter(facilities__in=facility_ids)
    return users.order_by("first_name", "last_name", "username")


class QuickIntakeForm(forms.Form):
    """What a coordinator records in the first minute of a live call."""

    facility = ModelChoiceField(queryset=Facility.objects.none(), empty_label=None)
    first_name = CleanTextField(max_length=80, label="First name")
    last_name = CleanTextField(max_length=80, required=False, label="Last name")
    phone = PhoneField(
        required=False, label="Phone", help_text="Any format; the facility's country unless it starts with +."
    )
    email = forms.CharField(required=False, max_length=254, label="Email")
    date_of_birth = forms.DateField(required=False, widget=DateInput, label="Date of birth")
    state = forms.CharField(required=False, max_length=20, label="State", help_text="Two letters, e.g. FL.")
    postal_code = forms.CharField(required=False, max_length=10, label="ZIP code")
    caller_relationship = forms.ChoiceField(
        choices=Caller.Relationship.choices, initial=Caller.Relationship.SELF, label="Who is calling?"
    )
    caller_name = CleanTextField(max_length=120, required=False, label="Caller's name")
    caller_phone = PhoneField(required=False, label="Caller's phone")
    lead_source = ModelChoiceField(
        queryset=LeadSource.objects.filter(is_active=True),
        required=False,
        label="How did they find us?",
        empty_label="Not asked",
    )
    substances = ModelMultipleChoiceField(
        queryset=Substance.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    message = CleanTextField(
        multiline=True, required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Reason for the call"
    )
    consent_sms = forms.BooleanField(required=False, label="Texts")
    consent_call = forms.BooleanField(required=False, label="Calls")
    consent_email = forms.BooleanField(required=False, label="Email")
    consent_text = CleanTextField(
        multiline=True,
        required=False,
        initial=CALL_CONSENT_WORDING,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Consent wording read to the caller",
    )
    ok_to_text = forms.ChoiceField(choices=YES_NO_UNKNOWN, required=False, label="OK to text?")
    ok_to_voicemail = forms.ChoiceField(
        choices=YES_NO_UNKNOWN, required=False, label="OK to leave voicemail?"
    )
    payer = ModelChoiceField(
        queryset=Payer.objects.all(), required=False, label="Insurance", empty_label="Unknown or none"
    )
    member_id = CleanTextField(max_length=60, required=False, label="Member ID")

    def __init__(self, *args: Any, facilities: QuerySet[Facility], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities  # type: ignore[attr-defined]
        # Phones typed without a country code are read in the chosen facility's region.
        chosen = str(self.data.get("facility", "")) if self.is_bound else ""
        facility = (facilities.filter(pk=chosen) if chosen.isdigit() else facilities).only("phone").first()
        for name in ("phone", "caller_phone"):
            self.fields[name].region = phones.region_of(facility.phone if facility else "")  # type: ignore[attr-defined]

    def clean_email(self) -> str:
        value = self.cleaned_data.get("email", "")
        if not value.strip():
            return ""
        try:
            return email_normalise(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_state(self) -> str:
        value = self.cleaned_data.get("state", "").strip()
        if value and not _STATE.match(value):
            raise forms.ValidationError("Use the two-letter state code, e.g. FL.")
        return value.upper()

    def clean_postal_code(self) -> str:
        value = self.cleaned_data.get("postal_code", "").strip()
        if value and not _ZIP.match(value):
            raise forms.ValidationError("Use a five-digit ZIP code.")
        return value

    def clean_date_of_birth(self) -> date | None:
        value: date | None = self.cleaned_data.get("date_of_birth")
        today = timezone.localdate()
        if value and (value > today or value < today.replace(year=today.year - 120)):
            raise forms.ValidationError("Enter a real date of birth.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("phone") and not data.get("email") and "phone" not in self.errors:
            self.add_error("phone", "Give a phone number or an email address.")
        if data.get("consent_sms") and not data.get("phone"):
            self.add_error("consent_sms", "Text consent needs a phone number.")
        if data.get("consent_call") and not data.get("phone"):
            self.add_error("consent_call", "Call consent needs a phone number.")
        if data.get("consent_email") and not data.get("email"):
            self.add_error("consent_email", "Email consent needs an email address.")
        consented = data.get("consent_sms") or data.get("consent_call") or data.get("consent_email")
        if consented and not data.get("consent_text"):
            self.add_error("consent_text", "Record the wording the caller agreed to.")
        if data.get("caller_relationship") != Caller.Relationship.SELF:
            if not data.get("caller_name"):
                self.add_error("caller_name", "Who is calling for the person?")
            for name in ("consent_sms", "consent_call", "consent_email"):
                if data.get(name):
                    self.add_error(name, ONLY_THE_PERSON_CONSENTS)
            if data.get("ok_to_text") == "yes":
                self.add_error("ok_to_text", ONLY_THE_PERSON_CONSENTS)
        return data


class CallLogForm(forms.Form):
    direction = forms.ChoiceField(
        choices=InquiryEvent.CallDirection.choices, initial=InquiryEvent.CallDirection.OUTBOUND
    )
    outcome = forms.ChoiceField(choices=InquiryEvent.CallOutcome.choices)
    note = CleanTextField(multiline=True, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class NoteForm(forms.Form):
    body = CleanTextField(
        multiline=True, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}), label="Note"
    )


class CallbackForm(forms.Form):
    due_at = forms.DateTimeField(widget=DateTimeInput, label="Call back at")
    note = CleanTextField(max_length=300, required=False, label="What about?")

    def clean_due_at(self) -> datetime:
        value: datetime = self.cleaned_data["due_at"]
        if value <= timezone.now():
            raise forms.ValidationError("Choose a time in the future.")
        if value > timezone.now() + timedelta(days=366):
            raise forms.ValidationError("Choose a time within a year.")
        return value


class StageForm(forms.Form):
    """A stage change the state machine allows; what the move needs is asked for by name."""

    # Moves with their own forms: admission (program and date) and duplicates (the original).
    ELSEWHERE = frozenset({Stage.ADMISSION_SCHEDULED, Stage.ADMITTED, Stage.DUPLICATE})

    to = forms.ChoiceField(label="Move to")
    lost_reason = forms.ChoiceField(
        choices=[("", "—"), *LostReason.choices],
        required=False,
        label="Lost reason",
        help_text="Needed to close.",
    )
    destination = CleanTextField(
        max_length=160, required=False, label="Referred to", help_text="Needed to refer out."
    )
    reason = CleanTextField(
        max_length=300, required=False, label="Reason", help_text="Needed for crisis routing or invalid."
    )

    def __init__(self, *args: Any, current: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = [  # type: ignore[attr-defined]
            (s.value, s.label) for s in allowed_targets(current) if s not in self.ELSEWHERE
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        needed = REQUIRES.get(data.get("to", ""))
        if needed and needed in self.fields and not data.get(needed):
            self.add_error(needed, f"Moving to {Stage(data['to']).label} needs this.")
        return data


class AssignForm(forms.Form):
    to = ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Unassigned", label="Owner"
    )

    def __init__(self, *args: Any, staff: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to"].queryset = staff  # type: ignore[attr-defined]


# A template's variables as a coordinator reads them in its choice: "[first name]".
_VARIABLES_AS_WORDS = {name: f"[{name.replace('_', ' ')}]" for name in TEMPLATE_VARIABLES}


def _template_words(template: MessageTemplate) -> str:
    """What a template says, for its choice: an email's subject, or a text's first words, as a
    coordinator picks by what the person will read rather than by the template's code."""
    words = render(" ".join((template.subject or template.body).split()), _VARIABLES_AS_WORDS)
    return Truncator(words).chars(70) or template.code


class MessageForm(forms.Form):
    """A text or email to the person: a template, or (texts only) the coordinator's own words."""

    medium = forms.ChoiceField(choices=MessageTemplate.Medium.choices, label="Send as")
    template = forms.ChoiceField(required=False, label="Template")
    body = CleanTextField(
        multiline=True,
        max_length=640,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Or write a text",
        help_text="Texts only. Never mention substances or treatment.",
    )

    def __init__(self, *args: Any, facility_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        templates = MessageTemplate.objects.filter(
            Q(facility_id=facility_id) | Q(facility__isnull=True), is_active=True
        ).order_by("medium", "code")
        self.templates = {t.code: t.medium for t in templates}
        groups: dict[str, list[tuple[str, str]]] = {}
        for t in templates:
            groups.setdefault(t.get_medium_display(), []).append((t.code, _template_words(t)))
        self.fields["template"].choices = [("", "—"), *groups.items()]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        medium, code, body = data.get("medium"), data.get("template"), data.get("body")
        if code and body:
            self.add_error("body", "Choose a template or write a text, not both.")
        elif not code and not body:
            self.add_error("template", "Choose a template or write a text.")
        elif code and self.templates.get(code) != medium:
            self.add_error("template", "That template is not for this kind of message.")
        elif body and medium and not medium_for(medium).own_words:
            self.add_error("body", f"{medium_for(medium).noun.capitalize()}s are sent from templates only.")
        return data


class InsuranceForm(forms.ModelForm):
    class Meta:
        model = InsurancePolicy
        fields = [
            "payer",
            "payer_name",
            "member_id",
            "group_number",
            "subscriber_name",
            "subscriber_relationship",
            "vob_status",
            "in_network",
            "authorization_required",
            "deductible_remaining",
            "out_of_pocket_remaining",
            "vob_notes",
        ]
        widgets = {"vob_notes": forms.Textarea(attrs={"rows": 2})}
        labels = {
            "payer_name": "Payer as the caller said it",
            "member_id": "Member ID",
            "vob_status": "VOB status",
            "vob_notes": "VOB notes",
        }
        field_classes = {"payer": ModelChoiceField}  # a choice list read once a minute (crm.formfields)


class _ProgramForm(forms.Form):
    program = ModelChoiceField(queryset=Program.objects.none())

    def __init__(self, *args: Any, facility_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = (  # type: ignore[attr-defined]
            Program.objects.filter(facility_id=facility_id, is_active=True)
            .select_related("facility", "level_of_care")
            .order_by("name")
        )


class HoldForm(_ProgramForm):
    until = forms.DateTimeField(widget=DateTimeInput, label="Hold until")

    def clean_until(self) -> datetime:
        value: datetime = self.cleaned_data["until"]
        if value <= timezone.now():
            raise forms.ValidationError("A hold must end in the future.")
        if value > timezone.now() + timedelta(days=30):
            raise forms.ValidationError("Hold for at most 30 days.")
        return value


class ScheduleAdmissionForm(_ProgramForm):
    admission_date = forms.DateField(widget=DateInput, label="Admission date")

    def clean_admission_date(self) -> date:
        value: date = self.cleaned_data["admission_date"]
        if value < timezone.localdate():
            raise forms.ValidationError("The admission date cannot be in the past.")
        if value > timezone.localdate() + timedelta(days=90):
            raise forms.ValidationError("Schedule at most 90 days ahead.")
        return value


class AdmitForm(_ProgramForm):
    """Admission as planned takes a click; on another day than scheduled, or into another program
    than the one holding the place, it asks for a tick and a reason."""

    confirm = forms.BooleanField(required=False, label="Admit anyway")
    reason = CleanTextField(required=False, max_length=300, label="Why it differs from the plan")

    def __init__(
        self, *args: Any, scheduled_for: date | None = None, held_program_id: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.scheduled_for, self.held_program_id = scheduled_for, held_program_id

    def departures(self, program: Program | None) -> list[str]:
        """How admitting into ``program`` today departs from the plan, in words."""
        found = []
        today = timezone.localdate()
        if self.scheduled_for is not None and self.scheduled_for != today:
            found.append(f"The admission is scheduled for {self.scheduled_for:%b %-d}, not today.")
        if program is not None and self.held_program_id is not None and program.pk != self.held_program_id:
            found.append("The bed or slot is held in another program; that hold is released.")
        return found

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        departures = self.departures(data.get("program"))
        if departures and not (data.get("confirm") and data.get("reason")):
            self.add_error(
                "confirm" if not data.get("confirm") else "reason",
                " ".join(departures) + " Tick “Admit anyway” and say why.",
            )
        return data


class MergeForm(forms.Form):
    into = forms.IntegerField(
        min_value=1, label="Original inquiry number", help_text="This inquiry closes as its duplicate."
    )
    same_person = forms.BooleanField(
        required=False,
        label="Same person",
        help_text="Only needed when the two share no person record, phone or email.",
    )
