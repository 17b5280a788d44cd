"""Roles are Django groups; this module is the one place that says what each may do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm.models import User


class Role(StrEnum):
    COORDINATOR = "Admissions coordinator"
    CLINICAL_REVIEWER = "Clinical reviewer"
    VOB_SPECIALIST = "VOB specialist"
    MANAGER = "Admissions manager"
    MARKETING = "Marketing"
    ADMINISTRATOR = "Administrator"


_VIEW = "view"
_CHANGE = ("view", "add", "change")
# Part 2 disclosure paths; each is its own permission so VOB may make only the outside-VOB one.
_DISCLOSE = ("disclose_referral_packet", "disclose_outside_vob", "disclose_partner")

# app_label.model -> actions, per role. Minimum necessary: marketing gets no
# model permission at all (it reads aggregates through the API only); VOB
# works insurance; only administrators manage facilities, programs and users.
# Masked categories are permissions of their own (crm.masking says which values each covers):
# view_person (names and contact details), view_clinical_answers (substances, pre-screen
# answers, flag reasons, clinical notes, the caller's own words) and view_insurance_ids
# (member, group and subscriber details). Exporting a
# person's whole record is export_person, separate from any view permission.
ROLE_PERMISSIONS: dict[Role, dict[str, tuple[str, ...]]] = {
    Role.COORDINATOR: {
        "admissions.person": _CHANGE,
        "admissions.caller": _CHANGE,
        "admissions.inquiry": _CHANGE,
        "admissions.inquiryevent": ("view", "add"),
        "admissions.touch": ("view",),
        "admissions.insurancepolicy": (*_CHANGE, "view_insurance_ids"),
        "admissions.contactconsent": _CHANGE,
        "admissions.referralpartner": ("view",),
        "admissions.leadsource": ("view",),
        "programs.program": ("view",),
        "programs.capacityhold": _CHANGE,
        "programs.census": ("view",),
        "programs.discharge": _CHANGE,
        "admissions.waitlistentry": _CHANGE,
        "admissions.screening": ("view", "add", "change", "view_clinical_answers"),
        "admissions.outboundmessage": ("view",),
        "admissions.inboundmessage": ("view",),
        "privacy.part2consent": _CHANGE,
        "privacy.disclosure": ("view", *_DISCLOSE),
    },
    Role.CLINICAL_REVIEWER: {
        "admissions.person": ("view",),
        "admissions.caller": ("view",),
        "admissions.inquiry": ("view", "change"),
        "admissions.inquiryevent": ("view", "add"),
        "admissions.screening": ("view", "change", "view_clinical_answers"),
        "programs.program": ("view",),
        "programs.census": ("view",),
    },
    Role.VOB_SPECIALIST: {
        "admissions.inquiry": ("view",),
        "admissions.insurancepolicy": ("view", "change", "view_insurance_ids"),
        "admissions.inquiryevent": ("view", "add"),
        "programs.payer": ("view",),
        "privacy.part2consent": ("view",),
        "privacy.disclosure": ("view", "disclose_outside_vob"),
    },
    Role.MANAGER: {
        "admissions.person": (*_CHANGE, "export_person"),
        "admissions.caller": _CHANGE,
        "admissions.inquiry": _CHANGE,
        "admissions.inquiryevent": ("view", "add"),
        "admissions.touch": ("view",),
        "admissions.insurancepolicy": (*_CHANGE, "view_insurance_ids"),
        "admissions.contactconsent": _CHANGE,
        "admissions.referralpartner": _CHANGE,
        "admissions.leadsource": _CHANGE,
        "admissions.campaign": _CHANGE,
        "programs.program": ("view",),
        "programs.capacityhold": _CHANGE,
        "programs.census": _CHANGE,
        "programs.discharge": _CHANGE,
        "admissions.waitlistentry": _CHANGE,
        "crm.auditevent": ("view", "export_records"),
        # Managers run and override screens (SCREENING_ROLES), so they read the answers.
        "admissions.screening": ("view", "view_clinical_answers"),
        "admissions.outboundmessage": ("view",),
        "admissions.inboundmessage": ("view",),
        "admissions.messagetemplate": _CHANGE,
        "admissions.cadencestep": _CHANGE,
        "admissions.leadsourcekey": ("view", "add", "change"),
        "admissions.importjob": ("view", "add", "run_import"),
        "admissions.importmapping": _CHANGE,
        "admissions.calltrackingsource": ("view", "add", "change"),
        "admissions.trackingnumber": _CHANGE,
        "privacy.part2consent": _CHANGE,
        "privacy.disclosure": ("view", *_DISCLOSE),
    },
    Role.MARKETING: {},
    Role.ADMINISTRATOR: {
        "crm.facility": (*_CHANGE, "delete"),
        "crm.user": (*_CHANGE, "delete"),
        "crm.auditevent": ("view",),
        # MFA devices: see them and reset one (delete); never add or edit a key for someone else
        "otp_totp.totpdevice": ("view", "delete"),
        "programs.levelofcare": (*_CHANGE, "delete"),
        "programs.program": (*_CHANGE, "delete"),
        "programs.payer": (*_CHANGE, "delete"),
        "programs.specialty": (*_CHANGE, "delete"),
        "programs.census": _CHANGE,
        "programs.capacityhold": _CHANGE,
        "programs.discharge": _CHANGE,
        "admissions.referralpartner": (*_CHANGE, "delete"),
        "admissions.leadsource": (*_CHANGE, "delete"),
        "admissions.campaign": (*_CHANGE, "delete"),
        "admissions.substance": (*_CHANGE, "delete"),
        "admissions.screeningform": _CHANGE,
        "admissions.messagetemplate": (*_CHANGE, "delete"),
        "admissions.cadencestep": (*_CHANGE, "delete"),
        "admissions.leadsourcekey": ("view", "add", "change"),
        "admissions.importjob": ("view", "add", "run_import"),
        "admissions.importmapping": (*_CHANGE, "delete"),
        "admissions.calltrackingsource": ("view", "add", "change"),
        "admissions.trackingnumber": (*_CHANGE, "delete"),
    },
}


def role_permission_codenames(role: Role) -> list[tuple[str, str]]:
    """(app_label, codename) pairs for a role; an action with "_" is a full codename."""
    pairs = []
    for label, actions in ROLE_PERMISSIONS[role].items():
        app_label, model = label.split(".")
        for action in actions:
            pairs.append((app_label, action if "_" in action else f"{action}_{model}"))
    return pairs


# Roles whose members see every facility's records (within their permissions).
ALL_FACILITY_ROLES = frozenset({Role.ADMINISTRATOR})


@dataclass(frozen=True)
class Access:
    """What a user holds: roles (their groups) and permissions as ``"app_label.codename"``
    (their groups' and their own)."""

    roles: frozenset[Role]
    permissions: frozenset[str]


NO_ACCESS = Access(frozenset(), frozenset())


def user_access(user: User) -> Access:
    """The user's roles and permissions, read in one statement (instead of Django's three: groups,
    group permissions, own permissions) and kept on the user object for the request.
    ``crm.auth.permissions.RoleBackend`` answers permission checks from it."""
    cached: Access | None = getattr(user, "_crm_access", None)
    if cached is not None:
        return cached
    if not user.is_authenticated:
        return NO_ACCESS
    from django.contrib.auth.models import Group, Permission
    from django.db.models import CharField, Value

    rows = (
        Group.objects.filter(user=user)
        .values_list("name", "permissions__content_type__app_label", "permissions__codename")
        .union(
            Permission.objects.filter(user=user).values_list(
                Value("", output_field=CharField()), "content_type__app_label", "codename"
            ),
            all=True,
        )
    )
    names: set[str] = set()
    permissions: set[str] = set()
    for name, app_label, codename in rows:
        if name:
            names.add(name)
        if codename:
            permissions.add(f"{app_label}.{codename}")
    cached = Access(frozenset(r for r in Role if r.value in names), frozenset(permissions))
    setattr(user, "_crm_access", cached)  # noqa: B010 - per-request cache
    return cached


def user_roles(user: User) -> frozenset[Role]:
    """The roles a user holds (``user_access``)."""
    return user_access(user).roles


def has_role(user: User, *roles: Role) -> bool:
    return bool(user_roles(user) & set(roles))
