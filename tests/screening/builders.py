"""Building pre-screen answers the way a coordinator fills them in on a call."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from django.utils import timezone

from admissions.casework import IntakeData, intake_create
from admissions.models import Substance


def ago(**delta: float) -> str:
    """A last use that long before now, as the API takes it (the rules judge recency against now)."""
    return timezone.localtime(timezone.now() - timedelta(**delta)).replace(microsecond=0).isoformat()


LAST_NIGHT = ago(hours=12)
THIS_MORNING = ago(hours=2)


def all_clear() -> dict[str, Any]:
    """Every safety item answered "no": a complete screen with nothing used."""
    return {
        "emergency": {
            "overdose_now": False,
            "seizure_now": False,
            "chest_pain": False,
            "confused_now": False,
            "fever_rigidity": False,
        },
        "use": {"substances_30d": []},
        "withdrawal": {
            "past_seizures": False,
            "past_dts": False,
            "past_hallucinations": False,
            "symptoms_now": False,
        },
        "medical": {"pregnant": "no", "baclofen_pump": False},
        "psychiatric": {"psychosis_now": False, "severe_symptoms": False},
        "suicide": {"wish_dead": False, "thoughts": False, "recent_behaviour": False},
    }


def use(
    code: str,
    days: int,
    amount: float,
    unit: str,
    *,
    last: str = LAST_NIGHT,
    **extra: Any,
) -> tuple[str, dict[str, Any]]:
    """One substance row of the grid."""
    return code, {"days_used_30": days, "amount_per_day": amount, "unit": unit, "last_use": last, **extra}


def screen(*uses: tuple[str, dict[str, Any]], **sections: dict[str, Any]) -> dict[str, Any]:
    """A complete screen: all clear, plus the substances used and any section overrides."""
    answers = all_clear()
    for code, row in uses:
        answers["use"]["substances_30d"].append(code)
        answers.setdefault("substances", {})[code] = row
    for name, items in sections.items():
        answers.setdefault(name, {}).update(copy.deepcopy(items))
    return answers


def intake_inquiry(
    facility: Any, coordinator: Any, payer: Any, *, relationship: str = "self", **overrides: Any
) -> Any:
    """An inquiry opened by a coordinator's quick intake, with what intake records filled in."""
    values = {
        "facility": facility,
        "first_name": "Robin",
        "last_name": "Okafor",
        "phone": "+17275550177",
        "state": "NC",
        "postal_code": "28801",
        "caller_relationship": relationship,
        "caller_name": "Dana Okafor" if relationship != "self" else "",
        "substances": list(Substance.objects.filter(code__in=["baclofen", "alcohol"])),
        "message": "Wants help before the holidays.",
        # only the person can agree to texts: a family caller's intake leaves it unasked
        "ok_to_text": True if relationship == "self" else None,
        "ok_to_voicemail": False,
        "payer": payer,
        "member_id": "ZX99123",
    }
    values.update(overrides)
    return intake_create(data=IntakeData(**values), actor=coordinator)
