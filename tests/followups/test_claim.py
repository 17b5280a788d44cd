"""The dispatcher's claim: each due row leased once, however many dispatchers race for it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from admissions.followups import (
    dispatch_leases_purge,
    followups_claim,
    followups_claim_due,
    followups_deliver,
    followups_dispatch_due,
    lease,
)
from admissions.models import DispatchLease, FollowUp
from tests.factories import InquiryFactory


def _due_tasks(facility, count: int, *, attempts: int = 0) -> list[int]:  # type: ignore[no-untyped-def]
    inquiry = InquiryFactory(facility=facility)
    now = timezone.now()
    rows = FollowUp.objects.bulk_create(
        FollowUp(
            inquiry=inquiry,
            kind=FollowUp.Kind.CALL_TASK,
            channel=FollowUp.Channel.TASK,
            due_at=now - timedelta(minutes=count - n),  # distinct due times: a stable claim order
            dedupe_key=f"claim-test:{inquiry.pk}:{n}",
            attempts=attempts,
        )
        for n in range(count)
    )
    return [row.pk for row in rows]


@pytest.mark.django_db(transaction=True)
def test_racing_dispatchers_lease_each_due_row_once(facility):
    ids = _due_tasks(facility, 150)
    claimed: list[list[int]] = [[], []]
    failures: list[BaseException] = []

    def dispatcher(mine: list[int]) -> None:
        try:
            while got := followups_claim_due(limit=7):
                mine.extend(got)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher, args=(mine,)) for mine in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    every = claimed[0] + claimed[1]
    assert sorted(every) == ids  # every due row once, none twice
    assert DispatchLease.objects.count() == len(ids)


@pytest.mark.django_db
def test_claim_returns_the_earliest_due_first_with_their_attempts(facility):
    ids = _due_tasks(facility, 3)
    assert followups_claim(limit=10) == [(pk, 0) for pk in ids]


@pytest.mark.django_db
def test_live_leases_cap_what_is_in_flight(facility, settings):
    settings.FOLLOWUP_MAX_IN_FLIGHT = 3
    ids = _due_tasks(facility, 5)
    assert followups_claim_due() == ids[:3]
    assert followups_claim_due() == []
    FollowUp.objects.filter(pk__in=ids[:2]).update(state=FollowUp.State.DONE)  # a worker finished them
    DispatchLease.objects.filter(followup_id__in=ids[:2]).delete()
    assert followups_claim_due() == ids[3:]


@pytest.mark.django_db
def test_rows_out_of_attempts_end_failed_at_the_claim_and_are_not_leased(facility, settings):
    settings.FOLLOWUP_MAX_ATTEMPTS = 2
    [worn_out] = _due_tasks(facility, 1, attempts=2)
    assert followups_claim_due() == []
    row = FollowUp.objects.get(pk=worn_out)
    assert (row.state, row.outcome) == (FollowUp.State.FAILED, "gave up after 2 attempts")
    assert not DispatchLease.objects.exists()


@pytest.mark.django_db
def test_a_lease_holds_only_for_the_due_time_it_was_taken_for(facility):
    [pk] = _due_tasks(facility, 1)
    assert followups_claim_due() == [pk]
    assert followups_claim_due() == []
    # deferred or rescheduled while its task waited: claimable at once at the new due time
    FollowUp.objects.filter(pk=pk).update(due_at=timezone.now() - timedelta(seconds=1))
    assert followups_claim_due() == [pk]
    assert DispatchLease.objects.get().due_at == FollowUp.objects.get(pk=pk).due_at


@pytest.mark.django_db
def test_dispatch_publishes_batches_and_stops_at_a_short_round(facility, settings):
    settings.FOLLOWUP_BATCH_SIZE = 2
    fresh = _due_tasks(facility, 5)
    [retried] = _due_tasks(facility, 1, attempts=1)
    DispatchLease.objects.create(  # a lease whose task was lost: purged first
        followup_id=fresh[0], due_at=timezone.now(), lease_until=timezone.now() - timedelta(seconds=1)
    )
    published: list[list[int]] = []
    assert followups_dispatch_due(publish=published.append, limit=4, rounds=5) == 6
    # round one: the four earliest (fresh ones in pairs); round two: the rest, short, so it stops
    assert published == [fresh[:2], fresh[2:4], [fresh[4]], [retried]]
    assert followups_dispatch_due(publish=published.append, limit=4) == 0


@pytest.mark.django_db
def test_a_worker_drops_its_batchs_leases_when_done(facility):
    ids = _due_tasks(facility, 2)
    assert followups_claim_due() == ids
    followups_deliver(ids=ids)
    assert not DispatchLease.objects.exists()


@pytest.mark.django_db
def test_purge_deletes_only_leases_that_ran_out(facility):
    ids = _due_tasks(facility, 2)
    followups_claim_due()
    DispatchLease.objects.filter(followup_id=ids[0]).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert dispatch_leases_purge() == 1
    assert list(DispatchLease.objects.values_list("followup_id", flat=True)) == [ids[1]]


# One row of the comparison below: state, due (minutes from now), run lease (minutes from now,
# None for none), attempts, dispatch lease (None, or minutes from now and whether it was taken
# for the row's due time).
ROWS = st.lists(
    st.tuples(
        st.sampled_from(list(FollowUp.State)),
        st.integers(-30, 5),
        st.one_of(st.none(), st.integers(-5, 5)),
        st.integers(0, 3),
        st.one_of(st.none(), st.tuples(st.integers(-5, 5), st.booleans())),
    ),
    max_size=12,
)


def _orm_claim(now, limit):  # type: ignore[no-untyped-def]
    """The claim's rule in the ORM: the claimable rows, earliest due first, up to ``limit``."""
    live = DispatchLease.objects.filter(
        followup=OuterRef("pk"), due_at=OuterRef("due_at"), lease_until__gte=now
    )
    claimable = (
        FollowUp.objects.filter(
            Q(state=FollowUp.State.SCHEDULED) | Q(state=FollowUp.State.QUEUED, lease_until__lt=now),
            due_at__lte=now,
        )
        .exclude(Exists(live))
        .order_by("due_at", "pk")
    )
    return list(claimable.values_list("pk", "attempts")[:limit])


