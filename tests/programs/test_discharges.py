"""Discharges feed census and the board: recorded by staff, imported from the EHR (command, API)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from programs.models import Census, Discharge
from programs.services import discharge_change, discharge_record
from tests.factories import ProgramFactory

pytestmark = pytest.mark.django_db

PAGE = reverse("discharges")
API = reverse("discharge-import")


def census(program):
    return Census.objects.values_list("occupied", "expected_discharges_7d").get(program=program)


def test_done_discharge_frees_a_place_and_expected_feeds_the_week(facility, coordinator):
    program = ProgramFactory(facility=facility, capacity=10, census=10)
    today = timezone.localdate()
    discharge_record(program=program, on=today, done=True, actor=coordinator)
    expected = discharge_record(program=program, on=today + timedelta(days=3), done=False, actor=coordinator)
    discharge_record(program=program, on=today + timedelta(days=10), done=False, actor=coordinator)
    assert census(program) == (9, 1)
    assert discharge_change(discharge=expected, state="done", on=today) is True
    assert census(program) == (8, 0)
    assert discharge_change(discharge=expected, state="cancelled") is False  # done stays done
    assert census(program) == (8, 0)


def test_occupied_never_goes_below_zero(facility, coordinator):
    program = ProgramFactory(facility=facility, capacity=10, census=0)
    discharge_record(program=program, on=timezone.localdate(), done=True, actor=coordinator)
    assert census(program) == (0, 0)


def test_staff_record_a_discharge_on_the_page(coordinator_client, facility):
    program = ProgramFactory(facility=facility, capacity=10, census=6)
    response = coordinator_client.post(
        PAGE, {"program": program.pk, "on": timezone.localdate().isoformat(), "done": "1"}
    )
    assert response.status_code == 302
    assert census(program) == (5, 0)
    assert Discharge.objects.get().source == "staff"


def test_bad_discharge_input_is_a_form_error(coordinator_client, facility, other_facility):
    elsewhere = ProgramFactory(facility=other_facility)
    future = (timezone.localdate() + timedelta(days=2)).isoformat()
    response = coordinator_client.post(PAGE, {"program": elsewhere.pk, "on": "not a date", "done": "1"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"program", "on"}
    mine = ProgramFactory(facility=facility)
    response = coordinator_client.post(PAGE, {"program": mine.pk, "on": future, "done": "1"})
    assert response.status_code == 400
    assert response.context["form"].errors["on"] == ["A discharge that happened cannot be in the future."]
    assert not Discharge.objects.exists()


def test_expected_list_is_scoped_and_within_a_query_budget(
    coordinator_client, facility, other_facility, coordinator, django_assert_max_num_queries
):
    mine = ProgramFactory(facility=facility)
    theirs = ProgramFactory(facility=other_facility)
    for n in range(15):
        discharge_record(
            program=mine, on=timezone.localdate() + timedelta(days=n % 5), done=False, actor=coordinator
        )
    discharge_record(program=theirs, on=timezone.localdate(), done=False, actor=coordinator)
    with django_assert_max_num_queries(10):
        response = coordinator_client.get(PAGE)
    assert response.status_code == 200
    assert {d.program_id for d in response.context["expected"]} == {mine.pk}
    assert len(response.context["expected"]) == 15


def test_mark_expected_done_from_the_page(coordinator_client, facility, coordinator):
    program = ProgramFactory(facility=facility, capacity=4, census=4)
    expected = discharge_record(program=program, on=timezone.localdate(), done=False, actor=coordinator)
    response = coordinator_client.post(reverse("discharge-change", args=[expected.pk]), {"state": "done"})
    assert response.status_code == 302
    assert census(program) == (3, 0)


def test_vob_specialist_cannot_record(facility, client):
    from crm.roles import Role
    from tests.factories import UserFactory
    from tests.signin import login_verified

    program = ProgramFactory(facility=facility, census=3)
    login_verified(client, UserFactory(username="vobby", role=Role.VOB_SPECIALIST, facilities=[facility]))
    response = client.post(PAGE, {"program": program.pk, "on": timezone.localdate().isoformat(), "done": "1"})
    assert response.status_code == 403
    assert census(program) == (3, 0)


# --- the EHR import: command and API ------------------------------------------------------------


def test_import_command_csv_is_idempotent(tmp_path, facility):
    program = ProgramFactory(facility=facility, capacity=10, census=9)
    today = timezone.localdate()
    path = tmp_path / "discharges.csv"
    path.write_text(
        "program,external_id,date,status\n"
        f"{program.pk},EHR-1,{today},done\n"
        f"{program.pk},EHR-2,{today + timedelta(days=2)},expected\n"
    )
    out = StringIO()
    call_command("import_discharges", str(path), stdout=out)
    assert out.getvalue().strip() == "2 new, 0 changed, 0 unchanged discharge(s)."
    assert census(program) == (8, 1)
    out = StringIO()
    call_command("import_discharges", str(path), stdout=out)
    assert out.getvalue().strip() == "0 new, 0 changed, 2 unchanged discharge(s)."
    assert census(program) == (8, 1)


def test_import_command_refuses_a_file_with_a_bad_row_whole(tmp_path, facility):
    program = ProgramFactory(facility=facility, census=5)
    path = tmp_path / "discharges.json"
    path.write_text(
        json.dumps(
            [
                {
                    "program": program.pk,
                    "external_id": "A",
                    "date": str(timezone.localdate()),
                    "status": "done",
                },
                {"program": program.pk, "external_id": "", "date": "2026-13-40", "status": "gone"},
            ]
        )
    )
    err = StringIO()
    with pytest.raises(CommandError, match="1 bad row"):
        call_command("import_discharges", str(path), stderr=err)
    assert "row 2, date: A date as YYYY-MM-DD." in err.getvalue()
    assert not Discharge.objects.exists()
    assert census(program) == (5, 0)


def test_api_imports_json_and_csv(manager_client, facility):
    program = ProgramFactory(facility=facility, capacity=10, census=10)
    today = timezone.localdate()
    body = {
        "discharges": [{"program": program.pk, "external_id": "E1", "date": str(today + timedelta(days=1))}]
    }
    response = manager_client.post(API, body, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"created": 1, "changed": 0, "unchanged": 0}
    csv = f"program,external_id,date,status\n{program.pk},E1,{today},done\n"
    response = manager_client.post(API, csv, content_type="text/csv")
    assert response.json() == {"created": 0, "changed": 1, "unchanged": 0}
    assert census(program) == (9, 0)


def test_api_bad_input_is_a_400_with_row_errors_and_nothing_written(manager_client, facility, other_facility):
    elsewhere = ProgramFactory(facility=other_facility, census=4)
    body = [
        {"program": elsewhere.pk, "external_id": "X", "date": str(timezone.localdate()), "status": "done"}
    ]
    response = manager_client.post(API, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"errors": {"rows": {"1": {"program": "No such program at your facilities."}}}}
    assert census(elsewhere) == (4, 0)
    assert manager_client.post(API, "{not json", content_type="application/json").status_code == 400
    assert manager_client.post(API, "x", content_type="text/plain").status_code == 415


def test_api_refuses_roles_without_the_permission(outsider_client, client, facility):
    program = ProgramFactory(facility=facility)
    body = [{"program": program.pk, "external_id": "X", "date": str(timezone.localdate())}]
    assert outsider_client.post(API, body, content_type="application/json").status_code == 403
    assert client.post(API, body, content_type="application/json").status_code == 403
    assert not Discharge.objects.exists()
