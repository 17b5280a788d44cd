"""Permission checks answered from ``crm.roles.user_access``: one statement a request for the
user's roles and permissions together, where Django's ``ModelBackend`` reads groups, group
permissions and the user's own permissions in three. The answers are the model backend's."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.db.models import Model

from crm.roles import user_access


class RoleBackend(ModelBackend):
    def get_all_permissions(self, user_obj: Any, obj: Model | None = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        return set(user_access(user_obj).permissions)
