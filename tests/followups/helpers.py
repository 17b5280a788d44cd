"""Builders shared by the messaging tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from admissions.models import FollowUp, Inquiry, Person
from admissions.services import TouchData, inquiry_create
from crm.models import Facility
from tests.factories import LeadSourceFactory, PersonFactory
from tests.followups.conftest import consent


def web_lead(
    facility: Facility,
    *,
    sms: bool = True,
    email: bool = True,
    created_at: datetime | None = None,
    **person: object,
) -> Inquiry:
    """A new web-form inquiry through the real service, with the consents asked for."""
    someone: Person = PersonFactory(**person)
    if sms:
        consent(someone, "sms")
    if email:
        consent(someone, "email")
    source = LeadSourceFactory(default_facility=facility)
    return inquiry_create(
        person=someone,
        facility=facility,
        touch=TouchData(channel="web_form", lead_source=source),
        created_at=created_at,
    )


def message_rows(inquiry: Inquiry) -> list[FollowUp]:
    return list(inquiry.followups.exclude(channel=FollowUp.Channel.TASK).order_by("pk"))


def wait_for(predicate: Callable[[], object], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
