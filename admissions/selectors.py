"""Reads for pages and APIs; joins and scoping are decided here, once."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from admissions.models import Inquiry
from admissions.pipeline import OPEN_STAGES
from crm.models import User
from crm.scoping import scope_to_user


def inquiries_visible_to(user: User | AnonymousUser) -> QuerySet[Inquiry]:
    """Every inquiry of the user's facilities."""
    return scope_to_user(Inquiry.objects.all(), user)


def inquiries_open_for(user: User | AnonymousUser) -> QuerySet[Inquiry]:
    """Open inquiries of the user's facilities, oldest first, with what a list row shows."""
    return (
        inquiries_visible_to(user)
        .filter(stage__in=sorted(OPEN_STAGES))
        .select_related("person", "facility", "lead_source", "assigned_to")
        .only(
            "id",
            "stage",
            "created_at",
            "first_attempt_at",
            "channel",
            "person__first_name",
            "person__last_name",
            "facility__name",
            "lead_source__name",
            "assigned_to__username",
            "assigned_to__first_name",
            "assigned_to__last_name",
        )
        .order_by("created_at", "pk")
    )
