"""Who may see the dashboards: managers and administrators (scoped to their facilities)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm.roles import Role, has_role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from crm.models import User

DASHBOARD_ROLES = (Role.MANAGER, Role.ADMINISTRATOR)


def can_see_dashboards(user: User | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_superuser) or has_role(user, *DASHBOARD_ROLES)  # type: ignore[arg-type]
