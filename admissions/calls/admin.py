"""Call-tracking sources (write-only signing secret) and tracking numbers."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from admissions.calls.models import CallTrackingSource, TrackingNumber
from admissions.calls.services import (
    call_tracking_source_create,
    call_tracking_source_revoke,
    call_tracking_source_secret_set,
)


class CallTrackingSourceForm(forms.ModelForm):
    signing_secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=True,
        help_text=(
            "CallRail: the company's webhook signing token. CallTrackingMetrics: the account's webhook "
            "secret. Stored encrypted and never shown again; leave empty to keep the current one."
        ),
    )

    class Meta:
        model = CallTrackingSource
        fields = ["lead_source", "provider", "label"]

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean() or {}
        if self.instance.pk is None and not cleaned.get("signing_secret"):
            self.add_error("signing_secret", "Paste the service's signing secret.")
        return cleaned


@admin.register(CallTrackingSource)
class CallTrackingSourceAdmin(admin.ModelAdmin):
    """The webhook URLs are /api/v1/calls/<ref>/start/ and /api/v1/calls/<ref>/end/."""

    form = CallTrackingSourceForm
    list_display = ["ref", "provider", "label", "lead_source", "created_at", "revoked_at"]
    list_filter = ["provider", "revoked_at"]
    list_select_related = ["lead_source"]
    readonly_fields = ["ref", "created_at", "created_by", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ["lead_source", "provider", "label", "signing_secret"]
        return ["lead_source", "provider", "label", "signing_secret", *self.readonly_fields]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        secret = form.cleaned_data.get("signing_secret", "")
        if change:
            obj.save(update_fields=["lead_source", "provider", "label"])
            if secret:
                call_tracking_source_secret_set(source=obj, secret=secret)
            return
        created = call_tracking_source_create(
            lead_source=obj.lead_source,
            provider=obj.provider,
            label=obj.label,
            secret=secret,
            created_by=request.user,
        )
        obj.pk, obj.ref, obj.created_at = created.pk, created.ref, created.created_at

    @admin.action(description="Revoke the selected sources now")
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        for source in queryset:
            call_tracking_source_revoke(source=source)

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # revoke instead: received calls name their source


@admin.register(TrackingNumber)
class TrackingNumberAdmin(admin.ModelAdmin):
    list_display = ["number", "label", "lead_source", "campaign"]
    list_select_related = ["lead_source", "campaign"]
    search_fields = ["=number", "label"]
