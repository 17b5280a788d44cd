"""Writing the audit trail. Services and views call ``audit_record``; nothing else writes it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from crm.middleware import current_request_id
from crm.models import AuditEvent
from crm.text import text_safe

if TYPE_CHECKING:
    from django.http import HttpRequest

    from crm.models import User


def client_ip(request: HttpRequest | None) -> str | None:
    """The address of the person's device, for the audit trail and the sign-in lockout.

    Behind ``TRUSTED_PROXY_COUNT`` reverse proxies, ``REMOTE_ADDR`` is the nearest proxy; each
    proxy appends the address it saw to ``X-Forwarded-For``, so the client is that many entries
    from the right. Entries further left are whatever the client sent and are never trusted.
    With no proxy configured (the default), or a header too short or malformed, it is
    ``REMOTE_ADDR``.
    """
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < hops:
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-hops]))
    except ValueError:
        return remote


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
    row = AuditEvent(
        **audit_values(
            action=action, obj=obj, actor=actor, actor_label=actor_label, fields=fields, request=request
        )
    )
    row.save(force_insert=True)
    return row


def audit_values(
    *,
    action: AuditEvent.Action | str,
    obj: models.Model,
    actor: User | None = None,
    actor_label: str = "",
    fields: Iterable[str] = (),
    request: HttpRequest | None = None,
) -> dict[str, Any]:
    """The values of the row ``audit_record`` appends, by attribute name, for a caller that
    inserts it along with others. Text a client may have sent (a path, a key's label) is made
    safe to store first (``crm.text.text_safe``): a NUL would make the audit write fail."""
    return {
        "actor_id": actor.pk if actor is not None and actor.is_authenticated else None,
        "actor_label": text_safe(actor_label[:150]),
        "action": action,
        "object_type": obj._meta.label_lower,
        "object_id": text_safe(str(obj.pk))[:40],
        "fields": sorted(text_safe(str(name)) for name in fields),
        "ip": client_ip(request),
        "request_id": current_request_id(),
    }


def audit_list(
    *,
    model: type[models.Model],
    ids: Iterable[int],
    actor: User | None,
    what: str,
    fields: Iterable[str] = (),
    request: HttpRequest | None = None,
    even_empty: bool = False,
) -> AuditEvent | None:
    """Append one ``list`` row for a page that showed records of ``model``: the ids it showed, in
    ``listed``, and ``what`` (the page: ``queue:new``, ``search``) first in ``fields``, then the
    fields shown. Nothing when the page showed none, unless ``even_empty`` (a lookup whose asking
    is itself worth a row). The row names no search text or value."""
    shown = sorted({int(pk) for pk in ids})
    if not shown and not even_empty:
        return None
    row = AuditEvent(
        actor_id=actor.pk if actor is not None and actor.is_authenticated else None,
        action=AuditEvent.Action.LIST,
        object_type=model._meta.label_lower,
        object_id="",
        fields=[f"list:{text_safe(what)}", *sorted(text_safe(str(name)) for name in fields)],
        listed=shown,
        ip=client_ip(request),
        request_id=current_request_id(),
    )
    row.save(force_insert=True)
    return row


def audit_bulk_values(
    *,
    action: AuditEvent.Action | str,
    model: type[models.Model],
    ids: Iterable[int],
    actor: User | None,
    actor_label: str = "",
    what: str,
    fields: Iterable[str] = (),
    request: HttpRequest | None = None,
) -> dict[str, Any]:
    """The values of one audit row for a bulk write (an import's batch): the records written, in
    ``listed``, so each record's history finds it, and ``what`` (``import:12``) first in
    ``fields``, then the names (never the values) of the fields written. For a caller that inserts
    it with the batch's other rows."""
    return {
        "actor_id": actor.pk if actor is not None and actor.is_authenticated else None,
        "actor_label": text_safe(actor_label[:150]),
        "action": action,
        "object_type": model._meta.label_lower,
        "object_id": "",
        "fields": [text_safe(what), *sorted(text_safe(str(name)) for name in fields)],
        "listed": sorted({int(pk) for pk in ids}),
        "ip": client_ip(request),
        "request_id": current_request_id(),
    }
