"""What the inquiry page's "Consents and disclosures" section shows, read here so the
inquiry view needs no change: the person's consents and recent disclosures, and the
actions the user's role allows."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone

from privacy import selectors
from privacy.models import DisclosurePath
from privacy.services import PATH_RULES

register = template.Library()

RECENT_DISCLOSURES = 5


@register.simple_tag(takes_context=True)
def part2_section(context: template.Context) -> dict[str, Any] | None:
    """The section's data, or ``None`` when the user's role has nothing to do with Part 2 consent."""
    inquiry = context.get("inquiry")
    request = context.get("request")
    if inquiry is None or request is None:
        return None
    user = request.user
    paths = [
        (DisclosurePath(slug).label, reverse("privacy:disclose", args=[inquiry.pk, slug]))
        for slug, rule in PATH_RULES.items()
        if user.has_perm(rule.permission)
    ]
    sees_consents = user.has_perm("privacy.view_part2consent")
    sees_ledger = user.has_perm("privacy.view_disclosure")
    if not (sees_consents or sees_ledger or paths):
        return None
    today = timezone.localdate()
    consents = list(selectors.consents_for(inquiry=inquiry, user=user)) if sees_consents else []
    recent = (
        list(selectors.ledger_for(person_id=inquiry.person_id, user=user)[: RECENT_DISCLOSURES + 1])
        if sees_ledger
        else []
    )
    return {
        "consents": [(c, c.status(today)) for c in consents],
        "disclosures": recent[:RECENT_DISCLOSURES],
        "more_disclosures": len(recent) > RECENT_DISCLOSURES,
        "paths": paths,
        "can_record": user.has_perm("privacy.add_part2consent"),
        "sees_ledger": sees_ledger,
        "sees_audit": user.has_perm("crm.view_auditevent"),
    }
