"""What intake and the lead API already recorded, offered as the pre-screen's starting answers.

A coordinator who opens the pre-screen after intake should confirm what the caller said, not ask
it again. ``screening_prefill`` reads the person, the caller, the inquiry (its substances and the
caller's own words) and the primary insurance policy, and proposes answers for the items the
screening has not answered yet.

Two rules keep the screen honest:

- a pre-fill never answers a safety item: it only proposes answers for items the form does not
  mark ``safety``, so completeness and the red-flag rules see only what the coordinator answered.
  What intake knows about a safety item (the substances it recorded) is shown as a hint beside
  the question instead;
- a proposed answer is only a value in an input, marked "from intake": nothing is stored until
  the coordinator saves the screen, and the values shown follow the viewer's masking (``crm.masking``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from admissions.models import Inquiry, InsurancePolicy
from admissions.screening.definition import FormDefinition
from crm.masking import Sees
from crm.places import place_of_postal_code

# Shown beside a pre-filled answer: where it came from.
FROM_INTAKE = "From intake"

_GENDERS = {"f": "woman", "female": "woman", "woman": "woman", "w": "woman"} | {
    "m": "man",
    "male": "man",
    "man": "man",
    "nonbinary": "nonbinary",
    "non-binary": "nonbinary",
}


@dataclass(frozen=True)
class Prefill:
    """Answers proposed from intake, and hints for questions intake touched but may not answer."""

    # Sections of proposed answers, in the screening's answer shape (never a safety item).
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Item path -> what intake recorded, shown beside a question a pre-fill must not answer.
    hints: dict[str, str] = field(default_factory=dict)
    # Who called, as intake recorded it ("Dana Reyes (mother)"), or "" for the person themselves.
    caller: str = ""

    @property
    def paths(self) -> set[str]:
        return {f"{section}.{code}" for section, items in self.answers.items() for code in items}


def _answered(answers: dict[str, Any], section: str, code: str) -> bool:
    given = answers.get(section)
    return isinstance(given, dict) and given.get(code) is not None


def _caller_label(inquiry: Inquiry, sees: Sees) -> str:
    caller = inquiry.caller
    if caller is None or caller.relationship == caller.Relationship.SELF:
        return ""
    detail = caller.relationship_detail or caller.get_relationship_display().lower()
    name = caller.name if sees.name else ""
    return f"{name} ({detail})" if name else f"a {detail}"


def screening_prefill(
    *,
    inquiry: Inquiry,
    definition: FormDefinition,
    answers: dict[str, Any],
    policy: InsurancePolicy | None,
    substance_names: list[str],
    sees: Sees,
) -> Prefill:
    """Answers intake recorded for the items ``answers`` leaves open (never a safety item)."""
    person = inquiry.person
    proposed: dict[str, dict[str, Any]] = {"logistics": {}, "insurance": {}, "readiness": {}}
    logistics = proposed["logistics"]
    if person.ok_to_text is not None:
        logistics["ok_to_text"] = person.ok_to_text
    if person.ok_to_voicemail is not None:
        logistics["ok_to_voicemail"] = person.ok_to_voicemail
    if person.state:
        logistics["state"] = person.state.upper()
    place = place_of_postal_code(person.postal_code) if person.postal_code else None
    if place is not None:
        logistics["postal_code"] = place.postal_code
    gender = _GENDERS.get(person.gender.strip().lower()) if person.gender else None
    if gender:
        logistics["gender"] = gender
    if policy is not None:
        insurance = proposed["insurance"]
        if policy.vob_status == InsurancePolicy.VobStatus.SELF_PAY:
            insurance["self_pay"] = True
        if policy.payer_id is not None:
            insurance["payer_id"] = policy.payer_id
        if policy.payer_name:
            insurance["payer_name"] = policy.payer_name
        if sees.insurance_ids:
            for code, value in (
                ("member_id", policy.member_id),
                ("group_number", policy.group_number),
                ("subscriber_name", policy.subscriber_name),
                ("subscriber_dob", policy.subscriber_date_of_birth),
            ):
                if value:
                    insurance[code] = value.isoformat() if hasattr(value, "isoformat") else value
    if sees.clinical and inquiry.message:
        proposed["readiness"]["why_now"] = inquiry.message[:500]
    kept: dict[str, dict[str, Any]] = {}
    for section, items in proposed.items():
        for code, value in items.items():
            if _is_safety(definition, section, code) or _answered(answers, section, code):
                continue
            kept.setdefault(section, {})[code] = value
    hints = {}
    if substance_names and sees.clinical and not _answered(answers, "use", "substances_30d"):
        hints["use.substances_30d"] = (
            f"Intake recorded: {', '.join(substance_names)}. Ask about each and tick what they used."
        )
    return Prefill(answers=kept, hints=hints, caller=_caller_label(inquiry, sees))


def _is_safety(definition: FormDefinition, section: str, code: str) -> bool:
    """Items the form does not have are treated as safety items: never pre-filled."""
    try:
        items = definition.section(section)["items"]
    except KeyError:
        return True
    item = next((i for i in items if i["code"] == code), None)
    return item is None or bool(item.get("safety"))
