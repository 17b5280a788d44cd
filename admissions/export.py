"""Everything recorded about one person, as one JSON document (``admissions.export_person``).

The export is gathered generically: the person's row, every row of any model with a foreign
key to the person, each inquiry of the person the exporting user may see, and every row of
any model with a foreign key to those inquiries (timeline, touches, screenings, insurance,
follow-ups, messages, consents and disclosures). A model added later is included without a
change here. Audit rows are not part of it (they describe staff, not the person). Each export
writes an ``export`` audit row for the person and for every inquiry included. Values of a
category the exporting user may not see are masked, as on the pages (``crm.masking``).
"""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from admissions.models import IdempotencyRecord, Inquiry, Person
from admissions.selectors import inquiries_visible_to
from crm.audit import audit_record
from crm.masking import Sees, row_masked, sees_for
from crm.models import AuditEvent, User

EXPORT_PERMISSION = "admissions.export_person"
# Bookkeeping rows that say nothing about the person.
_SKIPPED = {IdempotencyRecord}


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)  # phone numbers and other value objects


def _row(obj: models.Model, sees: Sees) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        out[field.attname] = field.value_from_object(obj)
    for m2m in obj._meta.many_to_many:
        out[m2m.name] = sorted(o.pk for o in getattr(obj, m2m.name).all())
    return row_masked(obj._meta.label_lower, out, sees)


def _related_models(target: type[models.Model]) -> list[tuple[type[models.Model], str]]:
    """(model, field name) of every concrete foreign key or one-to-one to ``target``."""
    out = []
    for model in apps.get_models():
        if model in _SKIPPED or model is target:
            continue
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is target:
                out.append((model, field.name))
    return out


def person_export(*, person: Person, actor: User, request: HttpRequest | None = None) -> dict[str, Any]:
    """The export document; only inquiries the actor may see are included."""
    inquiries = list(inquiries_visible_to(actor).filter(person=person).order_by("created_at", "pk"))
    if not inquiries:
        raise Http404("No such person at your facilities.")
    ids = [i.pk for i in inquiries]
    sees = sees_for(actor)
    related: dict[str, list[dict[str, Any]]] = {}
    for model, name in _related_models(Person):
        if model is Inquiry:
            continue  # only the visible ones, below
        rows = model._default_manager.filter(**{name: person}).order_by("pk")
        related.setdefault(model._meta.label, []).extend(_row(r, sees) for r in rows)
    for model, name in _related_models(Inquiry):
        rows = model._default_manager.filter(**{f"{name}__in": ids}).order_by("pk")
        bucket = related.setdefault(model._meta.label, [])
        seen = {r["id"] for r in bucket if "id" in r}
        bucket.extend(
            r for r in (_row(row, sees) for row in rows) if r.get("id") not in seen or "id" not in r
        )
    callers = {i.caller_id for i in inquiries if i.caller_id}
    document = {
        "exported_at": timezone.now(),
        "exported_by": actor.get_username(),
        "person": _row(person, sees),
        "inquiries": [_row(i, sees) for i in inquiries],
        "callers": [
            _row(c, sees) for c in apps.get_model("admissions", "Caller").objects.filter(pk__in=callers)
        ],
        "related": {label: rows for label, rows in sorted(related.items()) if rows},
    }
    audit_record(
        action=AuditEvent.Action.EXPORT,
        obj=person,
        actor=actor,
        request=request,
        fields=["person", *sorted(related)],
    )
    for inquiry in inquiries:
        audit_record(
            action=AuditEvent.Action.EXPORT, obj=inquiry, actor=actor, request=request, fields=["all"]
        )
    return document


def person_export_json(document: dict[str, Any]) -> str:
    return json.dumps(document, cls=_Encoder, indent=2, sort_keys=True)


@login_required
@require_GET
def person_export_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET /people/<pk>/export/: the JSON document as a download."""
    user: User = request.user  # type: ignore[assignment]
    if not user.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied("Your role cannot export records.")
    person = Person.objects.filter(pk=pk).first()
    if person is None:
        raise Http404("No such person.")
    body = person_export_json(person_export(person=person, actor=user, request=request))
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="person-{person.pk}.json"'
    response["Cache-Control"] = "no-store"
    return response
