from django.contrib import admin

from programs.models import CapacityHold, Census, LevelOfCare, Payer, Program, Specialty


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


@admin.register(Census)
class CensusAdmin(admin.ModelAdmin):
    list_display = ["program", "occupied", "expected_discharges_7d", "updated_at"]
    list_select_related = ["program__facility"]


@admin.register(CapacityHold)
class CapacityHoldAdmin(admin.ModelAdmin):
    list_display = ["program", "reference", "held_until", "released_at", "release_reason"]
    list_filter = ["release_reason", "program__facility"]
    list_select_related = ["program__facility"]
    search_fields = ["reference"]
