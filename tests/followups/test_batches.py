"""Batch delivery: one task per batch, a fixed number of statements per message, one SMTP connection."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from admissions.followups import dispatch_batches, followups_claim_due, followups_deliver
from admissions.messaging.cadences import cadences_plan
from admissions.models import FollowUp
from tests.followups.helpers import web_lead
from tests.followups.sinks import header
from workers.channels import default_channels


def _due_messages(facility, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    for _ in range(count):
        web_lead(facility)
    cadences_plan()
    FollowUp.objects.filter(channel=FollowUp.Channel.TASK).delete()  # messages only
    return sorted(FollowUp.objects.values_list("pk", flat=True))


def test_batches_keep_fresh_rows_together_and_send_retried_rows_alone():
    claimed = [(1, 0), (2, 0), (3, 2), (4, 0), (5, 1)]
    assert dispatch_batches(claimed, size=2) == [[1, 2], [4], [3], [5]]


@pytest.mark.django_db
@pytest.mark.parametrize("count", [2, 8])
def test_statements_per_message_do_not_grow(facility, sms_api, smtp, always_open, count):
    ids = _due_messages(facility, count)  # a text and an email per lead
    assert followups_claim_due() == ids
    with CaptureQueriesContext(connection) as queries, default_channels() as channels:
        results = followups_deliver(ids=ids, channels=channels)
    assert set(results.values()) == {FollowUp.State.DONE}
    statements = [
        q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    # per batch: start (select, update), follow-ups, templates, program names, sending rules, the
    # dispatch leases dropped; per message: person lock, follow-up + consent + reply + hold check,
    # message, timeline, follow-up
    assert len(statements) == 7 + 5 * len(ids)
    assert len(sms_api.ledger.unique) == count
    assert len(smtp.unique) == count


@pytest.mark.django_db
def test_one_smtp_connection_per_batch(facility, smtp, always_open, monkeypatch):
    import smtplib

    opened = []
    real_connect = smtplib.SMTP.connect

    def counting_connect(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(args)
        return real_connect(self, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "connect", counting_connect)
    ids = _due_messages(facility, 5)
    emails = list(FollowUp.objects.filter(pk__in=ids, channel="email").values_list("pk", flat=True))
    FollowUp.objects.exclude(pk__in=emails).delete()
    followups_claim_due()
    with default_channels() as channels:
        assert set(followups_deliver(ids=emails, channels=channels).values()) == {"done"}
    assert len(opened) == 1
    assert sorted(header(r["message"], "Message-ID") for r in smtp.unique.values()) == sorted(
        f"<fu-{pk}@crm.invalid>" for pk in emails
    )


@pytest.mark.django_db
def test_a_batch_out_of_time_hands_the_rest_back_untried(facility, sms_api, smtp, always_open, settings):
    settings.FOLLOWUP_BATCH_SECONDS = -1  # already over: nothing is started after the first check
    ids = _due_messages(facility, 2)
    followups_claim_due()
    with default_channels() as channels:
        results = followups_deliver(ids=ids, channels=channels)
    assert set(results.values()) == {"released"}
    assert set(FollowUp.objects.values_list("state", "attempts")) == {(FollowUp.State.SCHEDULED, 0)}
    assert sms_api.ledger.raw == []
