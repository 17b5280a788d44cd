"""Filters of the work queue; their values live in the URL so a filtered queue can be shared."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from admissions.forms import staff_for
from admissions.models import Inquiry, LeadSource
from admissions.pipeline import WORKING_STAGES
from crm.formfields import ListedChoiceIterator
from crm.models import Facility
from crm.scoping import facility_ids_for
from programs.models import Program


def _facilities(request: HttpRequest | None) -> QuerySet[Facility]:
    ids = facility_ids_for(request.user) if request else []
    rows = Facility.objects.filter(is_active=True).order_by("name")
    return rows if ids is None else rows.filter(pk__in=ids)


def _programs(request: HttpRequest | None) -> QuerySet[Program]:
    ids = facility_ids_for(request.user) if request else []
    rows = Program.objects.filter(is_active=True).select_related("facility").order_by("name")
    return rows if ids is None else rows.filter(facility_id__in=ids)


def _owners(request: HttpRequest | None) -> QuerySet[Any]:
    return staff_for(facility_ids_for(request.user) if request else [])


class _ListedModelChoiceField(django_filters.fields.ModelChoiceField):
    iterator = ListedChoiceIterator  # one plain query, cached (crm.formfields)


class ModelChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = _ListedModelChoiceField


class QueueFilter(django_filters.FilterSet):
    facility = ModelChoiceFilter(queryset=_facilities, empty_label="All facilities")
    program = ModelChoiceFilter(
        queryset=_programs, method="filter_program", empty_label="All programs", label="Program"
    )
    source = ModelChoiceFilter(
        field_name="lead_source",
        queryset=LeadSource.objects.order_by("name"),
        empty_label="All sources",
    )
    stage = django_filters.ChoiceFilter(
        choices=[(s.value, s.label) for s in WORKING_STAGES], empty_label="All open stages"
    )
    owner = ModelChoiceFilter(field_name="assigned_to", queryset=_owners, empty_label="Anyone")

    class Meta:
        model = Inquiry
        fields: list[str] = []

    def filter_program(self, queryset: QuerySet[Inquiry], name: str, value: Program) -> QuerySet[Inquiry]:
        return queryset.filter(Q(program_of_interest=value) | Q(approved_program=value))

    @property
    def active(self) -> bool:
        return any(self.form.cleaned_data.get(name) for name in self.filters) if self.is_bound else False
