"""Administration of templates and cadences; read-only views of messages (scoped, audited)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from admissions.messaging.models import (
    CadenceStep,
    InboundMessage,
    MessageTemplate,
    MessagingHold,
    OutboundMessage,
    SendingRule,
)
from crm.admin import FacilityScopedAdmin


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """Saving runs ``MessageTemplate.clean``: the content check refuses revealing words here."""

    list_display = ["code", "medium", "facility", "subject", "is_active", "updated_at"]
    list_filter = ["medium", "is_active", "facility"]
    search_fields = ["code", "subject", "body"]
    list_select_related = ["facility"]


@admin.register(CadenceStep)
class CadenceStepAdmin(admin.ModelAdmin):
    list_display = ["name", "trigger", "kind", "channel", "offset", "repeat_every", "facility", "is_active"]
    list_filter = ["trigger", "channel", "is_active"]
    list_select_related = ["facility"]


@admin.register(SendingRule)
class SendingRuleAdmin(admin.ModelAdmin):
    """Federal and state sending hours and caps, with the statute each comes from."""

    list_display = ["place", "name", "starts_at", "ends_at", "max_per_24h", "statute", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["place", "name", "statute"]


class _ReadOnly(FacilityScopedAdmin):
    facility_field = "inquiry__facility"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OutboundMessage)
class OutboundMessageAdmin(_ReadOnly):
    list_display = ["id", "medium", "status", "automated", "inquiry", "sent_at", "provider_message_id"]
    list_filter = ["medium", "status", "automated"]
    raw_id_fields = ["person", "inquiry", "followup", "sent_by"]


@admin.register(InboundMessage)
class InboundMessageAdmin(_ReadOnly):
    list_display = ["id", "channel", "meaning", "inquiry", "received_at"]
    list_filter = ["channel", "meaning"]
    raw_id_fields = ["person", "inquiry"]


@admin.register(MessagingHold)
class MessagingHoldAdmin(_ReadOnly):
    """Released from the inquiry page (by a clinician after a crisis), so the timeline records it."""

    list_display = ["id", "reason", "inquiry", "started_at", "released_at"]
    list_filter = ["reason"]
    raw_id_fields = ["person", "inquiry", "started_by", "released_by"]