@pytest.mark.django_db
@examples(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, limit=st.integers(1, 12))
def test_the_claim_statement_leases_what_the_orm_says_is_claimable(facility, settings, rows, limit):
    settings.FOLLOWUP_MAX_ATTEMPTS = 3
    FollowUp.objects.all().delete()
    DispatchLease.objects.all().delete()
    inquiry = InquiryFactory(facility=facility)
    now = timezone.now()
    made: list[FollowUp] = []

    def minutes(n: int) -> datetime:
        return now + timedelta(minutes=n, microseconds=len(made))  # distinct times: one order

    for state, due, run_lease, attempts, dispatch in rows:
        made.append(
            FollowUp.objects.create(
                inquiry=inquiry,
                kind=FollowUp.Kind.CALL_TASK,
                due_at=minutes(due),
                state=state,
                lease_until=None if run_lease is None else minutes(run_lease),
                attempts=attempts,
                dedupe_key=f"compare:{len(made)}",
            )
        )
        if dispatch is not None:
            until, same_due = dispatch
            row = made[-1]
            DispatchLease.objects.create(
                followup=row, due_at=row.due_at if same_due else minutes(-60), lease_until=minutes(until)
            )
    before = {lease.followup_id: (lease.due_at, lease.lease_until) for lease in DispatchLease.objects.all()}
    expected = _orm_claim(now, limit)

    assert followups_claim(limit=limit, now=now) == [(pk, n) for pk, n in expected if n < 3]

    due_times = dict(FollowUp.objects.values_list("pk", "due_at"))
    after = {lease.followup_id: (lease.due_at, lease.lease_until) for lease in DispatchLease.objects.all()}
    leased = {pk for pk, n in expected if n < 3}
    assert after == {**before, **{pk: (due_times[pk], now + lease()) for pk in leased}}
    worn_out = {pk for pk, n in expected if n >= 3}
    assert (
        set(
            FollowUp.objects.filter(state=FollowUp.State.FAILED, outcome__startswith="gave up").values_list(
                "pk", flat=True
            )
        )
        == worn_out
    )
