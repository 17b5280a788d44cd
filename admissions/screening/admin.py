"""Admin for pre-screen forms and screenings: read-only evidence, scoped and audited like all PHI."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from admissions.screening.models import Screening, ScreeningForm
from crm.admin import FacilityScopedAdmin


@admin.register(ScreeningForm)
class ScreeningFormAdmin(admin.ModelAdmin):
    """Versions are added by migrations from ``definition.py``; here they are only (de)activated."""

    list_display = ["version", "is_active", "created_at"]
    fields = ["version", "is_active", "created_at", "definition"]
    readonly_fields = ["version", "created_at", "definition"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Screening)
class ScreeningAdmin(FacilityScopedAdmin):
    """Screenings change only through the screening services (rules, red flags, audit)."""

    facility_field = "inquiry__facility"
    list_display = [
        "id",
        "inquiry",
        "complete",
        "provisional_level",
        "has_red_flag",
        "final_level",
        "saved_at",
    ]
    list_filter = ["complete", "has_red_flag"]
    list_select_related = ["provisional_level", "final_level"]
    raw_id_fields = ["inquiry"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Screening._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
