from datetime import timedelta

from django.contrib import admin
from django.http import HttpResponse
from django.template import RequestContext, Template
from django.urls import reverse
from django.utils import timezone

from admissions.api.keys import lead_source_key_create, lead_source_key_revoke
from admissions.models import (
    Caller,
    Campaign,
    ContactConsent,
    FollowUp,
    IdempotencyRecord,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    LeadSource,
    LeadSourceKey,
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
    fields = ("at", "channel", "lead_source", "campaign", "referral_partner", "utm_source", "utm_campaign")
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


# --- lead API keys ---------------------------------------------------------------------

_KEY_CREATED_PAGE = Template(
    "{% extends 'admin/base_site.html' %}{% block content %}"
    "<h1>API key created for {{ key.lead_source.name }}</h1>"
    "<p>Copy the key now and give it to the vendor over a secure channel. It is shown once: "
    "only its hash is stored.</p>"
    "<p><code style='font-size:1.2em;user-select:all'>{{ token }}</code></p>"
    "<p>Prefix {{ key.prefix }}, expires {{ key.expires_at|date:'Y-m-d' }}, "
    "{{ key.rate_limit_per_minute }} requests per minute.</p>"
    "<p><a href='{{ back }}'>Back to the keys</a></p>{% endblock %}"
)


@admin.register(LeadSourceKey)
class LeadSourceKeyAdmin(admin.ModelAdmin):
    """Keys are made here or with ``manage.py create_lead_source_key``; the token is shown once."""

    list_display = ["prefix", "lead_source", "label", "created_at", "expires_at", "revoked_at"]
    list_filter = ["lead_source", "revoked_at"]
    list_select_related = ["lead_source"]
    search_fields = ["=prefix", "label", "lead_source__name"]
    readonly_fields = ["prefix", "created_at", "created_by", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ["lead_source", "label", "expires_at", "rate_limit_per_minute"]
        return ["lead_source", "label", "prefix", "created_at", "created_by", "expires_at",
                "revoked_at", "rate_limit_per_minute"]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [*self.readonly_fields, "lead_source"] if obj is not None else []

    def get_changeform_initial_data(self, request):  # type: ignore[no-untyped-def]
        return {"expires_at": timezone.now() + timedelta(days=365)}

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            super().save_model(request, obj, form, change)
            return
        key, token = lead_source_key_create(
            lead_source=obj.lead_source,
            label=obj.label,
            expires_at=obj.expires_at,
            rate_limit_per_minute=obj.rate_limit_per_minute,
            created_by=request.user,
        )
        obj.pk, obj.prefix, obj.created_at, obj._token = key.pk, key.prefix, key.created_at, token

    def response_add(self, request, obj, post_url_continue=None):  # type: ignore[no-untyped-def]
        context = {
            **self.admin_site.each_context(request),
            "key": obj,
            "token": getattr(obj, "_token", ""),
            "back": reverse("admin:admissions_leadsourcekey_changelist"),
        }
        response = HttpResponse(_KEY_CREATED_PAGE.render(RequestContext(request, context)))
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected keys now")
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        for key in queryset.filter(revoked_at__isnull=True):
            lead_source_key_revoke(key=key)

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # revoke instead: audit rows name keys by prefix


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["api_key", "key", "response_status", "result", "inquiry", "created_at", "expires_at"]
    list_select_related = ["api_key"]
    raw_id_fields = ["api_key", "inquiry"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


# The sub-packages keep their admin classes beside their code; importing registers them.
from admissions.messaging import admin as _messaging_admin  # noqa: E402,F401,I001
from admissions.screening import admin as _screening_admin  # noqa: E402,F401,I001
from admissions.calls import admin as _calls_admin  # noqa: E402,F401,I001
