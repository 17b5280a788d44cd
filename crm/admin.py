from decimal import Decimal

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from crm.audit import audit_list, audit_record
from crm.models import AuditEvent, Facility, User
from crm.places import place_of_postal_code
from crm.roles import Role, has_role
from crm.scoping import scope_to_user


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ["name", "city", "state", "time_zone", "neutral_sender_name", "is_active"]
    list_filter = ["state", "is_active"]
    search_fields = ["name", "city"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        """Coordinates left blank, or not changed with the postal code, come from the postal code
        (``crm.places``): program matching ranks by distance from them."""
        typed = {"latitude", "longitude"} & set(form.changed_data)
        moved = "postal_code" in form.changed_data and not typed
        if moved or obj.latitude is None or obj.longitude is None:
            place = place_of_postal_code(obj.postal_code or "")
            if place is not None and place.latitude is not None and place.longitude is not None:
                obj.latitude = Decimal(f"{place.latitude:.5f}")
                obj.longitude = Decimal(f"{place.longitude:.5f}")
        super().save_model(request, obj, form, change)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (
        *BaseUserAdmin.fieldsets,  # type: ignore[misc]
        ("Admissions", {"fields": ("facilities", "is_on_duty")}),
    )
    list_display = ["username", "first_name", "last_name", "is_active", "is_on_duty"]
    list_filter = ["is_active", "is_on_duty", "groups", "facilities"]
    filter_horizontal = ["groups", "user_permissions", "facilities"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail cannot be edited through the application."""

    list_display = ["at", "actor", "actor_label", "action", "object_type", "object_id", "ip", "request_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "request_id", "actor__username", "actor_label"]
    date_hierarchy = "at"
    list_select_related = ["actor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        """The whole trail names who looked at which record at every facility: administrators only
        (a manager reads their facilities' trail on the audit pages)."""
        user = request.user
        return bool(user.is_active and (user.is_superuser or has_role(user, Role.ADMINISTRATOR)))  # type: ignore[arg-type]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


class FacilityScopedAdmin(admin.ModelAdmin):
    """Admin for records that hold PHI: scoped to the user's facilities, every view and change audited."""

    facility_field = "facility"

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return scope_to_user(super().get_queryset(request), request.user, facility_field=self.facility_field)

    def changelist_view(self, request, extra_context=None):  # type: ignore[no-untyped-def]
        """The list (and its search) shows records: one ``list`` row with the ids of the page."""
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None and response.status_code == 200:
            audit_list(
                model=self.model,
                ids=[obj.pk for obj in changelist.result_list],
                actor=request.user,
                what="admin search" if changelist.query else "admin list",
                fields=[str(name) for name in self.list_display],
                request=request,
            )
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):  # type: ignore[no-untyped-def]
        response = super().change_view(request, object_id, form_url, extra_context)
        self._audit_object_page(request, object_id, response)
        return response

    def history_view(self, request, object_id, extra_context=None):  # type: ignore[no-untyped-def]
        response = super().history_view(request, object_id, extra_context)
        self._audit_object_page(request, object_id, response, fields=["history"])
        return response

    def delete_view(self, request, object_id, extra_context=None):  # type: ignore[no-untyped-def]
        response = super().delete_view(request, object_id, extra_context)
        self._audit_object_page(request, object_id, response, fields=["delete confirmation"])
        return response

    def _audit_object_page(self, request, object_id, response, fields=()):  # type: ignore[no-untyped-def]
        """A page about one record that answered 200 showed it (a form re-shown with errors too)."""
        if response.status_code != 200:
            return
        obj = self.get_object(request, object_id)
        if obj is not None:
            audit_record(
                action=AuditEvent.Action.VIEW, obj=obj, actor=request.user, request=request, fields=fields
            )

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        audit_record(
            action=AuditEvent.Action.UPDATE if change else AuditEvent.Action.CREATE,
            obj=obj,
            actor=request.user,
            fields=form.changed_data,
            request=request,
        )
