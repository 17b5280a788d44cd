"""Role groups are seeded by migration with exactly the permissions of ``crm.roles``."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from crm.roles import Role, has_role, role_permission_codenames
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_every_role_is_a_group_with_its_permissions():
    for role in Role:
        group = Group.objects.get(name=role.value)
        held = set(group.permissions.values_list("content_type__app_label", "codename"))
        assert held == set(role_permission_codenames(role)), role


def test_marketing_holds_no_model_permission():
    assert Group.objects.get(name=Role.MARKETING.value).permissions.count() == 0


def test_only_managers_may_export():
    exporters = {r for r in Role if ("crm", "export_records") in role_permission_codenames(r)}
    assert exporters == {Role.MANAGER}


def test_clinical_reviewer_cannot_touch_insurance_and_vob_cannot_read_people():
    clinical = {c for _, c in role_permission_codenames(Role.CLINICAL_REVIEWER)}
    vob = {c for _, c in role_permission_codenames(Role.VOB_SPECIALIST)}
    assert not {c for c in clinical if "insurancepolicy" in c}
    assert "view_person" not in vob


def test_user_permissions_come_from_the_group(facility):
    user = UserFactory(username="c", role=Role.COORDINATOR, facilities=[facility])
    assert user.has_perm("admissions.change_inquiry")
    assert not user.has_perm("crm.export_records")
    assert has_role(user, Role.COORDINATOR)
    assert not has_role(user, Role.MANAGER)
