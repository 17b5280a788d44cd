"""Role groups are seeded by migration with exactly the permissions of ``crm.roles``."""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.auth.permissions import RoleBackend
from crm.models import User
from crm.roles import Role, has_role, role_permission_codenames, user_roles
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


@pytest.mark.parametrize("role", list(Role))
def test_the_role_backend_answers_as_djangos_model_backend_in_one_statement(role):
    user = UserFactory(role=role)
    own = Permission.objects.get(content_type__app_label="crm", codename="view_auditevent")
    user.user_permissions.add(own)
    expected = ModelBackend().get_all_permissions(User.objects.get(pk=user.pk))

    fresh = User.objects.get(pk=user.pk)
    with CaptureQueriesContext(connection) as statements:
        assert RoleBackend().get_all_permissions(fresh) == expected
        assert user_roles(fresh) == {role}
        assert fresh.has_perm("crm.view_auditevent")
    assert len(statements) == 1
    assert "crm.view_auditevent" in expected


def test_the_role_backend_gives_nothing_to_an_inactive_user_and_everything_to_a_superuser():
    inactive = UserFactory(role=Role.MANAGER, is_active=False)
    assert RoleBackend().get_all_permissions(inactive) == set()
    root = UserFactory(is_superuser=True)
    assert RoleBackend().get_all_permissions(root) == ModelBackend().get_all_permissions(root)
    assert user_roles(UserFactory()) == frozenset()
