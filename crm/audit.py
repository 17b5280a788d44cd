"""Writing the audit trail. Services and views call ``audit_record``; nothing else writes it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db import models

from crm.middleware import current_request_id
from crm.models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

    from crm.models import User


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    action: AuditEvent.Action | str,
    obj: models.Model,
    actor: User | None = None,
    actor_label: str = "",
    fields: Iterable[str] = (),
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one audit row for an action on ``obj``."""
    if actor is not None and not actor.is_authenticated:
        actor = None
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=actor_label[:150],
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        fields=sorted(fields),
        ip=client_ip(request),
        request_id=current_request_id(),
    )
