"""The capacity board: figures per program, the week ahead, holds linked by role, filters, polling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.masking import MASK
from crm.models import AuditEvent
from crm.roles import Role
from programs.models import CapacityHold, Census, Discharge, Program, Specialty
from tests.factories import (
    InquiryFactory,
    LevelRef,
    PayerFactory,
    ProgramFactory,
    UserFactory,
)
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

BOARD = reverse("capacity-board")


def _programs(facility, n, *, occupied=3, capacity=10, prefix="Residential"):
    level = LevelRef.get("3.5")
    programs = Program.objects.bulk_create(
        Program(
            facility=facility,
            name=f"{prefix} {i:03d}",
            setting="residential",
            level_of_care=level,
            capacity_kind="beds",
            capacity=capacity,
        )
        for i in range(n)
    )
    Census.objects.bulk_create(Census(program=p, occupied=occupied) for p in programs)
    return programs


def _hold(program, inquiry, hours=4):
    hold = CapacityHold.objects.create(
        program=program, reference=f"inquiry:{inquiry.pk}", held_until=timezone.now() + timedelta(hours=hours)
    )
    type(inquiry).objects.filter(pk=inquiry.pk).update(capacity_hold=hold)
    return hold


def test_board_shows_today_and_the_week_ahead(coordinator_client, facility):
    program = ProgramFactory(facility=facility, name="Bayview Residential", capacity=10, census=7)
    inquiry = InquiryFactory(facility=facility)
    _hold(program, inquiry)
    today = timezone.localdate()
    Discharge.objects.create(program=program, on=today + timedelta(days=2))
    Discharge.objects.create(program=program, on=today + timedelta(days=2))
    Discharge.objects.create(program=program, on=today + timedelta(days=9))  # beyond the week
    response = coordinator_client.get(BOARD)
    assert response.status_code == 200
    (row, holds, _) = response.context["board"][0]
    assert (row.capacity, row.occupied, row.held, row.free_now, row.expected_discharges) == (10, 7, 1, 2, 2)
    assert [day.free for day in row.outlook] == [2, 2, 4, 4, 4, 4, 4]
    assert [day.on for day in row.outlook] == [today + timedelta(days=n) for n in range(7)]
    assert holds[0][1] == (inquiry.pk, f"{inquiry.person.first_name} {inquiry.person.last_name}")
    body = response.content.decode()
    assert reverse("admissions:inquiry", args=[inquiry.pk]) in body
    assert f"{inquiry.person.first_name} {inquiry.person.last_name}" in body
    assert 'hx-trigger="every 5s"' in body


def test_board_rows_name_the_setting_and_who_the_program_is_for(coordinator_client, facility):
    ProgramFactory(facility=facility, name="Harbor Women", setting="residential", gender="women")
    body = coordinator_client.get(BOARD).content.decode()
    assert "Inpatient / residential · Women only</span>" in body


def test_board_counts_undated_census_discharges_apart(coordinator_client, facility):
    program = ProgramFactory(facility=facility, capacity=10, census=10)
    Census.objects.filter(program=program).update(expected_discharges_7d=3)
    Discharge.objects.create(program=program, on=timezone.localdate() + timedelta(days=1))
    row, _, _ = coordinator_client.get(BOARD).context["board"][0]
    assert (row.free_now, row.expected_discharges, row.undated_discharges) == (0, 3, 2)
    assert [day.free for day in row.outlook] == [0, 1, 1, 1, 1, 1, 1]


def test_board_shows_only_the_users_facilities(coordinator_client, facility, other_facility):
    mine = ProgramFactory(facility=facility)
    ProgramFactory(facility=other_facility)
    response = coordinator_client.get(BOARD)
    assert [row.program.pk for row, _, _ in response.context["board"]] == [mine.pk]


def test_hold_for_an_inquiry_elsewhere_is_not_linked(coordinator_client, facility, other_facility):
    program = ProgramFactory(facility=facility)
    elsewhere = InquiryFactory(facility=other_facility)
    _hold(program, elsewhere)
    response = coordinator_client.get(BOARD)
    body = response.content.decode()
    assert reverse("admissions:inquiry", args=[elsewhere.pk]) not in body
    assert elsewhere.person.last_name not in body
    assert "Not at your facilities" in body


def test_holder_name_is_masked_for_a_role_without_names(facility):
    program = ProgramFactory(facility=facility)
    inquiry = InquiryFactory(facility=facility)
    _hold(program, inquiry)
    user = UserFactory(username="holdclerk", facilities=[facility])
    user.user_permissions.add(*_perms("programs.change_capacityhold", "admissions.view_inquiry"))
    from django.test import Client

    client = Client()
    login_verified(client, user)
    body = client.get(BOARD).content.decode()
    assert inquiry.person.last_name not in body
    assert f"Inquiry #{inquiry.pk}" in body
    assert MASK not in body  # a number, not a mask, stands for the name


def _perms(*labels):
    from django.contrib.auth.models import Permission

    out = []
    for label in labels:
        app, codename = label.split(".")
        out.append(Permission.objects.get(content_type__app_label=app, codename=codename))
    return out


def test_board_audits_the_inquiries_it_shows(coordinator_client, coordinator, facility):
    program = ProgramFactory(facility=facility)
    inquiry = InquiryFactory(facility=facility)
    _hold(program, inquiry)
    coordinator_client.get(BOARD)
    row = AuditEvent.objects.get(action=AuditEvent.Action.LIST, actor=coordinator)
    assert row.listed == [inquiry.pk]
    assert row.fields[0] == "list:capacity board"


def test_board_without_holds_writes_no_audit_row(coordinator_client, facility):
    ProgramFactory(facility=facility)
    coordinator_client.get(BOARD)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LIST).exists()


def test_filters_by_level_specialty_gender_and_payer(coordinator_client, facility, other_facility):
    payer = PayerFactory(name="Aetna")
    women = Specialty.objects.create(code="women", name="Women's program")
    detox = ProgramFactory(
        facility=facility, name="Detox", setting="withdrawal", level_of_care=LevelRef.get("3.7-WM")
    )
    womens = ProgramFactory(facility=facility, name="Women", gender="women")
    womens.specialties.add(women)
    mens = ProgramFactory(facility=facility, name="Men", gender="men")
    mens.accepted_payers.add(payer)

    def shown(**params):
        response = coordinator_client.get(BOARD, params)
        assert response.status_code == 200
        return {row.program.name for row, _, _ in response.context["board"]}

    assert shown() == {"Detox", "Women", "Men"}
    assert shown(level=detox.level_of_care_id) == {"Detox"}
    assert shown(specialty=women.pk) == {"Women"}
    assert shown(gender="women") == {"Detox", "Women"}
    assert shown(payer=payer.pk) == {"Men"}
    assert shown(facility=facility.pk) == {"Detox", "Women", "Men"}


def test_bad_filter_is_a_form_error_not_a_500(coordinator_client, facility, other_facility):
    ProgramFactory(facility=facility)
    response = coordinator_client.get(BOARD, {"facility": other_facility.pk, "gender": "x", "level": "abc"})
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"facility", "gender", "level"}
    assert 'class="field-error"' in response.content.decode()


def test_poll_returns_nothing_until_something_changes(coordinator_client, facility):
    program = ProgramFactory(facility=facility)
    first = coordinator_client.get(BOARD)
    version = first.context["version"]
    same = coordinator_client.get(BOARD, {"v": version}, headers={"HX-Request": "true"})
    assert same.status_code == 204
    assert same.content == b""
    _hold(program, InquiryFactory(facility=facility))
    moved = coordinator_client.get(BOARD, {"v": version}, headers={"HX-Request": "true"})
    assert moved.status_code == 200
    assert moved.templates[0].name == "admissions/_board.html"
    assert moved.context["board"][0][0].held == 1


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.COORDINATOR, 200),
        (Role.MANAGER, 200),
        (Role.ADMINISTRATOR, 200),
        (Role.CLINICAL_REVIEWER, 403),
        (Role.VOB_SPECIALIST, 403),
        (Role.MARKETING, 403),
        (None, 403),
    ],
)
def test_board_role_matrix(role, status, facility):
    from django.test import Client

    user = UserFactory(username=f"u{role}", role=role, facilities=[facility])
    client = Client()
    login_verified(client, user)
    response = client.get(BOARD)
    assert response.status_code == status
    if status == 200:
        assert f'href="{BOARD}"' in response.content.decode()


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(BOARD)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def _queries(client):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(BOARD)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_board_queries_are_the_same_at_30_and_300_programs(
    coordinator_client, facility, django_assert_max_num_queries
):
    def fill(n):
        programs = _programs(facility, n, prefix=f"Set of {n}")
        for p in programs[: n // 3]:
            _hold(p, InquiryFactory(facility=facility))
            Discharge.objects.create(program=p, on=timezone.localdate() + timedelta(days=1))

    fill(30)
    at_30 = _queries(coordinator_client)
    Program.objects.all().update(is_active=False)
    fill(300)
    at_300 = _queries(coordinator_client)
    assert at_30 == at_300
    with django_assert_max_num_queries(25):  # with one each for the programs' facilities and levels
        assert coordinator_client.get(BOARD).status_code == 200


def test_board_counts_who_waits_and_polls_again_when_someone_is_waitlisted(coordinator_client, facility):
    from admissions.models import WaitlistEntry

    program = ProgramFactory(facility=facility, census=10)
    version = coordinator_client.get(BOARD).context["version"]
    WaitlistEntry.objects.create(
        inquiry=InquiryFactory(facility=facility), program=program, earliest_start=timezone.localdate()
    )
    response = coordinator_client.get(BOARD, {"v": version}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.context["board"][0][2] == 1
    assert "1 waiting" in response.content.decode()


def test_board_rows_escape_every_text(coordinator_client, facility):
    facility.name = 'Harbor <b>"Point"</b> & Co'
    facility.save(update_fields=["name"])
    program = ProgramFactory(facility=facility, name="<script>alert(1)</script> Detox", census=2)
    person = InquiryFactory(facility=facility).person
    person.first_name, person.last_name = "<img src=x>", "O'Neil & Sons"
    person.save(update_fields=["first_name", "last_name"])
    _hold(program, person.inquiries.get())

    body = coordinator_client.get(BOARD).content.decode()

    row = body[body.index(f'id="program-{program.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Detox" in row
    assert "Harbor &lt;b&gt;&quot;Point&quot;&lt;/b&gt; &amp; Co" in row
    assert "&lt;img src=x&gt; O&#x27;Neil &amp; Sons" in row
    for raw in ("<script>", "<img", "<b>"):
        assert raw not in row
