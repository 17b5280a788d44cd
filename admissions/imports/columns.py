"""What an import can fill (its fields) and the built-in column mappings (presets).

A preset maps each field to the column header an exporting system writes, and may translate
that system's stage names. Headers are matched without regard to case or surrounding spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from admissions.pipeline import STAGE_TIMESTAMP_FIELD, Stage


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    group: str
    help: str = ""


_STAGE_DATES = tuple(dict.fromkeys(STAGE_TIMESTAMP_FIELD.values()))

FIELDS: tuple[Field, ...] = (
    Field("external_id", "External id", "Record", "The other system's id of the row; keys re-runs."),
    Field("first_name", "First name", "Person"),
    Field("last_name", "Last name", "Person"),
    Field("date_of_birth", "Date of birth", "Person"),
    Field("gender", "Gender", "Person"),
    Field("phone", "Phone", "Person"),
    Field("mobile", "Mobile", "Person", "Used when there is no phone."),
    Field("email", "Email", "Person"),
    Field("street", "Street", "Person"),
    Field("city", "City", "Person"),
    Field("state", "State", "Person", "Two-letter code, e.g. FL."),
    Field("postal_code", "Postal code", "Person"),
    Field("preferred_language", "Preferred language", "Person"),
    Field("caller_relationship", "Caller relationship", "Caller", "self, family, professional or other"),
    Field("caller_name", "Caller name", "Caller"),
    Field("caller_phone", "Caller phone", "Caller"),
    Field("lead_source", "Lead source", "Attribution", "A lead source's name (or id)."),
    Field("campaign", "Campaign", "Attribution", "A campaign of that lead source, by name."),
    Field("stage", "Stage", "Pipeline"),
    Field("created_at", "Created", "Pipeline", "When the inquiry arrived."),
    *(
        Field(name, name.removesuffix("_at").replace("_", " ").capitalize(), "Stage dates")
        for name in _STAGE_DATES
    ),
    Field("lost_reason", "Lost reason", "Pipeline", "Needed for closed rows."),
    Field("referred_out_to", "Referred out to", "Pipeline", "Needed for referred-out rows."),
    Field("insurance_payer", "Insurance payer", "Insurance"),
    Field("insurance_member_id", "Member id", "Insurance"),
    Field("insurance_group", "Group number", "Insurance"),
    Field("consent_sms", "Consent to texts", "Consent", "yes / no"),
    Field("consent_email", "Consent to email", "Consent", "yes / no"),
    Field("consent_call", "Consent to calls", "Consent", "yes / no"),
    Field("consent_text", "Consent wording", "Consent", "The exact words the person agreed to."),
    Field("consent_at", "Consent given at", "Consent"),
    Field("notes", "Notes", "Notes"),
)
FIELD_NAMES: frozenset[str] = frozenset(f.name for f in FIELDS)
DATE_FIELDS: frozenset[str] = frozenset({"created_at", "consent_at", *_STAGE_DATES})


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    columns: dict[str, str]
    stages: dict[str, str] = field(default_factory=dict)  # the system's stage name (lower case) -> ours


SALESFORCE = Preset(
    "salesforce",
    "Salesforce lead export",
    {
        "external_id": "Lead ID",
        "first_name": "First Name",
        "last_name": "Last Name",
        "phone": "Phone",
        "mobile": "Mobile",
        "email": "Email",
        "lead_source": "Lead Source",
        "stage": "Lead Status",
        "created_at": "Created Date",
        "street": "Street",
        "city": "City",
        "state": "State/Province",
        "postal_code": "Zip/Postal Code",
        "notes": "Description",
    },
    {
        "open - not contacted": Stage.NEW,
        "working - contacted": Stage.CONTACTED,
        "closed - converted": Stage.ADMITTED,
        "closed - not converted": Stage.CLOSED,
    },
)

HUBSPOT = Preset(
    "hubspot",
    "HubSpot contact export",
    {
        "external_id": "Record ID",
        "first_name": "First Name",
        "last_name": "Last Name",
        "phone": "Phone Number",
        "mobile": "Mobile Phone Number",
        "email": "Email",
        "street": "Street Address",
        "city": "City",
        "state": "State/Region",
        "postal_code": "Postal Code",
        "created_at": "Create Date",
        "stage": "Lead Status",
        "notes": "Message",
    },
    {
        "new": Stage.NEW,
        "open": Stage.NEW,
        "attempted to contact": Stage.CONTACT_ATTEMPTED,
        "connected": Stage.CONTACTED,
        "in progress": Stage.CONTACTED,
        "open deal": Stage.CONTACTED,
        "bad timing": Stage.NURTURE,
        "unqualified": Stage.INVALID,
    },
)

# This CRM's own export (``admissions.export``) names each value by its field: the person's and
# the inquiry's columns, with the inquiry's id as the external id.
CRM = Preset(
    "crm",
    "This CRM's export",
    {
        "external_id": "id",
        **{
            name: name
            for name in (
                "first_name",
                "last_name",
                "date_of_birth",
                "gender",
                "phone",
                "email",
                "street",
                "city",
                "state",
                "postal_code",
                "preferred_language",
                "stage",
                "created_at",
                *_STAGE_DATES,
                "lost_reason",
                "referred_out_to",
            )
        },
        "lead_source": "lead_source_id",
        "campaign": "campaign_id",
        "notes": "message",
    },
)

PRESETS: dict[str, Preset] = {p.key: p for p in (SALESFORCE, HUBSPOT, CRM)}


def header_key(header: str) -> str:
    return " ".join(header.split()).casefold()


def columns_for(preset: Preset, headers: list[str]) -> dict[str, str]:
    """The preset's mapping restricted to the headers the file has, spelled as the file spells them."""
    by_key = {header_key(h): h for h in headers}
    return {
        name: by_key[header_key(col)] for name, col in preset.columns.items() if header_key(col) in by_key
    }


def columns_guess(headers: list[str]) -> dict[str, str]:
    """A mapping for a file with no preset: a header that names a field or its label maps to it."""
    by_key = {header_key(h): h for h in headers}
    out = {}
    for f in FIELDS:
        for candidate in (f.name, f.label, f.name.replace("_", " ")):
            if header_key(candidate) in by_key:
                out[f.name] = by_key[header_key(candidate)]
                break
    return out
