from django.contrib import admin

from admissions.models import (
    Caller,
    Campaign,
    ContactConsent,
    FollowUp,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    LeadSource,
    Person,
    ReferralPartner,
    Substance,
    Touch,
)
from crm.admin import FacilityScopedAdmin


@admin.register(Substance)
class SubstanceAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "category", "sedative_withdrawal_risk", "sort_order"]
    list_filter = ["category", "sedative_withdrawal_risk"]


@admin.register(LeadSource)
class LeadSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "default_facility", "is_active"]
    list_filter = ["kind", "is_active"]
    list_select_related = ["default_facility"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "lead_source", "utm_campaign", "starts_on", "ends_on"]
    list_select_related = ["lead_source"]


@admin.register(ReferralPartner)
class ReferralPartnerAdmin(admin.ModelAdmin):
    list_display = ["organisation", "kind", "contact_name", "relationship_owner", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["organisation", "contact_name"]
    list_select_related = ["relationship_owner"]


@admin.register(Person)
class PersonAdmin(FacilityScopedAdmin):
    facility_field = "inquiries__facility"
    list_display = ["id", "first_name", "last_name", "phone", "email", "state"]
    search_fields = ["=phone", "=email", "last_name"]

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).distinct()


@admin.register(Caller)
class CallerAdmin(FacilityScopedAdmin):
    facility_field = "inquiries__facility"
    list_display = ["id", "relationship", "name", "organisation"]

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).distinct()


class TouchInline(admin.TabularInline):
    model = Touch
    extra = 0
    fields = ["at", "channel", "lead_source", "campaign", "referral_partner", "utm_source", "utm_campaign"]
    readonly_fields = fields
    can_delete = False


class InsuranceInline(admin.StackedInline):
    model = InsurancePolicy
    extra = 0


@admin.register(Inquiry)
class InquiryAdmin(FacilityScopedAdmin):
    list_display = ["id", "facility", "stage", "channel", "lead_source", "assigned_to", "created_at"]
    list_filter = ["stage", "channel", "facility", "lead_source"]
    list_select_related = ["facility", "lead_source", "assigned_to"]
    search_fields = ["=id", "=phone", "=email"]
    date_hierarchy = "created_at"
    raw_id_fields = ["person", "caller", "duplicate_of", "capacity_hold"]
    # The stage and its timestamps change only through the pipeline service.
    readonly_fields = [
        "stage",
        "stage_changed_at",
        "created_at",
        "first_attempt_at",
        "contacted_at",
        "prescreened_at",
        "vob_started_at",
        "clinical_review_at",
        "approved_at",
        "scheduled_at",
        "admitted_at",
        "crisis_routed_at",
        "nurture_at",
        "closed_at",
    ]
    inlines = [TouchInline, InsuranceInline]


@admin.register(InquiryEvent)
class InquiryEventAdmin(FacilityScopedAdmin):
    facility_field = "inquiry__facility"
    list_display = ["at", "inquiry", "kind", "actor", "actor_label", "call_outcome"]
    list_filter = ["kind"]
    list_select_related = ["actor"]
    raw_id_fields = ["inquiry"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ContactConsent)
class ContactConsentAdmin(FacilityScopedAdmin):
    facility_field = "person__inquiries__facility"
    list_display = ["person", "medium", "source", "captured_at", "revoked_at"]
    list_filter = ["medium"]
    raw_id_fields = ["person"]

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).distinct()


@admin.register(InsurancePolicy)
class InsurancePolicyAdmin(FacilityScopedAdmin):
    facility_field = "inquiry__facility"
    list_display = ["inquiry", "rank", "payer", "vob_status", "vob_requested_at"]
    list_filter = ["vob_status", "rank"]
    raw_id_fields = ["inquiry"]


@admin.register(FollowUp)
class FollowUpAdmin(FacilityScopedAdmin):
    facility_field = "inquiry__facility"
    list_display = ["inquiry", "kind", "due_at", "state", "attempts", "outcome"]
    list_filter = ["state", "kind"]
    raw_id_fields = ["inquiry"]
