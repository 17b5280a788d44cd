"""The waitlist: who is offered a freed place first, who may be, offers that lapse or are
declined, and two workers racing for the same places against the real database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.urls import reverse
from django.utils import timezone

from admissions.models import FollowUp, InquiryEvent, InsurancePolicy, WaitlistEntry
from admissions.pipeline import Stage
from admissions.screening.models import Screening, ScreeningForm
from admissions.waitlist import (
    WaitlistError,
    waitlist_add,
    waitlist_offer_accept,
    waitlist_offer_decline,
    waitlist_offer_next,
    waitlist_offers_lapse,
)
from crm.models import AuditEvent
from programs.models import CapacityHold, Census, Program, Specialty
from tests.factories import InquiryFactory, LevelRef, PayerFactory, PersonFactory, ProgramFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def payer(db):
    return PayerFactory(name="Blue Shield")


def program_for(facility, payer, *, full=True, capacity=2, level="3.5", gender="any", name=None):
    program = ProgramFactory(
        facility=facility,
        capacity=capacity,
        census=capacity if full else 0,
        level_of_care=LevelRef.get(level),
        setting="withdrawal" if "WM" in level else "residential",
        gender=gender,
        **({"name": name} if name else {}),
    )
    program.accepted_payers.add(payer)
    return program


def waiting(facility, payer, *, level="3.5", gender="female", created=None, red_flag=False, withdrawal=False):
    """An approved inquiry with a signed-off level, a payer and a screen."""
    inquiry = InquiryFactory(
        facility=facility,
        person=PersonFactory(gender=gender),
        stage=Stage.APPROVED,
        approved_level=LevelRef.get(level),
        created_at=created or timezone.now(),
    )
    InsurancePolicy.objects.create(inquiry=inquiry, payer=payer)
    Screening.objects.create(
        inquiry=inquiry,
        form=ScreeningForm.objects.order_by("-version").first(),
        complete=True,
        result={"withdrawal_management": withdrawal},
        has_red_flag=red_flag,
        safety_flags=["x"] if red_flag else [],
    )
    return inquiry


def add(inquiry, programs, user, *, contact="call", start=None):
    return waitlist_add(
        inquiry=inquiry,
        programs=programs,
        earliest_start=start or timezone.localdate(),
        contact=contact,
        actor=user,
    )


def free_a_place(program):
    Census.objects.filter(program=program).update(occupied=program.capacity - 1)


def test_priority_is_urgency_then_waiting_time(facility, payer, coordinator):
    program = program_for(facility, payer, capacity=5)
    early = waiting(facility, payer)
    later_flagged = waiting(facility, payer, red_flag=True)
    latest_withdrawal = waiting(facility, payer, level="3.5", withdrawal=True)
    for inquiry in (early, later_flagged, latest_withdrawal):
        add(inquiry, [program], coordinator)
    WaitlistEntry.objects.filter(inquiry=early).update(created_at=timezone.now() - timedelta(days=3))
    order = []
    for n in range(3):
        # one more place frees each round; the places offered before stay held
        Census.objects.filter(program=program).update(occupied=program.capacity - 1 - n)
        (offered,) = waitlist_offer_next(program_id=program.pk)
        order.append(WaitlistEntry.objects.get(pk=offered).inquiry_id)
    assert order == [latest_withdrawal.pk, later_flagged.pk, early.pk]


def test_never_more_offers_than_free_places(facility, payer, coordinator):
    program = program_for(facility, payer, capacity=5)
    inquiries = [waiting(facility, payer) for _ in range(4)]
    for inquiry in inquiries:
        add(inquiry, [program], coordinator)
    assert waitlist_offer_next(program_id=program.pk) == []
    Census.objects.filter(program=program).update(occupied=3)  # two free
    offered = waitlist_offer_next(program_id=program.pk)
    assert len(offered) == 2
    assert waitlist_offer_next(program_id=program.pk) == []  # the offers hold both places
    assert CapacityHold.objects.active().filter(program=program).count() == 2
    assert WaitlistEntry.objects.filter(state="offered").count() == 2


def test_offer_holds_alerts_the_owner_messages_the_person_and_is_on_the_timeline(
    facility, payer, coordinator
):
    program = program_for(facility, payer)
    inquiry = waiting(facility, payer)
    add(inquiry, [program], coordinator, contact="sms")
    free_a_place(program)
    before = timezone.now()
    (entry_id,) = waitlist_offer_next(program_id=program.pk)
    entry = WaitlistEntry.objects.select_related("offer_hold").get(pk=entry_id)
    assert entry.state == "offered"
    assert entry.offer_hold.reference == f"inquiry:{inquiry.pk}:offer:{entry.pk}"
    hours = (entry.offer_expires_at - before).total_seconds() / 3600
    assert 1.99 < hours <= 2.01
    followups = FollowUp.objects.filter(inquiry=inquiry, kind="waitlist_offer").order_by("channel")
    assert [(f.channel, f.template_code, f.state) for f in followups] == [
        ("sms", "place-available-sms", "scheduled"),
        ("task", "", "scheduled"),
    ]
    assert all(f.due_at <= timezone.now() for f in followups)
    kinds = list(
        InquiryEvent.objects.filter(inquiry=inquiry).values_list("kind", flat=True).order_by("at", "pk")
    )
    assert kinds == ["waitlisted", "offer_made"]


def test_call_only_contact_sends_no_message(facility, payer, coordinator):
    program = program_for(facility, payer)
    inquiry = waiting(facility, payer)
    add(inquiry, [program], coordinator, contact="call")
    free_a_place(program)
    waitlist_offer_next(program_id=program.pk)
    assert list(FollowUp.objects.filter(inquiry=inquiry).values_list("channel", flat=True)) == ["task"]


def test_place_below_the_signed_off_level_is_refused_and_never_offered(facility, payer, coordinator):
    low = program_for(facility, payer, level="2.1", name="IOP")
    Program.objects.filter(pk=low.pk).update(setting="iop", capacity_kind="slots")
    high = program_for(facility, payer, level="3.5")
    inquiry = waiting(facility, payer, level="3.5")
    with pytest.raises(WaitlistError, match="below the signed-off level"):
        add(inquiry, [low, high], coordinator)
    assert not WaitlistEntry.objects.exists()
    add(inquiry, [high], coordinator)
    # the clinician raises the level afterwards: the program is now below it
    type(inquiry).objects.filter(pk=inquiry.pk).update(approved_level=LevelRef.get("3.7"))
    free_a_place(high)
    assert waitlist_offer_next(program_id=high.pk) == []


def test_withdrawal_level_needs_a_program_with_withdrawal_management(facility, payer, coordinator):
    residential = program_for(facility, payer, level="3.7")
    inquiry = waiting(facility, payer, level="3.7-WM")
    with pytest.raises(WaitlistError, match="below the signed-off level"):
        add(inquiry, [residential], coordinator)


def test_unsigned_inquiry_cannot_wait(facility, payer, coordinator):
    program = program_for(facility, payer)
    inquiry = waiting(facility, payer)
    type(inquiry).objects.filter(pk=inquiry.pk).update(approved_level=None)
    inquiry.refresh_from_db()
    with pytest.raises(WaitlistError, match="signs off"):
        add(inquiry, [program], coordinator)


def test_eligibility_payer_gender_and_specialty(facility, payer, coordinator):
    other_payer = PayerFactory(name="Cigna")
    program = program_for(facility, payer)
    womens = program_for(facility, payer, gender="women", name="Women")
    pregnancy = Specialty.objects.create(code="pregnancy", name="Pregnancy")
    uninsured = waiting(facility, other_payer)
    with pytest.raises(WaitlistError, match="payer"):
        add(uninsured, [program], coordinator)
    man = waiting(facility, payer, gender="male")
    with pytest.raises(WaitlistError, match="women"):
        add(man, [womens], coordinator)
    needs = waiting(facility, payer)
    screening = needs.screenings.get()
    screening.answers = {"logistics": {"specialties_wanted": ["pregnancy"]}}
    screening.save()
    with pytest.raises(WaitlistError, match="pregnancy"):
        add(needs, [program], coordinator)
    program.specialties.add(pregnancy)
    (entry,) = add(needs, [program], coordinator)
    assert entry.specialties == ["pregnancy"]
    # the program stops taking the payer: the waiting inquiry is no longer offered its places
    program.accepted_payers.remove(payer)
    free_a_place(program)
    assert waitlist_offer_next(program_id=program.pk) == []
    program.accepted_payers.add(payer)
    assert waitlist_offer_next(program_id=program.pk) == [entry.pk]


def test_earliest_start_in_the_future_waits(facility, payer, coordinator):
    program = program_for(facility, payer)
    later = waiting(facility, payer)
    add(later, [program], coordinator, start=timezone.localdate() + timedelta(days=3))
    free_a_place(program)
    assert waitlist_offer_next(program_id=program.pk) == []


def test_decline_passes_the_place_to_the_next(facility, payer, coordinator):
    program = program_for(facility, payer)
    first, second = waiting(facility, payer), waiting(facility, payer)
    add(first, [program], coordinator)
    add(second, [program], coordinator)
    free_a_place(program)
    (offered,) = waitlist_offer_next(program_id=program.pk)
    entry = WaitlistEntry.objects.get(pk=offered)
    assert entry.inquiry_id == first.pk
    waitlist_offer_decline(entry=entry, actor=coordinator)
    entry.refresh_from_db()
    assert entry.state == "declined"
    assert entry.offer_hold.release_reason == "cancelled"
    (next_offer,) = waitlist_offer_next(program_id=program.pk)
    assert WaitlistEntry.objects.get(pk=next_offer).inquiry_id == second.pk
    assert InquiryEvent.objects.filter(inquiry=first, kind="offer_ended", data__state="declined").exists()


def test_lapsed_offer_passes_on_and_its_messages_are_cancelled(facility, payer, coordinator):
    program = program_for(facility, payer)
    first, second = waiting(facility, payer), waiting(facility, payer)
    add(first, [program], coordinator, contact="sms")
    add(second, [program], coordinator)
    free_a_place(program)
    (offered,) = waitlist_offer_next(program_id=program.pk)
    later = timezone.now() + timedelta(hours=2, minutes=1)
    assert waitlist_offers_lapse(now=later) == 1
    entry = WaitlistEntry.objects.select_related("offer_hold").get(pk=offered)
    assert entry.state == "lapsed"
    assert entry.offer_hold.release_reason == "expired"
    assert waitlist_offers_lapse(now=later) == 0  # once
    (next_offer,) = waitlist_offer_next(program_id=program.pk)
    assert WaitlistEntry.objects.get(pk=next_offer).inquiry_id == second.pk
    from admissions.followups import _still_wanted

    alert = FollowUp.objects.get(inquiry=first, channel="task")
    assert _still_wanted(alert, first) == "the waitlist offer ended"


def test_accept_makes_the_offer_the_inquirys_hold(facility, payer, coordinator):
    program = program_for(facility, payer)
    other = program_for(facility, payer, name="Second choice")
    inquiry = waiting(facility, payer)
    add(inquiry, [program, other], coordinator)
    free_a_place(program)
    (offered,) = waitlist_offer_next(program_id=program.pk)
    entry = WaitlistEntry.objects.get(pk=offered)
    waitlist_offer_accept(entry=entry, actor=coordinator)
    inquiry.refresh_from_db()
    assert inquiry.capacity_hold_id == entry.offer_hold_id
    assert inquiry.approved_program_id == program.pk
    assert set(WaitlistEntry.objects.filter(inquiry=inquiry).values_list("program_id", "state")) == {
        (program.pk, "accepted"),
        (other.pk, "removed"),
    }


def test_one_offer_at_a_time_per_inquiry(facility, payer, coordinator):
    a, b = program_for(facility, payer, name="A"), program_for(facility, payer, name="B")
    inquiry = waiting(facility, payer)
    add(inquiry, [a, b], coordinator)
    free_a_place(a)
    free_a_place(b)
    assert len(waitlist_offer_next(program_id=a.pk)) == 1
    assert waitlist_offer_next(program_id=b.pk) == []


# --- concurrency: real threads, real connections, real row locks --------------------------------


def _race(program_ids, workers=6):
    barrier = threading.Barrier(workers)
    results, errors = [], []

    def run(n):
        try:
            barrier.wait()
            results.extend(waitlist_offer_next(program_id=program_ids[n % len(program_ids)]))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_racing_workers_never_offer_more_places_than_are_free(facility, payer, coordinator):
    program = program_for(facility, payer, capacity=10)
    for _ in range(8):
        add(waiting(facility, payer), [program], coordinator)
    Census.objects.filter(program=program).update(occupied=7)  # three free
    offered = _race([program.pk])
    assert len(offered) == len(set(offered)) == 3
    assert CapacityHold.objects.active().filter(program=program).count() == 3
    assert WaitlistEntry.objects.filter(state="offered").count() == 3


@pytest.mark.django_db(transaction=True)
def test_racing_programs_never_offer_one_inquiry_twice(facility, payer, coordinator):
    programs = [program_for(facility, payer, name=f"P{n}") for n in range(3)]
    inquiry = waiting(facility, payer)
    add(inquiry, programs, coordinator)
    for program in programs:
        free_a_place(program)
    offered = _race([p.pk for p in programs])
    assert len(offered) == 1
    assert WaitlistEntry.objects.filter(inquiry=inquiry, state="offered").count() == 1
    assert CapacityHold.objects.active().count() == 1


# --- pages ------------------------------------------------------------------------------------


def test_waitlist_page_lists_offers_and_waiting_within_a_query_budget(
    coordinator_client, coordinator, facility, payer, django_assert_max_num_queries
):
    program = program_for(facility, payer, capacity=30)
    for _ in range(12):
        add(waiting(facility, payer), [program], coordinator)
    Census.objects.filter(program=program).update(occupied=28)
    waitlist_offer_next(program_id=program.pk)
    with django_assert_max_num_queries(12):
        response = coordinator_client.get(reverse("waitlist"))
    assert response.status_code == 200
    states = [e.state for e in response.context["page"].object_list]
    assert states == ["offered"] * 2 + ["waiting"] * 10
    assert AuditEvent.objects.filter(action="list", fields__0="list:waitlist").count() == 1


def test_waitlist_page_is_scoped_to_the_users_facilities(
    coordinator_client, coordinator, other_facility, payer
):
    program = program_for(other_facility, payer)
    inquiry = waiting(other_facility, payer)
    add(inquiry, [program], coordinator)
    response = coordinator_client.get(reverse("waitlist"))
    assert list(response.context["page"].object_list) == []


def test_decline_from_the_page(coordinator_client, coordinator, facility, payer):
    program = program_for(facility, payer)
    inquiry = waiting(facility, payer)
    add(inquiry, [program], coordinator)
    free_a_place(program)
    (offered,) = waitlist_offer_next(program_id=program.pk)
    response = coordinator_client.post(reverse("waitlist-act", args=[offered, "decline"]))
    assert response.status_code == 302
    assert WaitlistEntry.objects.get(pk=offered).state == "declined"


def test_outsider_cannot_act_on_an_entry(outsider_client, coordinator, facility, payer):
    program = program_for(facility, payer)
    inquiry = waiting(facility, payer)
    (entry,) = add(inquiry, [program], coordinator)
    response = outsider_client.post(reverse("waitlist-act", args=[entry.pk, "remove"]))
    assert response.status_code == 403
    assert WaitlistEntry.objects.get(pk=entry.pk).state == "waiting"


def test_place_page_waitlists_and_bad_input_is_a_form_error(coordinator_client, facility, payer):
    program = program_for(facility, payer)
    inquiry = waiting(facility, payer)
    url = reverse("admissions:inquiry-place", args=[inquiry.pk]) + f"?program={program.pk}"
    page = coordinator_client.get(url)
    assert page.status_code == 200
    assert page.context["waitlist_form"].initial["programs"] == [program.pk]
    bad = coordinator_client.post(
        url, {"action": "waitlist", "programs": [program.pk], "earliest_start": "yesterday"}
    )
    assert bad.status_code == 400
    assert "earliest_start" in bad.context["waitlist_form"].errors
    assert not WaitlistEntry.objects.exists()
    good = coordinator_client.post(
        url,
        {
            "action": "waitlist",
            "programs": [program.pk],
            "earliest_start": timezone.localdate().isoformat(),
            "contact": "sms",
        },
    )
    assert good.status_code == 302
    entry = WaitlistEntry.objects.get()
    assert (entry.inquiry_id, entry.program_id, entry.contact) == (inquiry.pk, program.pk, "sms")


def test_place_page_holds_a_place(coordinator_client, facility, payer):
    program = program_for(facility, payer, full=False)
    inquiry = waiting(facility, payer)
    url = reverse("admissions:inquiry-place", args=[inquiry.pk])
    until = (timezone.localtime() + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M")
    response = coordinator_client.post(url, {"action": "hold", "program": program.pk, "until": until})
    assert response.status_code == 302
    inquiry.refresh_from_db()
    assert inquiry.capacity_hold.program_id == program.pk


def test_place_page_offers_only_programs_at_or_above_the_signed_off_level(
    coordinator_client, facility, payer
):
    fitting = program_for(facility, payer, full=False, name="Residential")
    below = program_for(facility, payer, full=False, level="2.1", name="Evening IOP")
    inquiry = waiting(facility, payer)  # signed off at 3.5
    url = reverse("admissions:inquiry-place", args=[inquiry.pk])
    page = coordinator_client.get(url)
    assert [p.pk for p in page.context["hold_form"].fields["program"].queryset] == [fitting.pk]
    assert [row.program.pk for row in page.context["rows"]] == [fitting.pk]
    until = (timezone.localtime() + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M")
    refused = coordinator_client.post(url, {"action": "hold", "program": below.pk, "until": until})
    assert "program" in refused.context["hold_form"].errors
    inquiry.refresh_from_db()
    assert inquiry.capacity_hold_id is None


def test_owner_alert_posts_on_the_timeline_at_once(facility, payer, coordinator):
    from admissions.followups import followups_deliver

    program = program_for(facility, payer)
    inquiry = waiting(facility, payer)
    add(inquiry, [program], coordinator)
    free_a_place(program)
    waitlist_offer_next(program_id=program.pk)
    alert = FollowUp.objects.get(inquiry=inquiry, channel="task")
    assert followups_deliver(ids=[alert.pk]) == {alert.pk: "done"}
    note = InquiryEvent.objects.get(inquiry=inquiry, kind="note")
    assert note.data["alert"] is True
    assert note.body.startswith("A waitlist place is held for this person")


def test_closing_an_inquiry_takes_it_off_the_waitlist_and_frees_its_offer(facility, payer, coordinator):
    from admissions.services import inquiry_advance

    a, b = program_for(facility, payer, name="A"), program_for(facility, payer, name="B")
    inquiry = waiting(facility, payer)
    add(inquiry, [a, b], coordinator)
    free_a_place(a)
    (offered,) = waitlist_offer_next(program_id=a.pk)
    inquiry_advance(
        inquiry=inquiry,
        to=Stage.CLOSED,
        actor=coordinator,
        reason="Chose another facility",
        lost_reason="chose_other",
    )
    assert set(WaitlistEntry.objects.filter(inquiry=inquiry).values_list("state", flat=True)) == {"removed"}
    hold = WaitlistEntry.objects.get(pk=offered).offer_hold
    assert hold.release_reason == "cancelled"
    assert CapacityHold.objects.active().filter(program=a).count() == 0


def test_sweep_task_passes_a_lapsed_offer_on_and_offers_missed_places(facility, payer, coordinator):
    from workers.tasks import waitlist_sweep

    program = program_for(facility, payer, capacity=3)
    first, second, third = (waiting(facility, payer) for _ in range(3))
    for inquiry in (first, second, third):
        add(inquiry, [program], coordinator)
    free_a_place(program)
    assert waitlist_sweep() == 1  # a free place nobody signalled
    offer = WaitlistEntry.objects.get(state="offered")
    assert offer.inquiry_id == first.pk
    WaitlistEntry.objects.filter(pk=offer.pk).update(offer_expires_at=timezone.now() - timedelta(seconds=1))
    assert waitlist_sweep() == 1
    assert WaitlistEntry.objects.get(pk=offer.pk).state == "lapsed"
    assert WaitlistEntry.objects.get(state="offered").inquiry_id == second.pk


@pytest.mark.parametrize(
    ("role", "waitlist", "place"),
    [
        ("coordinator", 200, 200),
        ("manager", 200, 200),
        ("clinician", 403, 403),
        ("vob_specialist", 403, 403),
        ("outsider", 403, 403),
    ],
)
def test_waitlist_pages_role_matrix(role, waitlist, place, request, facility, payer):
    from django.test import Client

    from tests.signin import login_verified

    user = request.getfixturevalue(role)
    inquiry = waiting(facility, payer)
    client = Client()
    login_verified(client, user)
    assert client.get(reverse("waitlist")).status_code == waitlist
    assert client.get(reverse("admissions:inquiry-place", args=[inquiry.pk])).status_code == place


def test_place_page_of_an_inquiry_elsewhere_is_404(coordinator_client, other_facility, payer):
    inquiry = waiting(other_facility, payer)
    assert coordinator_client.get(reverse("admissions:inquiry-place", args=[inquiry.pk])).status_code == 404
