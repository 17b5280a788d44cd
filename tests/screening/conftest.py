"""A fixed small catalogue of programs at two facilities, inquiries to screen, and role clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client

from admissions.pipeline import Stage
from crm.roles import Role
from programs.models import Census, Payer, Program, Specialty
from tests.factories import InquiryFactory, LevelRef, PersonFactory, ProgramFactory, UserFactory
from tests.signin import login_verified


@dataclass
class Catalogue:
    programs: dict[str, Program]
    payers: dict[str, Payer]
    specialties: dict[str, Specialty]

    def fill(self, name: str) -> None:
        """Make a program full now, with no discharge or hold end known."""
        program = self.programs[name]
        Census.objects.filter(program=program).update(occupied=program.capacity)


@pytest.fixture
def catalogue(facility, other_facility) -> Catalogue:
    facility.latitude, facility.longitude = Decimal("27.95060"), Decimal("-82.45720")
    facility.save()
    other_facility.latitude, other_facility.longitude = Decimal("35.59510"), Decimal("-82.55150")
    other_facility.save()
    payers = {
        "aetna": Payer.objects.create(name="Aetna"),
        "cigna": Payer.objects.create(name="Cigna"),
        "blue": Payer.objects.create(name="Blue Mountain Health"),
        "self": Payer.objects.create(name="Self-pay", is_self_pay=True),
    }
    specialties = {
        code: Specialty.objects.create(code=code, name=code.title())
        for code in ("co-occurring", "medical", "veterans")
    }

    def program(name, fac, level, setting, kind, payer_keys, *, gender="any", specs=(), capacity=10):
        p = ProgramFactory(
            facility=fac,
            name=name,
            setting=setting,
            level_of_care=LevelRef.get(level),
            capacity_kind=kind,
            capacity=capacity,
            gender=gender,
        )
        p.accepted_payers.set([payers[k] for k in payer_keys])
        p.specialties.set([specialties[s] for s in specs])
        return p

    programs = {
        p.name: p
        for p in (
            program(
                "Tampa Medical Detox",
                facility,
                "3.7-WM",
                "withdrawal",
                "beds",
                ["aetna", "cigna", "self"],
                specs=["medical"],
            ),
            program("Tampa Residential", facility, "3.5", "residential", "beds", ["aetna", "cigna", "self"]),
            program(
                "Tampa Co-occurring Residential",
                facility,
                "3.5",
                "residential",
                "beds",
                ["aetna", "cigna"],
                specs=["co-occurring"],
            ),
            program("Tampa PHP", facility, "2.5", "php", "slots", ["aetna", "cigna", "self"]),
            program(
                "Tampa IOP", facility, "2.1", "iop", "slots", ["aetna", "cigna", "self"], specs=["veterans"]
            ),
            program("Tampa Outpatient", facility, "1", "op", "slots", ["aetna", "cigna", "self"]),
            program(
                "Asheville Detox", other_facility, "3.7-WM", "withdrawal", "beds", ["cigna", "blue", "self"]
            ),
            program(
                "Asheville Women's Residential",
                other_facility,
                "3.1",
                "residential",
                "beds",
                ["aetna", "cigna", "blue"],
                gender="women",
            ),
        )
    }
    return Catalogue(programs=programs, payers=payers, specialties=specialties)


@pytest.fixture
def inquiry(facility):
    person = PersonFactory(date_of_birth=date(1990, 5, 1), gender="", state="FL")
    return InquiryFactory(person=person, facility=facility, stage=Stage.CONTACTED)


@pytest.fixture
def other_inquiry(other_facility):
    return InquiryFactory(facility=other_facility, stage=Stage.CONTACTED)


@pytest.fixture
def marketing(facility):
    return UserFactory(username="marketing", role=Role.MARKETING, facilities=[facility])


@pytest.fixture
def other_coordinator(other_facility):
    return UserFactory(username="coordinator-elsewhere", role=Role.COORDINATOR, facilities=[other_facility])


def _client(user) -> Client:
    client = Client()
    login_verified(client, user)
    return client


@pytest.fixture
def clinician_client(clinician):
    return _client(clinician)


@pytest.fixture
def vob_client(vob_specialist):
    return _client(vob_specialist)


@pytest.fixture
def marketing_client(marketing):
    return _client(marketing)


@pytest.fixture
def other_coordinator_client(other_coordinator):
    return _client(other_coordinator)


def bulk_programs(n: int, *, facilities, payers, specialties, prefix: str = "Bulk") -> list[Program]:
    """``n`` programs spread over facilities and levels, written in a few bulk queries."""
    levels = [LevelRef.get(code) for code in ("3.7-WM", "3.5", "3.1", "2.5", "2.1", "1")]
    setting = {
        "3.7-WM": "withdrawal",
        "3.5": "residential",
        "3.1": "residential",
        "2.5": "php",
        "2.1": "iop",
        "1": "op",
    }
    programs = Program.objects.bulk_create(
        [
            Program(
                facility=facilities[i % len(facilities)],
                name=f"{prefix} {i}",
                setting=setting[levels[i % len(levels)].code],
                level_of_care=levels[i % len(levels)],
                capacity_kind="beds"
                if setting[levels[i % len(levels)].code] in ("withdrawal", "residential")
                else "slots",
                capacity=10,
                gender=("any", "women", "men")[i % 3],
            )
            for i in range(n)
        ]
    )
    Census.objects.bulk_create(
        [Census(program=p, occupied=i % 12, expected_discharges_7d=i % 2) for i, p in enumerate(programs)]
    )
    payer_through = Program.accepted_payers.through
    payer_through.objects.bulk_create(
        [
            payer_through(program=p, payer=payer)
            for i, p in enumerate(programs)
            for payer in payers[: 1 + i % len(payers)]
        ]
    )
    spec_through = Program.specialties.through
    spec_through.objects.bulk_create(
        [
            spec_through(program=p, specialty=specialties[i % len(specialties)])
            for i, p in enumerate(programs)
            if i % 2
        ]
    )
    return programs
