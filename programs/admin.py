from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from programs.models import CapacityHold, Census, Discharge, LevelOfCare, Payer, Program, Specialty
from programs.services import capacity_freed


@admin.register(LevelOfCare)
class LevelOfCareAdmin(admin.ModelAdmin):
    list_display = ["edition", "code", "name", "setting", "intensity", "withdrawal_management", "is_active"]
    list_filter = ["edition", "setting", "is_active"]


@admin.register(Payer)
class PayerAdmin(admin.ModelAdmin):
    list_display = ["name", "is_self_pay"]
    search_fields = ["name"]


@admin.register(Specialty)
class SpecialtyAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]


class CensusInline(admin.StackedInline):
    model = Census
    extra = 0


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ["name", "facility", "setting", "level_of_care", "capacity_kind", "capacity", "is_active"]
    list_filter = ["facility", "setting", "is_active", "specialties"]
    search_fields = ["name"]
    list_select_related = ["facility", "level_of_care"]
    filter_horizontal = ["accepted_payers", "specialties"]
    inlines = [CensusInline]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """A program saved (capacity, census, payers or specialties changed) may have a place for
        someone waiting: the workers look (``capacity_freed``)."""
        super().save_related(request, form, formsets, change)
        capacity_freed(program_id=form.instance.pk)


@admin.register(Census)
class CensusAdmin(admin.ModelAdmin):
    list_display = ["program", "occupied", "expected_discharges_7d", "updated_at"]
    list_select_related = ["program__facility"]

    def save_model(self, request: HttpRequest, obj: Census, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        capacity_freed(program_id=obj.program_id)


@admin.register(Discharge)
class DischargeAdmin(admin.ModelAdmin):
    list_display = ["program", "on", "state", "source", "external_id", "recorded_at"]
    list_filter = ["state", "source", "program__facility"]
    list_select_related = ["program__facility"]
    search_fields = ["external_id"]

    # Written through programs.services only, which keeps census in step: read-only here.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CapacityHold)
class CapacityHoldAdmin(admin.ModelAdmin):
    list_display = ["program", "reference", "held_until", "released_at", "release_reason"]
    list_filter = ["release_reason", "program__facility"]
    list_select_related = ["program__facility"]
    search_fields = ["reference"]
