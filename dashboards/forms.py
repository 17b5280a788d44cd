"""The filter form every dashboard page reads from its URL (GET), so a view can be shared."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms

from dashboards.selectors import DEFAULT_DAYS, MAX_DAYS, Filters


class DashboardFilterForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    facility = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    program = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    source = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Lead source")

    def __init__(self, data: Any, *, choices: dict[str, list[tuple[int, str]]], today: date) -> None:
        super().__init__(data)
        self.today = today
        labels = {"facility": "All my facilities", "program": "All programs", "source": "All sources"}
        for name, label in labels.items():
            self.fields[name].choices = [("", label), *choices[name]]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        end = cleaned.get("end") or self.today
        start = cleaned.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The start date must be on or before the end date.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose a range of at most {MAX_DAYS} days.")
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def filters(self) -> Filters:
        """The valid filters, or the default (last 90 days, everything) when the input is not valid."""
        if not self.is_valid():
            return Filters.default(self.today)
        c = self.cleaned_data
        return Filters(
            start=c["start"], end=c["end"], facility=c["facility"], program=c["program"], source=c["source"]
        )
