"""Which values each role sees: the one definition of field-level masking.

Four categories of values, each shown only to holders of one permission (``crm.roles`` says
which roles hold it). Everything that shows a person's values applies this table: the pages
through the ``sees`` template variable and the ``mask`` and ``event_body`` filters
(``crm/templatetags/masking.py``), rows built in Python and exports through ``sees_for`` and
``row_masked``. A category a role lacks is replaced by ``MASK``, which reveals neither the value
nor its length; an empty value stays empty.

- ``name`` (``admissions.view_person``): the person's and the caller's names, a consent's signer;
- ``contact`` (``admissions.view_person``): phone numbers, email addresses, date of birth, street;
- ``clinical`` (``admissions.view_clinical_answers``): substances, pre-screen answers, safety flag
  labels and reasons, the caller's own words, clinical notes and judgements;
- ``insurance_ids`` (``admissions.view_insurance_ids``): member id, group number, subscriber name
  and date of birth.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from crm.models import User


class Category(StrEnum):
    NAME = "name"
    CONTACT = "contact"
    CLINICAL = "clinical"
    INSURANCE_IDS = "insurance_ids"


PERMISSION = {
    Category.NAME: "admissions.view_person",
    Category.CONTACT: "admissions.view_person",
    Category.CLINICAL: "admissions.view_clinical_answers",
    Category.INSURANCE_IDS: "admissions.view_insurance_ids",
}

MASK = "•••••• (hidden for your role)"

# model label -> field attname -> category: the stored values of each category.
FIELDS: dict[str, dict[str, Category]] = {
    "admissions.person": {
        "first_name": Category.NAME,
        "last_name": Category.NAME,
        "phone": Category.CONTACT,
        "email": Category.CONTACT,
        "date_of_birth": Category.CONTACT,
        "street": Category.CONTACT,
    },
    "admissions.caller": {
        "name": Category.NAME,
        "phone": Category.CONTACT,
        "email": Category.CONTACT,
    },
    "admissions.inquiry": {
        "phone": Category.CONTACT,
        "email": Category.CONTACT,
        "message": Category.CLINICAL,
        "substances": Category.CLINICAL,
        "close_note": Category.CLINICAL,
    },
    "admissions.insurancepolicy": {
        "member_id": Category.INSURANCE_IDS,
        "group_number": Category.INSURANCE_IDS,
        "subscriber_name": Category.INSURANCE_IDS,
        "subscriber_date_of_birth": Category.INSURANCE_IDS,
    },
    "admissions.contactconsent": {"address": Category.CONTACT},
    "admissions.screening": {
        "answers": Category.CLINICAL,
        "result": Category.CLINICAL,
        "safety_flags": Category.CLINICAL,
        "signoff_note": Category.CLINICAL,
        "override_reason": Category.CLINICAL,
    },
    "privacy.part2consent": {"signer_name": Category.NAME},
}

# Pre-screen answers (section, item) of a narrower category than the clinical answers they sit
# among: the insurance identifiers a pre-screen records, masked as the policy's own fields are.
ANSWER_FIELDS: dict[tuple[str, str], Category] = {
    ("insurance", "member_id"): Category.INSURANCE_IDS,
    ("insurance", "group_number"): Category.INSURANCE_IDS,
    ("insurance", "subscriber_name"): Category.INSURANCE_IDS,
    ("insurance", "subscriber_dob"): Category.INSURANCE_IDS,
}

# Timeline entries whose text is the caller's own words or a clinical judgement.
CLINICAL_EVENT_KINDS = frozenset(
    {"created", "touch", "screening", "red_flag", "refer_out_proposed", "screening_signoff", "match_override"}
)


@dataclass(frozen=True)
class Sees:
    """The categories one user sees; ``sees.clinical`` and the like read well in templates."""

    name: bool
    contact: bool
    clinical: bool
    insurance_ids: bool

    def __contains__(self, category: object) -> bool:
        return bool(getattr(self, str(category), False))


def sees_for(user: User | AnonymousUser) -> Sees:
    """The categories ``user`` sees, cached on the user object for the request."""
    cached: Sees | None = getattr(user, "_crm_sees", None)
    if cached is None:
        allowed = {c: user.is_authenticated and user.has_perm(PERMISSION[c]) for c in Category}
        cached = Sees(**{c.value: allowed[c] for c in Category})
        setattr(user, "_crm_sees", cached)  # noqa: B010 - per-request cache
    return cached


def masked(value: Any, allowed: Any) -> Any:
    """The value when ``allowed`` is true; otherwise the mask (an empty value stays empty)."""
    if allowed or value in (None, "", [], {}):
        return value
    return MASK


def answers_withheld(sees: Sees) -> frozenset[str]:
    """The answer paths (``section.item``) ``sees`` may not read (nor, on a page, write)."""
    return frozenset(f"{section}.{item}" for (section, item), c in ANSWER_FIELDS.items() if c not in sees)


def answers_masked(answers: dict[str, Any], sees: Sees) -> dict[str, Any]:
    """Pre-screen answers with the items ``sees`` lacks masked (an empty answer stays empty)."""
    withheld = answers_withheld(sees)
    if not withheld:
        return answers
    out = dict(answers)
    for path in withheld:
        section, item = path.split(".", 1)
        given = out.get(section)
        if isinstance(given, dict) and item in given:
            out[section] = {**given, item: masked(given[item], False)}
    return out


def event_category(kind: str) -> Category | None:
    """The category of a timeline entry's text, by the entry's kind."""
    return Category.CLINICAL if kind in CLINICAL_EVENT_KINDS else None


def row_masked(label: str, row: dict[str, Any], sees: Sees) -> dict[str, Any]:
    """A model row (values by attname, as an export writes it) with the fields ``sees`` lacks masked."""
    fields = FIELDS.get(label, {})
    out = {
        name: value if name not in fields else masked(value, fields[name] in sees)
        for name, value in row.items()
    }
    if label == "admissions.inquiryevent" and event_category(str(row.get("kind", ""))) is not None:
        out["body"] = masked(row.get("body"), Category.CLINICAL in sees)
    return out
