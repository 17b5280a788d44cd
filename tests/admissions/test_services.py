"""Inquiry services: creation, routing, stage changes, holds and admission."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from admissions.models import FollowUp, Inquiry, InquiryEvent
from admissions.pipeline import LostReason, Stage, TransitionError
from admissions.services import (
    TouchData,
    call_log,
    inquiry_admit,
    inquiry_advance,
    inquiry_assign,
    inquiry_create,
    inquiry_hold_capacity,
    inquiry_schedule_admission,
)
from crm.roles import Role
from programs.models import CapacityHold, Census
from programs.services import CapacityError, capacity_holds_expire
from tests.factories import LeadSourceFactory, PersonFactory, ProgramFactory, UserFactory

pytestmark = pytest.mark.django_db


def _create(facility, **kwargs):
    source = LeadSourceFactory(default_facility=facility)
    person = kwargs.pop("person", None) or PersonFactory()
    return inquiry_create(
        person=person, facility=facility, touch=TouchData(channel="web_form", lead_source=source), **kwargs
    )


def test_create_opens_new_inquiry_with_touch_timeline_and_cadence(facility):
    inquiry = _create(facility)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.NEW
    assert inquiry.touches.count() == 1
    assert list(inquiry.events.values_list("kind", flat=True)) == [InquiryEvent.Kind.CREATED]
    due = {f.dedupe_key.split(":")[-1]: f.due_at - inquiry.created_at for f in inquiry.followups.all()}
    assert due == {
        "alert-5m": timedelta(minutes=5),
        "escalate-15m": timedelta(minutes=15),
        "call-1h": timedelta(hours=1),
        "call-1d": timedelta(days=1),
        "call-3d": timedelta(days=3),
        "call-7d": timedelta(days=7),
    }


def test_create_routes_round_robin_among_on_duty_coordinators(facility, other_facility):
    first = UserFactory(username="c1", role=Role.COORDINATOR, facilities=[facility], is_on_duty=True)
    second = UserFactory(username="c2", role=Role.COORDINATOR, facilities=[facility], is_on_duty=True)
    UserFactory(username="off", role=Role.COORDINATOR, facilities=[facility], is_on_duty=False)
    UserFactory(username="away", role=Role.COORDINATOR, facilities=[other_facility], is_on_duty=True)
    UserFactory(username="mgr", role=Role.MANAGER, facilities=[facility], is_on_duty=True)
    owners = [_create(facility).assigned_to for _ in range(4)]
    assert owners == [first, second, first, second]


def test_create_without_anyone_on_duty_leaves_it_unassigned(facility):
    inquiry = _create(facility)
    assert inquiry.assigned_to is None
    assert not inquiry.events.filter(kind=InquiryEvent.Kind.ASSIGNED).exists()


def test_advance_stamps_time_writes_timeline_and_stops_first_contact_alerts(facility, coordinator):
    inquiry = _create(facility)
    inquiry_advance(inquiry=inquiry, to=Stage.CONTACT_ATTEMPTED, actor=coordinator)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CONTACT_ATTEMPTED
    assert inquiry.first_attempt_at == inquiry.stage_changed_at
    event = inquiry.events.get(kind=InquiryEvent.Kind.STAGE_CHANGED)
    assert (event.actor, event.data["from"], event.data["to"]) == (coordinator, "new", "contact_attempted")
    states = dict(inquiry.followups.values_list("kind", "state").distinct())
    assert states[FollowUp.Kind.COORDINATOR_ALERT] == FollowUp.State.CANCELLED
    assert inquiry.followups.filter(kind=FollowUp.Kind.CALL_TASK, state=FollowUp.State.SCHEDULED).count() == 4


def test_illegal_advance_changes_nothing(facility, coordinator):
    inquiry = _create(facility)
    with pytest.raises(TransitionError, match="Allowed: Contact attempted, Contacted"):
        inquiry_advance(inquiry=inquiry, to=Stage.ADMITTED, actor=coordinator)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.NEW
    assert not inquiry.events.filter(kind=InquiryEvent.Kind.STAGE_CHANGED).exists()


def test_close_needs_lost_reason_and_cancels_all_followups(facility, coordinator):
    inquiry = _create(facility)
    with pytest.raises(TransitionError) as error:
        inquiry_advance(inquiry=inquiry, to=Stage.CLOSED, actor=coordinator)
    assert error.value.field == "lost_reason"
    inquiry_advance(inquiry=inquiry, to=Stage.CLOSED, actor=coordinator, lost_reason=LostReason.UNREACHABLE)
    inquiry.refresh_from_db()
    assert (inquiry.stage, inquiry.lost_reason) == (Stage.CLOSED, "unreachable")
    assert inquiry.closed_at is not None
    assert not inquiry.followups.exclude(state=FollowUp.State.CANCELLED).exists()


def test_refer_out_records_destination(facility, coordinator):
    inquiry = _create(facility)
    inquiry_advance(
        inquiry=inquiry, to=Stage.REFERRED_OUT, actor=coordinator, destination="Bayview Psychiatric"
    )
    inquiry.refresh_from_db()
    assert inquiry.referred_out_to == "Bayview Psychiatric"


def test_duplicate_cannot_point_at_itself(facility, coordinator):
    inquiry = _create(facility)
    with pytest.raises(TransitionError, match="itself"):
        inquiry_advance(inquiry=inquiry, to=Stage.DUPLICATE, actor=coordinator, duplicate_of=inquiry)


def test_call_log_moves_new_inquiry_along(facility, coordinator):
    inquiry = _create(facility)
    call_log(
        inquiry=inquiry,
        actor=coordinator,
        direction=InquiryEvent.CallDirection.OUTBOUND,
        outcome=InquiryEvent.CallOutcome.NO_ANSWER,
    )
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CONTACT_ATTEMPTED
    call_log(
        inquiry=inquiry,
        actor=coordinator,
        direction=InquiryEvent.CallDirection.OUTBOUND,
        outcome=InquiryEvent.CallOutcome.CONNECTED,
    )
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CONTACTED
    assert inquiry.contacted_at is not None


def test_assign_writes_timeline(facility, coordinator, manager):
    inquiry = _create(facility)
    inquiry_assign(inquiry=inquiry, to=coordinator, actor=manager)
    inquiry.refresh_from_db()
    assert inquiry.assigned_to == coordinator
    assert inquiry.events.filter(kind=InquiryEvent.Kind.ASSIGNED, actor=manager).count() == 1


def _walk_to_approved(inquiry, actor):
    for stage in (Stage.CONTACTED, Stage.PRESCREENED, Stage.INSURANCE_VERIFICATION, Stage.APPROVED):
        inquiry_advance(inquiry=inquiry, to=stage, actor=actor)


def test_schedule_holds_a_bed_and_admission_fills_it(facility, coordinator):
    program = ProgramFactory(facility=facility, capacity=2, census=1)
    inquiry = _create(facility)
    _walk_to_approved(inquiry, coordinator)
    inquiry_schedule_admission(
        inquiry=inquiry,
        program=program,
        admission_date=timezone.localdate() + timedelta(days=2),
        actor=coordinator,
    )
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.ADMISSION_SCHEDULED
    hold = inquiry.capacity_hold
    assert hold is not None
    assert hold.released_at is None
    # the only free bed is held: nobody else can take it
    other = _create(facility)
    with pytest.raises(CapacityError, match="No bed free"):
        inquiry_hold_capacity(
            inquiry=other, program=program, until=timezone.now() + timedelta(days=1), actor=coordinator
        )
    inquiry_admit(inquiry=inquiry, actor=coordinator)
    inquiry.refresh_from_db()
    hold.refresh_from_db()
    assert (inquiry.stage, inquiry.admitted_program) == (Stage.ADMITTED, program)
    assert hold.release_reason == CapacityHold.ReleaseReason.ADMITTED
    assert Census.objects.get(program=program).occupied == 2


def test_closing_a_scheduled_inquiry_releases_its_hold(facility, coordinator):
    program = ProgramFactory(facility=facility, capacity=1)
    inquiry = _create(facility)
    _walk_to_approved(inquiry, coordinator)
    inquiry_schedule_admission(
        inquiry=inquiry,
        program=program,
        admission_date=timezone.localdate() + timedelta(days=1),
        actor=coordinator,
    )
    inquiry_advance(inquiry=inquiry, to=Stage.CLOSED, actor=coordinator, lost_reason=LostReason.NO_SHOW)
    hold = CapacityHold.objects.get(reference=f"inquiry:{inquiry.pk}")
    assert hold.release_reason == CapacityHold.ReleaseReason.CANCELLED


def test_expired_holds_stop_counting(facility):
    program = ProgramFactory(facility=facility, capacity=1)
    hold = CapacityHold.objects.create(
        program=program, reference="inquiry:1", held_until=timezone.now() + timedelta(minutes=1)
    )
    assert capacity_holds_expire(now=timezone.now() + timedelta(minutes=2)) == 1
    hold.refresh_from_db()
    assert hold.release_reason == CapacityHold.ReleaseReason.EXPIRED


def test_one_open_inquiry_per_person(facility):
    inquiry = _create(facility)
    with pytest.raises(IntegrityError), transaction.atomic():
        Inquiry.objects.create(
            person=inquiry.person, facility=facility, channel="phone", phone="+18135550999"
        )


def test_no_duplicate_phone_among_open_inquiries_but_closed_ones_may_repeat(facility, coordinator):
    first = _create(facility, person=PersonFactory(phone="+18135550123", email=""))
    with pytest.raises(IntegrityError), transaction.atomic():
        Inquiry.objects.create(
            person=PersonFactory(), facility=facility, channel="phone", phone="+18135550123"
        )
    inquiry_advance(inquiry=first, to=Stage.INVALID, actor=coordinator, reason="wrong number")
    second = Inquiry.objects.create(
        person=PersonFactory(), facility=facility, channel="phone", phone="+18135550123"
    )
    assert second.pk


@pytest.mark.parametrize(
    ("stage", "field"),
    [
        (Stage.CLOSED, "lost_reason"),
        (Stage.REFERRED_OUT, "referred_out_to"),
        (Stage.DUPLICATE, "duplicate_of"),
        (Stage.ADMITTED, "admitted_at"),
    ],
)
def test_database_refuses_exits_without_their_detail(facility, stage, field):
    inquiry = _create(facility)
    with pytest.raises(IntegrityError), transaction.atomic():
        Inquiry.objects.filter(pk=inquiry.pk).update(stage=stage)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.NEW


def _queued_messages() -> int:
    from crm.celery import app

    with app.connection_for_write() as connection:
        return connection.default_channel.queue_declare(queue="celery", passive=True).message_count


def test_dispatcher_kicks_in_the_same_second_reach_the_broker_once(
    django_capture_on_commit_callbacks, monkeypatch
):
    from django.core.cache import cache

    from admissions import services
    from crm.celery import app

    clock = [4_000_000_000.25]  # a second no other test has used, so its cache key is free
    monkeypatch.setattr(services.time_module, "time", lambda: clock[0])
    monkeypatch.setattr(services, "_kicked_second", None)
    app.control.purge()
    second = int(clock[0])
    cache.delete_many([f"{services.DISPATCH_KICK_KEY}:{s}" for s in (second, second + 1)])

    def kick(times: int = 1) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(times):
                services.dispatcher_kick()

    kick(3)
    assert _queued_messages() == 1
    # Another process in the same second finds the second's key taken: nothing more is sent.
    monkeypatch.setattr(services, "_kicked_second", None)
    clock[0] += 0.5
    kick()
    assert _queued_messages() == 1
    # Later in that second this process asks the cache no more: the key may even be gone.
    cache.delete(f"{services.DISPATCH_KICK_KEY}:{second}")
    kick()
    assert _queued_messages() == 1
    clock[0] += 0.5  # the second is over
    kick(2)
    assert _queued_messages() == 2
    app.control.purge()


def _queued_etas() -> list[str]:
    from crm.celery import app

    etas = []
    with app.connection_for_write() as connection:
        while (message := connection.default_channel.basic_get(queue="celery", no_ack=True)) is not None:
            etas.append(message.headers["eta"])
    return etas


def test_dispatcher_kick_sweeps_when_its_second_is_over(django_capture_on_commit_callbacks, monkeypatch):
    from django.core.cache import cache

    from admissions import services
    from crm.celery import app

    clock = [4_000_000_100.75]
    monkeypatch.setattr(services.time_module, "time", lambda: clock[0])
    monkeypatch.setattr(services, "_kicked_second", None)
    cache.delete(f"{services.DISPATCH_KICK_KEY}:{int(clock[0])}")
    app.control.purge()
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        services.dispatcher_kick()
    after = timezone.now()
    [eta] = _queued_etas()
    # Due when the kick's second is over: a quarter of a second later (Celery dates the
    # countdown from the real clock).
    due = datetime.fromisoformat(eta)
    assert before + timedelta(seconds=0.25) <= due <= after + timedelta(seconds=0.25)


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
)
def test_dispatcher_kick_without_the_cache_sends_once_a_second_per_process(
    django_capture_on_commit_callbacks, monkeypatch
):
    from admissions import services
    from crm.celery import app

    clock = [4_000_000_200.0]
    monkeypatch.setattr(services.time_module, "time", lambda: clock[0])
    monkeypatch.setattr(services, "_kicked_second", None)
    app.control.purge()
    with django_capture_on_commit_callbacks(execute=True):
        services.dispatcher_kick()
        services.dispatcher_kick()
    assert _queued_messages() == 1
    clock[0] += 1
    with django_capture_on_commit_callbacks(execute=True):
        services.dispatcher_kick()
    assert _queued_messages() == 2
    app.control.purge()
