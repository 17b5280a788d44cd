"""Follow-ups run on a real Celery worker over the configured broker (Redis or the embedded one)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from admissions.followups import followup_deliver, followup_start, followups_claim_due
from admissions.models import DispatchLease, FollowUp, InquiryEvent
from admissions.pipeline import Stage
from admissions.services import TouchData, inquiry_advance, inquiry_create
from crm.celery import app
from tests.factories import LeadSourceFactory, PersonFactory
from workers import tasks
from workers.models import Heartbeat


def _new_inquiry(facility):
    source = LeadSourceFactory(default_facility=facility)
    return inquiry_create(
        person=PersonFactory(), facility=facility, touch=TouchData(channel="web_form", lead_source=source)
    )


def _make_due(inquiry, kind):
    FollowUp.objects.filter(inquiry=inquiry, kind=kind).update(due_at=timezone.now() - timedelta(seconds=1))


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def celery_worker():
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        yield


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_due_alert_is_posted_once_by_the_worker(facility, celery_worker):
    inquiry = _new_inquiry(facility)
    _make_due(inquiry, FollowUp.Kind.COORDINATOR_ALERT)
    tasks.followups_dispatch.delay()
    alert = FollowUp.objects.get(inquiry=inquiry, kind=FollowUp.Kind.COORDINATOR_ALERT)
    assert _wait_for(lambda: FollowUp.objects.get(pk=alert.pk).state == FollowUp.State.DONE)
    notes = InquiryEvent.objects.filter(inquiry=inquiry, kind=InquiryEvent.Kind.NOTE, data__alert=True)
    assert notes.count() == 1
    assert "No contact attempt" in notes.get().body
    # a second sweep finds nothing to do: never twice
    tasks.followups_dispatch.delay()
    time.sleep(1)
    assert notes.count() == 1


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_heartbeat_runs_on_the_worker(celery_worker):
    tasks.heartbeat.delay()
    assert _wait_for(lambda: Heartbeat.objects.filter(name="celery").exists())


@pytest.mark.django_db
def test_alert_is_cancelled_when_contact_was_attempted(facility, coordinator):
    inquiry = _new_inquiry(facility)
    _make_due(inquiry, FollowUp.Kind.COORDINATOR_ALERT)
    claimed = followups_claim_due()
    inquiry_advance(inquiry=inquiry, to=Stage.CONTACT_ATTEMPTED, actor=coordinator)
    # the advance cancelled it already; a stale queued copy must not post anything
    assert all(followup_deliver(followup_id=pk) == "not queued" for pk in claimed)
    assert not InquiryEvent.objects.filter(inquiry=inquiry, data__alert=True).exists()


@pytest.mark.django_db
def test_delivery_rechecks_the_inquiry_under_lock(facility, coordinator):
    inquiry = _new_inquiry(facility)
    _make_due(inquiry, FollowUp.Kind.CALL_TASK)
    FollowUp.objects.filter(inquiry=inquiry).exclude(kind=FollowUp.Kind.CALL_TASK).delete()
    claimed = followups_claim_due()
    assert len(claimed) == 4
    # the person was reached between the claim and the delivery
    from admissions.models import Inquiry

    Inquiry.objects.filter(pk=inquiry.pk).update(stage=Stage.CONTACTED)
    assert {followup_deliver(followup_id=pk) for pk in claimed} == {FollowUp.State.CANCELLED}


@pytest.mark.django_db
def test_claim_takes_due_rows_once_and_reclaims_expired_leases(facility):
    inquiry = _new_inquiry(facility)
    _make_due(inquiry, FollowUp.Kind.COORDINATOR_ALERT)
    first = followups_claim_due()
    assert len(first) == 1
    assert DispatchLease.objects.filter(followup_id__in=first).count() == 1
    assert followups_claim_due() == []
    # the task was lost: once the dispatch lease runs out the row is claimed again
    DispatchLease.objects.filter(followup_id__in=first).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert followups_claim_due() == first
    # a worker started it (run lease on the row), then died: claimed again when that lease runs out
    assert followup_start(followup_id=first[0])
    DispatchLease.objects.all().delete()
    assert followups_claim_due() == []
    FollowUp.objects.filter(pk__in=first).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert followups_claim_due() == first
