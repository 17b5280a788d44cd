"""Facility scoping: one helper decides which rows a user sees."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from admissions.models import Inquiry
from admissions.selectors import QueueTab, inquiries_visible_to, queue_tab
from crm.roles import Role
from crm.scoping import facility_ids_for, scope_to_user
from tests.factories import InquiryFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_sites(facility, other_facility):
    here = InquiryFactory.create_batch(3, facility=facility)
    there = InquiryFactory.create_batch(2, facility=other_facility)
    return here, there


def _ids(qs):
    return sorted(qs.values_list("pk", flat=True))


def test_coordinator_sees_only_own_facility(two_sites, coordinator):
    here, _ = two_sites
    assert _ids(inquiries_visible_to(coordinator)) == sorted(i.pk for i in here)


def test_user_of_two_facilities_sees_both(two_sites, facility, other_facility):
    user = UserFactory(username="both", role=Role.MANAGER, facilities=[facility, other_facility])
    assert inquiries_visible_to(user).count() == 5


def test_administrator_sees_every_facility(two_sites, administrator):
    assert facility_ids_for(administrator) is None
    assert inquiries_visible_to(administrator).count() == 5


def test_user_without_facility_sees_nothing(two_sites, outsider):
    assert inquiries_visible_to(outsider).count() == 0


def test_anonymous_and_inactive_users_see_nothing(two_sites, coordinator):
    assert scope_to_user(Inquiry.objects.all(), AnonymousUser()).count() == 0
    coordinator.is_active = False
    assert scope_to_user(Inquiry.objects.all(), coordinator).count() == 0


def test_scoping_follows_relations(two_sites, coordinator):
    from admissions.models import Person

    people = scope_to_user(Person.objects.all(), coordinator, facility_field="inquiries__facility")
    assert people.count() == 3


def test_open_list_excludes_closed(facility, coordinator):
    InquiryFactory(facility=facility)
    InquiryFactory(facility=facility, stage="invalid")
    assert queue_tab(inquiries_visible_to(coordinator), tab=QueueTab.OPEN, user=coordinator).count() == 1
