"""Create the role groups and give them exactly the permissions in ``crm.roles``."""

from __future__ import annotations

from typing import Any

from crm.roles import Role, role_permission_codenames


def roles_sync(*, group_model: Any, permission_model: Any) -> None:
    """Make every role group hold exactly its listed permissions (models passed for migrations)."""
    for role in Role:
        group, _ = group_model.objects.get_or_create(name=role.value)
        wanted = role_permission_codenames(role)
        perms = [
            permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in wanted
        ]
        group.permissions.set(perms)
