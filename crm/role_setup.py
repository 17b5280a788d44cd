"""Create the role groups and give them exactly the permissions in ``crm.roles``."""

from __future__ import annotations

from typing import Any

from crm.roles import Role, role_permission_codenames


def roles_sync(*, group_model: Any, permission_model: Any) -> None:
    """Make every role group hold exactly its listed permissions (models passed for migrations)."""
    for role in Role:
        group, _ = group_model.objects.get_or_create(name=role.value)
        wanted = role_permission_codenames(role)
        # A permission of a model that a later migration adds is picked up when that
        # migration syncs the roles again.
        perms = [
            perm
            for app_label, codename in wanted
            for perm in permission_model.objects.filter(content_type__app_label=app_label, codename=codename)
        ]
        group.permissions.set(perms)


def roles_sync_migration(apps: Any, schema_editor: Any) -> None:
    """RunPython body: create pending permissions, then re-sync every role group."""
    from django.contrib.auth.management import create_permissions  # noqa: PLC0415

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_sync(
        group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission")
    )
