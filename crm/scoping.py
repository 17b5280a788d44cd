"""Facility scoping: the one helper every queryset a staff user sees goes through."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.db import models

from crm.roles import ALL_FACILITY_ROLES, user_roles

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from crm.models import User

M = TypeVar("M", bound=models.Model)


def facility_ids_for(user: User | AnonymousUser) -> list[int] | None:
    """Facility ids the user may see; ``None`` means every facility."""
    if not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser or user_roles(user) & ALL_FACILITY_ROLES:  # type: ignore[arg-type]
        return None
    cached: list[int] | None = getattr(user, "_crm_facility_ids", None)
    if cached is None:
        cached = list(user.facilities.order_by().values_list("pk", flat=True))  # type: ignore[union-attr]
        setattr(user, "_crm_facility_ids", cached)  # noqa: B010 - per-request cache
    return cached


def scope_to_user(
    queryset: models.QuerySet[M], user: User | AnonymousUser, *, facility_field: str = "facility"
) -> models.QuerySet[M]:
    """Limit ``queryset`` to rows of the user's facilities (nothing for outsiders)."""
    ids = facility_ids_for(user)
    if ids is None:
        return queryset
    if not ids:
        return queryset.none()
    return queryset.filter(**{f"{facility_field}__in": ids})
