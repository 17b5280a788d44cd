"""The demo center's reference rows: facilities, programs, payers, sources, partners and staff,
got or created by natural key so a second run reuses them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.utils import timezone

from admissions.models import (
    Campaign,
    LeadSource,
    ReferralPartner,
    Substance,
)
from crm.models import Facility, User
from crm.places import place_of_postal_code
from crm.roles import Role
from demo.catalogue import (
    CAMPAIGNS,
    DEMO_LOGINS,
    EXTRA_COORDINATOR_NAMES,
    FACILITIES,
    LEAD_SOURCES,
    PAYER_GROUPS,
    PAYERS,
    REFERRAL_PARTNERS,
    SPECIALTIES,
    FacilitySpec,
    caller_phone,
)
from programs.models import Census, LevelOfCare, Payer, Program, Specialty


@dataclass
class Reference:
    facilities: list[Facility]
    specs: dict[int, FacilitySpec]
    programs: dict[int, list[Program]]
    payers: list[Payer]
    sources: dict[str, LeadSource]
    campaigns: dict[int, list[Campaign]]
    partners: list[ReferralPartner]
    coordinators: dict[int, list[int]]
    extra_coordinators: list[User]
    users: dict[str, User]
    substances: dict[str, int]


def facility_coordinates(postal_code: str) -> dict[str, Decimal]:
    place = place_of_postal_code(postal_code)
    if place is None or place.latitude is None or place.longitude is None:
        return {}
    return {"latitude": Decimal(f"{place.latitude:.5f}"), "longitude": Decimal(f"{place.longitude:.5f}")}


def reference_data(*, rng: random.Random, password: str, now: datetime) -> Reference:
    """Facilities, programs, payers, sources, partners and staff (get or create by name)."""
    levels = {(lv.edition, lv.code): lv for lv in LevelOfCare.objects.all()}
    specialties = {}
    for code, name in SPECIALTIES:
        specialties[code], _ = Specialty.objects.get_or_create(code=code, defaults={"name": name})
    payers = []
    for name, self_pay, _group, _w in PAYERS:
        payer, _ = Payer.objects.get_or_create(name=name, defaults={"is_self_pay": self_pay})
        payers.append(payer)
    payer_group = {p.name: g for (_n, _s, g, _w), p in zip(PAYERS, payers, strict=True)}

    facilities: list[Facility] = []
    specs: dict[int, FacilitySpec] = {}
    programs: dict[int, list[Program]] = {}
    for spec in FACILITIES:
        facility, _ = Facility.objects.get_or_create(
            name=spec.name,
            defaults={
                "neutral_sender_name": spec.sender,
                "street": spec.street,
                "city": spec.city,
                "state": spec.state,
                "postal_code": spec.postal_code,
                "time_zone": spec.time_zone,
                "phone": spec.phone,
                # Coordinates from the postal code (the data the zipcodes package ships), never typed.
                **facility_coordinates(spec.postal_code),
            },
        )
        facilities.append(facility)
        specs[facility.pk] = spec
        programs[facility.pk] = []
        for name, code, capacity, gender, min_age, max_age, codes, payer_set in spec.programs:
            level = levels[(spec.edition, code)]
            beds = level.setting in ("withdrawal", "residential")
            program, created = Program.objects.get_or_create(
                facility=facility,
                name=name,
                defaults={
                    "setting": level.setting,
                    "level_of_care": level,
                    "capacity_kind": Program.CapacityKind.BEDS if beds else Program.CapacityKind.SLOTS,
                    "capacity": capacity,
                    "gender": gender,
                    "min_age": min_age,
                    "max_age": max_age,
                },
            )
            if created:
                program.specialties.set([specialties[c] for c in codes])
                wanted = PAYER_GROUPS[payer_set]
                program.accepted_payers.set([p for p in payers if payer_group[p.name] in wanted])
                occupied = round(capacity * rng.uniform(0.5, 0.85))
                turnover = 0.9 if level.setting == "withdrawal" else rng.uniform(0.1, 0.35)
                Census.objects.create(
                    program=program,
                    occupied=occupied,
                    expected_discharges_7d=min(occupied, round(occupied * turnover)),
                    updated_at=now,
                )
            programs[facility.pk].append(program)

    sources: dict[str, LeadSource] = {}
    for name, kind, facility_index in LEAD_SOURCES:
        targets = [facilities[facility_index]] if facility_index is not None else facilities
        for facility in targets:
            label = name.format(city=facility.city)
            sources[label], _ = LeadSource.objects.get_or_create(
                name=label, defaults={"kind": kind, "default_facility": facility}
            )
    campaigns: dict[int, list[Campaign]] = {}
    today = timezone.localdate(now)
    for source_name, name, utm, starts, ends in CAMPAIGNS:
        source = sources[source_name]
        campaign, _ = Campaign.objects.get_or_create(
            lead_source=source,
            name=name,
            defaults={
                "utm_campaign": utm,
                "starts_on": today - timedelta(days=starts),
                "ends_on": today - timedelta(days=ends) if ends is not None else None,
            },
        )
        campaigns.setdefault(source.pk, []).append(campaign)

    users = staff_create(password=password, facilities=facilities)
    partners: list[ReferralPartner] = []
    for organisation, kind, contact in REFERRAL_PARTNERS:
        slug = "".join(ch for ch in organisation.lower() if ch.isalnum())[:24]
        partner, _ = ReferralPartner.objects.get_or_create(
            organisation=organisation,
            defaults={
                "kind": kind,
                "contact_name": contact,
                "contact_phone": caller_phone(len(partners) + 900_000),
                "contact_email": f"contact@{slug}.example.org",
                "relationship_owner": users["manager"],
            },
        )
        partners.append(partner)

    coordinators: dict[int, list[int]] = {f.pk: [] for f in facilities}
    coordinator_group = Group.objects.get(name=Role.COORDINATOR.value)
    for user in coordinator_group.user_set.filter(is_active=True).prefetch_related("facilities"):
        for facility in user.facilities.all():
            if facility.pk in coordinators:
                coordinators[facility.pk].append(user.pk)
    extra = [u for name, u in users.items() if name.startswith("coord.")]
    return Reference(
        facilities=facilities,
        specs=specs,
        programs=programs,
        payers=payers,
        sources=sources,
        campaigns=campaigns,
        partners=partners,
        coordinators={k: sorted(v) for k, v in coordinators.items()},
        extra_coordinators=extra,
        users=users,
        substances=dict(Substance.objects.values_list("code", "pk")),
    )


def staff_create(*, password: str, facilities: list[Facility]) -> dict[str, User]:
    """The demo logins and a few coordinators per facility, all with ``password``."""
    groups = {g.name: g for g in Group.objects.filter(name__in=[r.value for r in Role])}
    wanted: list[tuple[str, str, str, Role, bool, list[Facility]]] = [
        (username, first, last, role, on_duty, facilities)
        for username, first, last, role, on_duty in DEMO_LOGINS
    ]
    names = iter(EXTRA_COORDINATOR_NAMES)
    for facility in facilities:
        city = facility.city.lower()
        for n in range(1, 4):
            first, last = next(names)
            wanted.append((f"coord.{city}{n}", first, last, Role.COORDINATOR, n != 3, [facility]))
    users: dict[str, User] = {}
    for username, first, last, role, on_duty, where in wanted:
        admin = role == Role.ADMINISTRATOR
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.org",
                "is_on_duty": on_duty,
                "is_staff": admin,
                "is_superuser": admin,
            },
        )
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
        user.groups.add(groups[role.value])
        user.facilities.add(*where)
        users[username] = user
    return users
