"""Deliveries of one call racing each other on the real database: one inquiry, one call entry."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from admissions.calls.models import CallEvent, TrackedCall
from admissions.models import Inquiry, InquiryEvent, Touch
from tests.calls.support import deliver, payload

pytestmark = pytest.mark.django_db(transaction=True)


def _race(jobs: list[tuple[object, str, dict]]) -> list[int]:  # type: ignore[type-arg]
    barrier = threading.Barrier(len(jobs))
    statuses: list[int] = []

    def run(source: object, event: str, data: dict) -> None:  # type: ignore[type-arg]
        try:
            barrier.wait()
            statuses.append(deliver(source, event, data, client=Client()).status_code)  # type: ignore[arg-type]
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_racing_starts_ends_and_repeats_of_one_call(ctm):
    started = timezone.now() - timedelta(minutes=1)
    start, end = payload("ctm_start", started=started), payload("ctm_end", started=started)

    statuses = _race([(ctm, "start", start), (ctm, "end", end), (ctm, "start", start), (ctm, "end", end)])

    assert statuses == [200, 200, 200, 200]
    assert Inquiry.objects.count() == 1
    assert TrackedCall.objects.count() == 1
    assert sorted(CallEvent.objects.values_list("kind", flat=True)) == ["end", "start"]
    assert InquiryEvent.objects.filter(kind=InquiryEvent.Kind.CALL).count() == 1
    assert InquiryEvent.objects.filter(kind=InquiryEvent.Kind.CREATED).count() == 1
    assert Touch.objects.count() == 1


def test_racing_first_calls_from_one_caller_open_one_inquiry(ctm):
    first = payload("ctm_start")
    second = payload("ctm_start", id=4102938476)

    statuses = _race([(ctm, "start", first), (ctm, "start", second)])

    assert statuses == [200, 200]
    assert Inquiry.objects.count() == 1
    assert TrackedCall.objects.filter(inquiry__isnull=False).count() == 2
