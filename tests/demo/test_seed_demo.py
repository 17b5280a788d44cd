"""The demo seeder: a complete, consistent, reproducible synthetic center."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from admissions.followup_policy import NEW_INQUIRY_CADENCE
from admissions.models import (
    ContactConsent,
    FollowUp,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    LeadSource,
    Person,
    Touch,
)
from admissions.pipeline import OPEN_STAGES, STAGE_TIMESTAMP_FIELD, TRANSITIONS, Stage
from crm.models import Facility, User
from crm.roles import Role
from demo.catalogue import CRISIS_REFERRAL, CRISIS_REVIEWED_AFTER
from demo.seed import seed_demo
from programs.models import CapacityHold, Census, Payer, Program, Setting
from tests.factories import FacilityFactory

PASSWORD = "demo-password-123"
NOW = datetime(2026, 3, 10, 19, 30, tzinfo=UTC)  # a fixed "now" for reproducible rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(db: Any) -> None:
    seed_demo(inquiries=300, password=PASSWORD, seed=7, chunk_size=120, now=NOW)


def test_reference_data_covers_every_setting(seeded: None) -> None:
    facilities = Facility.objects.all()
    assert facilities.count() >= 2
    assert len({f.state for f in facilities}) >= 2
    assert len({f.time_zone for f in facilities}) >= 2
    for facility in facilities:
        assert not re.search(r"detox|rehab|addiction|recovery", facility.neutral_sender_name, re.I)
    programs = Program.objects.select_related("level_of_care")
    assert programs.count() >= 30
    assert {p.setting for p in programs} == set(Setting.values)
    assert {p.level_of_care.edition for p in programs} == {"ASAM 3", "ASAM 4"}
    for program in programs:
        beds = program.setting in ("withdrawal", "residential")
        assert program.capacity_kind == ("beds" if beds else "slots")
        assert program.level_of_care.setting == program.setting
        assert program.accepted_payers.filter(is_self_pay=True).exists()
    assert Census.objects.count() == programs.count()
    assert Payer.objects.count() >= 10
    assert set(LeadSource.objects.values_list("kind", flat=True)) == set(LeadSource.Kind.values)


def test_demo_logins_have_their_roles_and_the_password(seeded: None) -> None:
    expected = {
        "coordinator": Role.COORDINATOR,
        "clinician": Role.CLINICAL_REVIEWER,
        "vob": Role.VOB_SPECIALIST,
        "manager": Role.MANAGER,
        "admin": Role.ADMINISTRATOR,
    }
    for username, role in expected.items():
        user = authenticate(username=username, password=PASSWORD)
        assert user is not None, username
        assert list(user.groups.values_list("name", flat=True)) == [role.value]
        assert user.facilities.exists()
    admin = User.objects.get(username="admin")
    assert admin.is_staff
    assert admin.is_superuser
    assert not User.objects.get(username="coordinator").is_superuser
    assert authenticate(username="coordinator", password="wrong-password-123") is None
    on_duty = User.objects.filter(groups__name=Role.COORDINATOR.value, is_on_duty=True)
    assert on_duty.count() >= 3
    assert User.objects.filter(groups__name=Role.COORDINATOR.value, is_on_duty=False).exists()
    roles = set(User.objects.values_list("groups__name", flat=True))
    assert {r.value for r in Role} <= roles


def test_inquiries_cover_every_stage_with_what_each_requires(seeded: None) -> None:
    assert Inquiry.objects.count() == 300
    stages = Counter(Inquiry.objects.values_list("stage", flat=True))
    assert set(stages) == set(Stage.values)
    assert 0.08 <= stages[Stage.ADMITTED] / 300 <= 0.25
    for inquiry in Inquiry.objects.filter(stage=Stage.ADMITTED):
        assert inquiry.admitted_at is not None
        assert inquiry.admitted_program_id is not None
        assert inquiry.admission_date is not None
    assert not Inquiry.objects.filter(stage=Stage.CLOSED, lost_reason="").exists()
    assert not Inquiry.objects.filter(stage=Stage.REFERRED_OUT, referred_out_to="").exists()
    assert not Inquiry.objects.filter(stage=Stage.DUPLICATE, duplicate_of=None).exists()
    assert not Inquiry.objects.exclude(stage=Stage.CLOSED).exclude(lost_reason="").exists()
    for dup in Inquiry.objects.filter(stage=Stage.DUPLICATE).select_related("duplicate_of"):
        assert dup.duplicate_of.created_at <= dup.created_at
        assert dup.duplicate_of.person_id == dup.person_id
    for inquiry in Inquiry.objects.filter(stage=Stage.ADMISSION_SCHEDULED):
        hold = CapacityHold.objects.get(pk=inquiry.capacity_hold_id)
        assert hold.reference == f"inquiry:{inquiry.pk}"
        assert hold.held_until > NOW
        assert hold.released_at is None
    assert Inquiry.objects.filter(created_at__lt=NOW - timezone.timedelta(days=500)).exists()
    assert not Inquiry.objects.filter(created_at__gt=NOW).exists()
    connection.check_constraints()  # deferred foreign keys, checked now


def test_older_crises_were_referred_on_by_a_clinician(seeded: None) -> None:
    """The review queue holds current work: a crisis older than two days has been reviewed."""
    recent = NOW - timezone.timedelta(seconds=CRISIS_REVIEWED_AFTER)
    crises = Inquiry.objects.filter(stage=Stage.CRISIS_ROUTED)
    assert crises.exists()
    # A run this small forces one of its last arrivals to Crisis routed to show every stage.
    assert crises.filter(created_at__lt=recent - timezone.timedelta(days=1)).count() <= 1
    referred = Inquiry.objects.filter(stage=Stage.REFERRED_OUT, crisis_routed_at__isnull=False)
    assert referred.exists()
    clinician = User.objects.get(username="clinician")
    for inquiry in referred:
        assert inquiry.referred_out_to == CRISIS_REFERRAL
        step = InquiryEvent.objects.get(
            inquiry=inquiry, kind=InquiryEvent.Kind.STAGE_CHANGED, data__to=Stage.REFERRED_OUT
        )
        assert step.data["from"] == Stage.CRISIS_ROUTED
        assert step.actor_id == clinician.pk


def test_stage_timestamps_follow_the_path_in_order(seeded: None) -> None:
    events = InquiryEvent.objects.filter(kind=InquiryEvent.Kind.STAGE_CHANGED).order_by("at", "pk")
    paths: dict[int, list[tuple[str, str, datetime]]] = {}
    for event in events:
        paths.setdefault(event.inquiry_id, []).append((event.data["from"], event.data["to"], event.at))
    for inquiry in Inquiry.objects.all():
        steps = paths.get(inquiry.pk, [])
        seen: dict[str, datetime] = {}
        current, previous_at = Stage.NEW.value, inquiry.created_at
        for source, target, at in steps:
            assert source == current, (inquiry.pk, steps)
            assert target in TRANSITIONS[source], (inquiry.pk, steps)
            assert at >= previous_at
            field = STAGE_TIMESTAMP_FIELD[target]
            seen.setdefault(field, at)
            current, previous_at = target, at
        assert current == inquiry.stage
        assert inquiry.stage_changed_at == previous_at
        for field in set(STAGE_TIMESTAMP_FIELD.values()):
            assert getattr(inquiry, field) == seen.get(field), (inquiry.pk, field)
        assert previous_at <= NOW


def test_speed_to_first_attempt_is_mostly_minutes(seeded: None) -> None:
    minutes = sorted(
        i.minutes_to_first_attempt()
        for i in Inquiry.objects.exclude(first_attempt_at=None)
        if i.minutes_to_first_attempt() is not None
    )
    assert minutes
    assert min(minutes) > 0
    assert minutes[len(minutes) // 2] < 30
    assert max(minutes) > 60


def test_open_inquiries_respect_the_unique_rules(seeded: None) -> None:
    open_rows = list(Inquiry.objects.filter(stage__in=sorted(OPEN_STAGES)))
    assert open_rows
    phones = [i.phone for i in open_rows if i.phone]
    emails = [i.email for i in open_rows if i.email]
    assert len(phones) == len(set(phones))
    assert len(emails) == len(set(emails))
    assert len({i.person_id for i in open_rows}) == len(open_rows)
    for person in Person.objects.all():
        assert re.fullmatch(r"\+1[2-9]\d\d555\d{4}", str(person.phone))
        assert person.email.endswith("@example.com")


def test_children_are_written(seeded: None) -> None:
    assert Touch.objects.values("inquiry").distinct().count() == 300
    assert InquiryEvent.objects.filter(kind=InquiryEvent.Kind.CREATED).count() == 300
    assert InquiryEvent.objects.filter(kind=InquiryEvent.Kind.CALL).exists()
    assert Inquiry.substances.through.objects.exists()
    assert InsurancePolicy.objects.count() > 50
    assert ContactConsent.objects.exists()
    for inquiry in Inquiry.objects.filter(stage__in=[Stage.NEW, Stage.CONTACT_ATTEMPTED]):
        keys = set(inquiry.followups.values_list("dedupe_key", flat=True))
        assert keys == {f"inquiry:{inquiry.pk}:{key}" for _k, _o, key in NEW_INQUIRY_CADENCE}
    later = FollowUp.objects.exclude(inquiry__stage__in=[Stage.NEW, Stage.CONTACT_ATTEMPTED])
    assert set(later.values_list("kind", flat=True)) <= {FollowUp.Kind.CALLBACK}
    assert not later.exclude(inquiry__stage__in=sorted(OPEN_STAGES)).exists()
    assert not FollowUp.objects.filter(state=FollowUp.State.SCHEDULED, due_at__lt=NOW).exists()


def _snapshot() -> list[Any]:
    inquiries = Inquiry.objects.order_by("pk").values_list(
        "pk",
        "person__first_name",
        "person__last_name",
        "person__phone",
        "facility__name",
        "lead_source__name",
        "assigned_to__username",
        "stage",
        "created_at",
        "closed_at",
        "admitted_at",
        "lost_reason",
        "external_id",
    )
    events = InquiryEvent.objects.order_by("inquiry_id", "at", "kind").values_list(
        "inquiry_id", "at", "kind", "call_outcome"
    )
    return [list(inquiries), list(events)]


def test_same_seed_same_data(db: Any) -> None:
    snapshots = []
    for _ in range(2):
        with transaction.atomic():
            seed_demo(inquiries=150, password=PASSWORD, seed=11, now=NOW)
            snapshots.append(_snapshot())
            transaction.set_rollback(True)
    assert snapshots[0] == snapshots[1]
    with transaction.atomic():
        seed_demo(inquiries=150, password=PASSWORD, seed=12, now=NOW)
        assert _snapshot() != snapshots[0]
        transaction.set_rollback(True)


def test_if_empty_skips_a_database_with_facilities(seeded: None) -> None:
    before = Inquiry.objects.count()
    out = StringIO()
    call_command("seed_demo", "--if-empty", "--inquiries", "50", stdout=out)
    assert "nothing to do" in out.getvalue()
    assert Inquiry.objects.count() == before


def test_second_run_tops_up(seeded: None) -> None:
    out = StringIO()
    call_command("seed_demo", "--inquiries", "40", "--password", "another-password-9", stdout=out)
    assert "Topped up" in out.getvalue()
    assert Inquiry.objects.count() == 340
    assert Facility.objects.count() == 3
    assert authenticate(username="manager", password="another-password-9") is not None


def test_command_prints_a_usable_generated_password(db: Any) -> None:
    out = StringIO()
    call_command("seed_demo", "--inquiries", "20", stdout=out)
    text = out.getvalue()
    password = re.search(r"password: (\S+)", text).group(1)  # type: ignore[union-attr]
    assert authenticate(username="vob", password=password) is not None
    assert "coordinator" in text
    assert "Administrator" in text
    assert "@example.com" not in text  # counts and logins only, no person data


def test_refuses_a_database_of_another_center(db: Any) -> None:
    FacilityFactory(name="A Real Center")
    with pytest.raises(CommandError, match="not the demo center"):
        call_command("seed_demo", "--inquiries", "10", stdout=StringIO())
    assert Inquiry.objects.count() == 0


def test_bulk_mode_restores_keys_and_indexes(db: Any) -> None:
    """The PostgreSQL bulk path drops foreign keys and indexes while loading, then rebuilds them."""

    tables = [m._meta.db_table for m in (Inquiry, InquiryEvent, Touch, Person, FollowUp)]

    def schema() -> list[tuple[str, str]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid::regclass::text = ANY(%s) "
                "UNION ALL SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename = ANY(%s) ORDER BY 1, 2",
                [tables, tables],
            )
            return cursor.fetchall()

    before = schema()
    seed_demo(inquiries=200, password=PASSWORD, seed=3, now=NOW, chunk_size=70, bulk_threshold=1)
    assert schema() == before
    assert Inquiry.objects.count() == 200
    assert set(Inquiry.objects.values_list("stage", flat=True)) == set(Stage.values)
    connection.check_constraints()
    with transaction.atomic():
        Inquiry.objects.filter(stage=Stage.NEW).update(person_id=10**9)
        with pytest.raises(IntegrityError):
            connection.check_constraints()  # the foreign key is back and enforced
        transaction.set_rollback(True)
