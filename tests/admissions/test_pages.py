"""Coordinator pages: the work queue, search, quick intake, the inquiry page and its actions."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from admissions.messaging.models import MessageTemplate
from admissions.models import (
    ContactConsent,
    FollowUp,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    LeadSource,
    Person,
    Substance,
)
from admissions.pipeline import Stage
from crm.models import AuditEvent
from crm.roles import Role
from programs.models import CapacityHold, Census
from tests.factories import (
    FacilityFactory,
    InquiryFactory,
    LevelRef,
    PayerFactory,
    PersonFactory,
    ProgramFactory,
    UserFactory,
)
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

QUEUE = reverse("home")
INTAKE = reverse("admissions:intake")


def page_of(inquiry: Inquiry) -> str:
    return reverse("admissions:inquiry", args=[inquiry.pk])


def act(inquiry: Inquiry, name: str) -> str:
    return reverse("admissions:inquiry-act", args=[inquiry.pk, name])


def actions_of(response):
    """The action forms of a rendered inquiry page, by action name (the next step's included)."""
    forms = {name: form for name, _title, form in response.context["actions"]}
    if response.context["step_form"] is not None:
        forms[response.context["step"].action] = response.context["step_form"]
    return forms


# --- the work queue -------------------------------------------------------------------------


def test_queue_new_tab_shows_uncontacted_with_a_late_timer(coordinator_client, facility):
    late = InquiryFactory(facility=facility, created_at=timezone.now() - timedelta(minutes=9))
    fresh = InquiryFactory(facility=facility, created_at=timezone.now() - timedelta(minutes=1))
    InquiryFactory(facility=facility, stage=Stage.CONTACTED)
    response = coordinator_client.get(QUEUE)
    body = response.content.decode()
    assert response.status_code == 200
    assert [i.pk for i in response.context["page"].object_list] == [late.pk, fresh.pk]
    assert body.count('class="timer late"') == 1
    assert body.count('class="timer"') == 1
    assert (
        f'data-since="{late.created_at.isoformat()}"'.replace("+00:00", "+00:00") in body
        or "data-since" in body
    )


def test_queue_tab_counts(coordinator_client, coordinator, facility, other_facility):
    InquiryFactory(facility=facility)
    InquiryFactory(facility=facility, stage=Stage.CONTACTED, assigned_to=coordinator)
    InquiryFactory(facility=facility, stage=Stage.PRESCREENED)
    InquiryFactory(facility=facility, stage=Stage.ADMITTED, admitted_at=timezone.now())
    InquiryFactory(facility=other_facility)
    counts = {value: count for value, _label, count in coordinator_client.get(QUEUE).context["tab_list"]}
    assert counts == {"new": 1, "due": 0, "mine": 1, "unassigned": 2, "open": 3}


def test_queue_mine_groups_by_stage_in_pipeline_order(coordinator_client, coordinator, facility):
    later = InquiryFactory(facility=facility, stage=Stage.PRESCREENED, assigned_to=coordinator)
    earlier = InquiryFactory(facility=facility, stage=Stage.CONTACTED, assigned_to=coordinator)
    InquiryFactory(facility=facility, stage=Stage.CONTACTED)
    rows = coordinator_client.get(QUEUE, {"tab": "mine"}).context["page"].object_list
    assert [i.pk for i in rows] == [earlier.pk, later.pk]


def test_queue_due_tab_lists_my_call_tasks_until_a_call_is_logged(coordinator_client, coordinator, facility):
    inquiry = InquiryFactory(facility=facility, stage=Stage.CONTACT_ATTEMPTED, assigned_to=coordinator)
    due = FollowUp.objects.create(
        inquiry=inquiry,
        kind=FollowUp.Kind.CALL_TASK,
        due_at=timezone.now() - timedelta(minutes=30),
        state=FollowUp.State.DONE,
        dedupe_key="t1",
    )
    FollowUp.objects.create(
        inquiry=inquiry,
        kind=FollowUp.Kind.CALL_TASK,
        due_at=timezone.now() + timedelta(days=3),
        dedupe_key="t2",
    )
    response = coordinator_client.get(QUEUE, {"tab": "due"})
    assert [f.pk for f in response.context["page"].object_list] == [due.pk]
    assert "overdue" in response.content.decode()
    InquiryEvent.objects.create(
        inquiry=inquiry, kind=InquiryEvent.Kind.CALL, call_direction="outbound", call_outcome="no_answer"
    )
    assert list(coordinator_client.get(QUEUE, {"tab": "due"}).context["page"].object_list) == []


def test_queue_filters_are_kept_in_the_url(coordinator_client, facility):
    source = LeadSource.objects.create(name="Directory A", kind="directory", default_facility=facility)
    wanted = InquiryFactory(facility=facility, lead_source=source)
    InquiryFactory(facility=facility)
    response = coordinator_client.get(QUEUE, {"source": source.pk, "tab": "open"})
    assert [i.pk for i in response.context["page"].object_list] == [wanted.pk]
    body = response.content.decode()
    assert f"source={source.pk}&amp;tab=new" in body  # tab links keep the filter


def test_queue_filter_selects_keep_the_choice_and_escape_labels(coordinator_client, facility):
    source = LeadSource.objects.create(
        name="<b>Directory</b> & Co", kind="directory", default_facility=facility
    )
    LeadSource.objects.create(name="Another", kind="directory", default_facility=facility)
    body = coordinator_client.get(QUEUE, {"source": source.pk, "stage": "contacted"}).content.decode()
    assert f'<option value="{source.pk}" selected>&lt;b&gt;Directory&lt;/b&gt; &amp; Co</option>' in body
    assert '<option value="" selected>All programs</option>' in body
    assert '<option value="contacted" selected>' in body
    assert '<select name="facility" id="id_facility">' in body
    invalid = coordinator_client.get(QUEUE, {"stage": "nope"}).content.decode()
    assert (
        '<select name="stage" aria-invalid="true" aria-describedby="id_stage_error" id="id_stage">' in invalid
    )
    assert '<span class="field-error" id="id_stage_error">' in invalid


def test_queue_and_due_rows_escape_every_text(coordinator_client, coordinator, facility):
    hostile = "<i>x</i>"
    coordinator.first_name, coordinator.last_name = "<b>Owner</b>", ""
    coordinator.save()
    source = LeadSource.objects.create(name=f"Source {hostile}", kind="directory", default_facility=facility)
    inquiry = InquiryFactory(
        facility=facility,
        person=PersonFactory(first_name=hostile, last_name="&amp;"),
        lead_source=source,
        assigned_to=coordinator,
        stage=Stage.CONTACTED,
    )
    FollowUp.objects.create(
        inquiry=inquiry, kind=FollowUp.Kind.CALL_TASK, due_at=timezone.now() - timedelta(minutes=5)
    )
    for tab in ("open", "due"):
        body = coordinator_client.get(QUEUE, {"tab": tab}).content.decode()
        assert "<i>" not in body, tab
        assert "<b>Owner" not in body, tab
        assert "&lt;i&gt;x&lt;/i&gt; &amp;amp;" in body, tab
    body = coordinator_client.get(QUEUE, {"tab": "open"}).content.decode()
    assert "<td>Source &lt;i&gt;x&lt;/i&gt;</td>" in body
    assert "<td>&lt;b&gt;Owner&lt;/b&gt;</td>" in body


@pytest.fixture
def choices_kept(settings):
    """Choice lists kept a minute in this process, as in production, and forgotten after."""
    from crm.formfields import cached_options_clear

    settings.CHOICES_CACHE_SECONDS = 60
    cached_options_clear()
    yield
    cached_options_clear()


@pytest.mark.usefixtures("choices_kept")
def test_choice_lists_are_read_once_a_minute(coordinator_client, coordinator, facility):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    LeadSource.objects.create(name="Directory A", kind="directory", default_facility=facility)
    inquiry = InquiryFactory(facility=facility, assigned_to=coordinator)
    for url in (QUEUE, f"/inquiries/{inquiry.pk}/"):
        with CaptureQueriesContext(connection) as first:
            coordinator_client.get(url)
        with CaptureQueriesContext(connection) as second:
            body = coordinator_client.get(url).content.decode()
        assert len(second) < len(first), url
        # every choice list is one plain query, none a server-side cursor (Django's own iterator)
        assert not [q for q in first.captured_queries if q["sql"].startswith("DECLARE")], url
        assert not [q for q in second.captured_queries if q["sql"].startswith('SELECT "programs_program"')], (
            url
        )
    assert ">Directory A</option>" in coordinator_client.get(QUEUE).content.decode()
    assert "Sam Staff" in body  # the owner choices, from the cache


def _calls_due(coordinator, facility, *, minutes_ago):  # type: ignore[no-untyped-def]
    """One call task per inquiry of the coordinator's, each fallen due that many minutes ago."""
    now = timezone.now()
    return [
        FollowUp.objects.create(
            inquiry=InquiryFactory(facility=facility, stage=Stage.CONTACTED, assigned_to=coordinator),
            kind=FollowUp.Kind.CALL_TASK,
            due_at=now - timedelta(minutes=minutes),
            state=FollowUp.State.DONE,
            dedupe_key=f"due-{minutes}",
        )
        for minutes in minutes_ago
    ]


def test_queue_due_tab_pages_in_due_order(coordinator_client, coordinator, facility, monkeypatch):
    import admissions.views

    monkeypatch.setattr(admissions.views, "PAGE_SIZE", 2)
    made = _calls_due(coordinator, facility, minutes_ago=(50, 10, 40, 20, 30))
    expected = [f.pk for f in sorted(made, key=lambda f: f.due_at)]
    seen = []
    for number in (1, 2, 3):
        page = coordinator_client.get(QUEUE, {"tab": "due", "page": number}).context["page"]
        assert page.paginator.count == 5
        seen += [f.pk for f in page.object_list]
        assert all(f.inquiry.person.first_name for f in page.object_list)
    assert seen == expected


def test_the_due_tab_lists_the_most_overdue_up_to_its_cap_and_says_more_are_due(
    coordinator_client, coordinator, facility, monkeypatch
):
    import admissions.views

    monkeypatch.setattr(admissions.views, "DUE_LIST_CAP", 3)
    monkeypatch.setattr(admissions.views, "DUE_COUNT_CAP", 2)
    monkeypatch.setattr(admissions.views, "PAGE_SIZE", 2)
    made = _calls_due(coordinator, facility, minutes_ago=(50, 10, 40, 20, 30))
    most_overdue = [f.pk for f in sorted(made, key=lambda f: f.due_at)][:3]
    first = coordinator_client.get(QUEUE, {"tab": "due"})
    body = first.content.decode()
    assert first.context["page"].paginator.count == 3
    assert '<span class="badge" data-tab-count="due">2+</span>' in body
    assert 'id="due-more"' in body
    assert "The 3 most overdue calls are listed" in body
    second = coordinator_client.get(QUEUE, {"tab": "due", "page": 2}).context["page"]
    listed = [f.pk for f in first.context["page"].object_list] + [f.pk for f in second.object_list]
    assert listed == most_overdue

    FollowUp.objects.filter(pk__in=most_overdue[:2]).delete()
    body = coordinator_client.get(QUEUE, {"tab": "due"}).content.decode()
    assert 'id="due-more"' not in body  # three left: all of them are listed


def test_a_hand_off_heads_the_due_tab_before_older_overdue_calls(
    coordinator_client, coordinator, facility, monkeypatch
):
    import admissions.views

    monkeypatch.setattr(admissions.views, "DUE_LIST_CAP", 2)
    _calls_due(coordinator, facility, minutes_ago=(300, 240, 180))
    now = timezone.now()
    handoff = FollowUp.objects.create(
        inquiry=InquiryFactory(
            facility=facility,
            stage=Stage.APPROVED,
            assigned_to=coordinator,
            stage_changed_at=now - timedelta(minutes=2),
        ),
        kind=FollowUp.Kind.HANDOFF,
        due_at=now - timedelta(minutes=1),
        state=FollowUp.State.DONE,
        dedupe_key="handoff-now",
    )
    listed = coordinator_client.get(QUEUE, {"tab": "due"}).context["page"].object_list
    assert [f.pk for f in listed][0] == handoff.pk
    assert len(listed) == 2


def test_queue_bad_filter_values_do_not_fail(coordinator_client, facility):
    InquiryFactory(facility=facility)
    for params in ({"facility": "x"}, {"stage": "nope"}, {"owner": "999999"}, {"tab": "zzz"}, {"page": "-3"}):
        response = coordinator_client.get(QUEUE, params)
        assert response.status_code == 200, params


def test_queue_htmx_refresh_returns_the_results_partial(coordinator_client, facility):
    InquiryFactory(facility=facility)
    response = coordinator_client.get(QUEUE, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="queue-results"')
    assert "<html" not in body


def test_queue_needs_an_inquiry_role(outsider_client):
    assert outsider_client.get(QUEUE).status_code == 403


@pytest.mark.parametrize("rows", [3, 30])
def test_queue_query_count_does_not_grow_with_rows(
    coordinator_client, coordinator, facility, rows, django_assert_max_num_queries
):
    source = LeadSource.objects.create(name="Web", kind="website", default_facility=facility)
    for _ in range(rows):
        InquiryFactory(facility=facility, lead_source=source, assigned_to=coordinator)
    for tab in ("new", "due", "mine", "unassigned", "open"):
        with django_assert_max_num_queries(18):
            assert coordinator_client.get(QUEUE, {"tab": tab}).status_code == 200


# --- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["(727) 555-0199", "727.555.0199", "+1 727 555 0199", "7275550199"])
def test_search_by_phone_in_any_format(coordinator_client, facility, typed):
    person = PersonFactory(phone="+17275550199", first_name="Robin")
    found = InquiryFactory(facility=facility, person=person)
    InquiryFactory(facility=facility)
    response = coordinator_client.get(QUEUE, {"q": typed})
    assert [i.pk for i in response.context["page"].object_list] == [found.pk]


def test_search_by_name_and_email_includes_closed_inquiries(coordinator_client, facility):
    person = PersonFactory(first_name="Jordan", last_name="Okafor", email="j.okafor@example.org")
    closed = InquiryFactory(facility=facility, person=person, stage=Stage.CLOSED, lost_reason="declined")
    InquiryFactory(facility=facility, person=PersonFactory(first_name="Morgan", last_name="Reyes"))
    for typed in ("okafor", "Jordan Oka", "J.OKAFOR@example.org", f"#{closed.pk}"):
        rows = coordinator_client.get(QUEUE, {"q": typed}).context["page"].object_list
        assert [i.pk for i in rows] == [closed.pk], typed


def test_search_stays_within_my_facilities(coordinator_client, other_facility):
    InquiryFactory(facility=other_facility, person=PersonFactory(last_name="Hidden"))
    response = coordinator_client.get(QUEUE, {"q": "Hidden"})
    assert list(response.context["page"].object_list) == []
    assert "Nothing matches" in response.content.decode()


def test_search_results_show_the_tabs_without_counts(coordinator_client, facility):
    InquiryFactory(facility=facility)
    response = coordinator_client.get(QUEUE, {"q": "Smith"})
    body = response.content.decode()
    assert "data-tab-count" not in body
    assert 'href="?q=Smith&amp;tab=new"' in body


def test_search_with_odd_input_never_fails(coordinator_client, facility):
    InquiryFactory(facility=facility)
    for typed in ("'; DROP TABLE admissions_person; --", "%", "_", "@", "+", "((((", "x" * 500, "\x00"):
        assert coordinator_client.get(QUEUE, {"q": typed}).status_code == 200, typed
    assert Person.objects.exists()


@pytest.mark.parametrize("rows", [3, 30])
def test_search_query_count_does_not_grow_with_rows(
    coordinator_client, facility, rows, django_assert_max_num_queries
):
    for n in range(rows):
        InquiryFactory(facility=facility, person=PersonFactory(last_name=f"Sample{n}"))
    with django_assert_max_num_queries(19):
        response = coordinator_client.get(QUEUE, {"q": "Sample"})
    assert response.context["page"].paginator.count == rows


# --- quick intake ------------------------------------------------------------------------------


def intake_post(fac, **overrides):
    data = {
        "facility": fac.pk,
        "first_name": "Casey",
        "last_name": "Lindqvist",
        "phone": "(727) 555-0142",
        "email": "",
        "caller_relationship": "self",
        "consent_call": "on",
        "consent_sms": "on",
        "consent_text": "May we call or text you about your inquiry?",
        "ok_to_text": "yes",
        "ok_to_voicemail": "no",
    }
    data.update(overrides)
    return data


def test_intake_opens_a_contacted_inquiry_with_caller_and_consents(coordinator_client, coordinator, facility):
    baclofen = Substance.objects.get(code="baclofen")
    response = coordinator_client.post(INTAKE, intake_post(facility, substances=[baclofen.pk]))
    inquiry = Inquiry.objects.get()
    assert response.status_code == 302
    assert response["Location"] == page_of(inquiry)
    assert inquiry.stage == Stage.CONTACTED
    assert str(inquiry.phone) == "+17275550142"
    assert inquiry.channel == "phone"
    assert inquiry.caller is None
    assert list(inquiry.substances.all()) == [baclofen]
    assert inquiry.person.ok_to_text is True
    assert inquiry.person.ok_to_voicemail is False
    consents = ContactConsent.objects.filter(person=inquiry.person)
    assert sorted(consents.values_list("medium", flat=True)) == ["call", "sms"]
    assert all(c.captured_by == coordinator and c.consent_text for c in consents)
    assert inquiry.events.filter(kind=InquiryEvent.Kind.CALL, call_outcome="connected").exists()
    assert AuditEvent.objects.filter(action="create", object_id=str(inquiry.pk)).exists()


def test_a_family_caller_cannot_consent_for_the_person(coordinator_client, facility):
    family = {"caller_relationship": "family", "caller_name": "Pat Lindqvist"}
    response = coordinator_client.post(INTAKE, intake_post(facility, **family))
    assert response.status_code == 200
    errors = response.context["form"].errors
    for name in ("consent_sms", "consent_call", "ok_to_text"):
        assert "Only the person can agree" in " ".join(errors[name])
    assert not Inquiry.objects.exists()
    no_consent = {"consent_call": "", "consent_sms": "", "ok_to_text": ""}
    response = coordinator_client.post(INTAKE, intake_post(facility, **family, **no_consent))
    inquiry = Inquiry.objects.get()
    assert inquiry.caller.name == "Pat Lindqvist"
    assert not ContactConsent.objects.filter(person=inquiry.person).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"first_name": ""}, "first_name", "This field is required."),
        ({"phone": "", "email": ""}, "phone", "Give a phone number or an email address."),
        ({"phone": "555"}, "phone", "Enter a valid phone number."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"state": "Florida"}, "state", "two-letter"),
        ({"postal_code": "ABCDE"}, "postal_code", "five-digit"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth", "real date of birth"),
        ({"date_of_birth": "yesterday"}, "date_of_birth", "Enter a valid date."),
        ({"caller_relationship": "family", "caller_name": ""}, "caller_name", "Who is calling"),
        ({"consent_text": ""}, "consent_text", "wording"),
        ({"consent_email": "on"}, "consent_email", "needs an email"),
        ({"caller_relationship": "landlord"}, "caller_relationship", "Select a valid choice"),
        ({"facility": "99999"}, "facility", "Select a valid choice"),
        ({"substances": ["999999"]}, "substances", "Select a valid choice"),
        ({"ok_to_text": "maybe"}, "ok_to_text", "Select a valid choice"),
    ],
)
def test_intake_errors_show_next_to_the_field_and_save_nothing(
    coordinator_client, facility, overrides, field, message
):
    response = coordinator_client.post(INTAKE, intake_post(facility, **overrides))
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors.get(field, []))
    assert message.lower() in errors.lower()
    assert 'class="field-error"' in response.content.decode()
    assert not Inquiry.objects.exists()


def test_intake_refuses_a_second_open_inquiry_for_the_same_phone(coordinator_client, facility):
    existing = InquiryFactory(facility=facility, person=PersonFactory(phone="+17275550142"))
    response = coordinator_client.post(INTAKE, intake_post(facility))
    assert response.status_code == 200
    assert f"#{existing.pk}" in " ".join(response.context["form"].errors["phone"])
    assert Inquiry.objects.count() == 1


def test_intake_cannot_pick_another_facility(coordinator_client, other_facility):
    response = coordinator_client.post(INTAKE, intake_post(other_facility))
    assert "facility" in response.context["form"].errors
    assert not Inquiry.objects.exists()


def test_duplicate_warning_as_the_phone_is_typed(coordinator_client, facility, other_facility):
    mine = InquiryFactory(facility=facility, person=PersonFactory(phone="+17275550177", first_name="Quinn"))
    url = reverse("admissions:intake-duplicates")
    body = coordinator_client.get(url, {"phone": "727-555-0177"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Possible duplicate" in body
    assert f"#{mine.pk} Quinn" in body
    assert coordinator_client.get(url, {"phone": "727-555-01"}).content.decode().strip() == ""
    InquiryFactory(
        facility=other_facility, person=PersonFactory(email="elsewhere@example.org", first_name="Secret")
    )
    body = coordinator_client.get(url, {"email": "Elsewhere@example.org"}).content.decode()
    assert body.strip() == ""  # another facility's inquiry: not a word (tests/privacy/test_cross_facility.py)


# --- the inquiry page -------------------------------------------------------------------------


def test_inquiry_page_shows_the_header_and_audits_the_read(coordinator_client, coordinator, facility):
    inquiry = InquiryFactory(
        facility=facility, person=PersonFactory(first_name="Avery", last_name="Stone", phone="+17275550133")
    )
    response = coordinator_client.get(page_of(inquiry))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Avery Stone" in body
    assert 'href="tel:+17275550133"' in body
    assert "(727) 555-0133" in body
    assert AuditEvent.objects.filter(action="view", object_id=str(inquiry.pk), actor=coordinator).count() == 1


def test_inquiry_page_of_another_facility_is_404(coordinator_client, other_facility):
    inquiry = InquiryFactory(facility=other_facility)
    assert coordinator_client.get(page_of(inquiry)).status_code == 404
    assert coordinator_client.post(act(inquiry, "note"), {"body": "x"}).status_code == 404
    assert not InquiryEvent.objects.filter(inquiry=inquiry).exists()


def test_red_flag_banner_cannot_be_dismissed(coordinator_client, facility):
    inquiry = InquiryFactory(facility=facility, has_red_flag=True)
    body = coordinator_client.get(page_of(inquiry)).content.decode()
    assert 'id="red-flag"' in body
    assert 'role="alert"' in body
    banner = body.split('id="red-flag"')[1].split("</div>")[0]
    assert "<button" not in banner


def test_vob_specialist_sees_insurance_but_not_the_person(facility):
    client = Client()
    login_verified(client, UserFactory(username="vob1", role=Role.VOB_SPECIALIST, facilities=[facility]))
    inquiry = InquiryFactory(facility=facility, person=PersonFactory(first_name="Privacy"))
    body = client.get(page_of(inquiry)).content.decode()
    assert "Privacy" not in body
    assert f"Person #{inquiry.person_id}" in body
    assert 'id="action-insurance"' in body
    assert 'id="action-stage"' not in body
    assert client.post(act(inquiry, "stage"), {"to": "contacted"}).status_code == 403


@pytest.mark.parametrize("events", [3, 30])
def test_inquiry_page_query_count_does_not_grow_with_the_timeline(
    coordinator_client, coordinator, facility, events, django_assert_max_num_queries
):
    inquiry = InquiryFactory(facility=facility, assigned_to=coordinator)
    for n in range(events):
        InquiryEvent.objects.create(
            inquiry=inquiry, kind=InquiryEvent.Kind.NOTE, actor=coordinator, body=f"n{n}"
        )
    with django_assert_max_num_queries(24):
        assert coordinator_client.get(page_of(inquiry)).status_code == 200


def test_note_and_call_land_on_the_timeline(coordinator_client, facility):
    inquiry = InquiryFactory(facility=facility)
    InquiryEvent.objects.create(
        inquiry=inquiry, kind=InquiryEvent.Kind.NOTE, actor_label="follow-up", body="Alert"
    )
    InquiryEvent.objects.create(inquiry=inquiry, kind=InquiryEvent.Kind.CREATED)
    assert (
        coordinator_client.post(
            act(inquiry, "note"), {"body": "Asked about <b>visiting</b> hours"}
        ).status_code
        == 302
    )
    coordinator_client.post(
        act(inquiry, "call"), {"direction": "outbound", "outcome": "no_answer", "note": ""}
    )
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CONTACT_ATTEMPTED
    body = coordinator_client.get(page_of(inquiry)).content.decode()
    assert "Asked about &lt;b&gt;visiting&lt;/b&gt; hours" in body
    assert "Outbound call · No answer" in body


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("note", {"body": "   "}, "body"),
        ("call", {"direction": "sideways", "outcome": "no_answer"}, "direction"),
        ("call", {"direction": "outbound"}, "outcome"),
        ("callback", {"due_at": "2001-01-01T10:00"}, "due_at"),
        ("callback", {"due_at": "soon"}, "due_at"),
        ("stage", {"to": "closed"}, "lost_reason"),
        ("stage", {"to": "closed", "lost_reason": "bored"}, "lost_reason"),
        ("stage", {"to": "referred_out"}, "destination"),
        ("stage", {"to": "admitted"}, "to"),
        ("stage", {"to": "crisis_routed"}, "reason"),
        ("assign", {"to": "999999"}, "to"),
        ("hold", {"program": "", "until": "2001-01-01T10:00"}, "program"),
        ("hold", {"program": "abc", "until": "x"}, "until"),
        ("schedule", {"admission_date": "2001-01-01"}, "admission_date"),
        ("merge", {"into": "0"}, "into"),
        ("merge", {"into": "99999999"}, "into"),
        ("message", {"medium": "sms"}, "template"),
        ("message", {"medium": "fax", "body": "hi"}, "medium"),
        ("insurance", {"vob_status": "maybe"}, "vob_status"),
        ("insurance", {"vob_status": "requested", "deductible_remaining": "lots"}, "deductible_remaining"),
        ("insurance", {"vob_status": "viable", "deductible_remaining": "-100"}, "deductible_remaining"),
        ("insurance", {"vob_status": "viable", "out_of_pocket_remaining": "-1"}, "out_of_pocket_remaining"),
    ],
)
def test_action_errors_show_next_to_the_field_and_change_nothing(
    coordinator_client, facility, name, data, field
):
    inquiry = InquiryFactory(facility=facility)
    before = InquiryEvent.objects.count()
    response = coordinator_client.post(act(inquiry, name), data)
    assert response.status_code == 200
    bound = actions_of(response)[name]
    assert field in bound.errors, bound.errors
    assert response.context["open_action"] == name
    assert InquiryEvent.objects.count() == before
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.NEW


def test_unknown_action_is_404_and_get_is_405(coordinator_client, facility):
    inquiry = InquiryFactory(facility=facility)
    assert coordinator_client.post(act(inquiry, "explode"), {}).status_code == 404
    assert coordinator_client.get(act(inquiry, "note")).status_code == 405


def test_close_with_lost_reason_and_refer_out(coordinator_client, facility):
    closing = InquiryFactory(facility=facility)
    coordinator_client.post(act(closing, "stage"), {"to": "closed", "lost_reason": "declined"})
    closing.refresh_from_db()
    assert (closing.stage, closing.lost_reason) == (Stage.CLOSED, "declined")
    referred = InquiryFactory(facility=facility)
    coordinator_client.post(
        act(referred, "stage"), {"to": "referred_out", "destination": "County crisis center"}
    )
    referred.refresh_from_db()
    assert (referred.stage, referred.referred_out_to) == (Stage.REFERRED_OUT, "County crisis center")


def test_callback_shows_in_my_due_list_when_due(coordinator_client, coordinator, facility):
    inquiry = InquiryFactory(facility=facility, stage=Stage.CONTACTED, assigned_to=coordinator)
    when = timezone.localtime() + timedelta(hours=2)
    response = coordinator_client.post(
        act(inquiry, "callback"), {"due_at": when.strftime("%Y-%m-%dT%H:%M"), "note": "After work"}
    )
    assert response.status_code == 302
    followup = FollowUp.objects.get(inquiry=inquiry, kind=FollowUp.Kind.CALLBACK)
    assert followup.channel == FollowUp.Channel.TASK
    FollowUp.objects.filter(pk=followup.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    rows = coordinator_client.get(QUEUE, {"tab": "due"}).context["page"].object_list
    assert [f.pk for f in rows] == [followup.pk]


def test_assign_and_merge(coordinator_client, coordinator, facility):
    inquiry = InquiryFactory(facility=facility)
    coordinator_client.post(act(inquiry, "assign"), {"to": coordinator.pk})
    inquiry.refresh_from_db()
    assert inquiry.assigned_to == coordinator
    # another record of the same caller: their number on the person, none on this inquiry
    original = InquiryFactory(
        facility=facility, stage=Stage.CONTACTED, person=PersonFactory(phone=inquiry.person.phone), phone=""
    )
    coordinator_client.post(act(inquiry, "merge"), {"into": original.pk})
    inquiry.refresh_from_db()
    assert (inquiry.stage, inquiry.duplicate_of) == (Stage.DUPLICATE, original)
    assert original.events.filter(kind=InquiryEvent.Kind.TOUCH).exists()


def test_merging_into_a_stranger_asks_whether_it_is_the_same_person(coordinator_client, facility):
    inquiry = InquiryFactory(
        facility=facility, person=PersonFactory(phone="+17045550101", email="a@example.org")
    )
    stranger = InquiryFactory(
        facility=facility,
        stage=Stage.CONTACTED,
        person=PersonFactory(phone="+17045550199", email="b@example.org"),
    )
    response = coordinator_client.post(act(inquiry, "merge"), {"into": stranger.pk})
    assert response.status_code == 200
    assert "same_person" in actions_of(response)["merge"].errors
    inquiry.refresh_from_db()
    assert inquiry.stage != Stage.DUPLICATE

    shared_email = InquiryFactory(facility=facility, person=PersonFactory(email=" A@Example.org"))
    assert coordinator_client.post(act(shared_email, "merge"), {"into": inquiry.pk}).status_code == 302

    coordinator_client.post(act(inquiry, "merge"), {"into": stranger.pk, "same_person": "on"})
    inquiry.refresh_from_db()
    assert (inquiry.stage, inquiry.duplicate_of) == (Stage.DUPLICATE, stranger)


def test_insurance_request_moves_a_prescreened_inquiry_to_vob_and_fills_the_vob_queue(
    facility, coordinator_client
):
    inquiry = InquiryFactory(facility=facility, stage=Stage.PRESCREENED)
    payer = PayerFactory(name="Aetna")
    response = coordinator_client.post(
        act(inquiry, "insurance"), {"payer": payer.pk, "member_id": "W123456789", "vob_status": "requested"}
    )
    assert response.status_code == 302
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.INSURANCE_VERIFICATION
    policy = InsurancePolicy.objects.get(inquiry=inquiry)
    assert policy.vob_requested_at is not None
    event = inquiry.events.get(kind=InquiryEvent.Kind.INSURANCE)
    assert "W123456789" not in str(event.data)
    vob = Client()
    login_verified(vob, UserFactory(username="vob2", role=Role.VOB_SPECIALIST, facilities=[facility]))
    body = vob.get(reverse("admissions:vob-queue")).content.decode()
    assert "W123456789" in body


def test_hold_schedule_and_admit(coordinator_client, facility):
    program = ProgramFactory(facility=facility, name="Residential", capacity=1)
    inquiry = InquiryFactory(facility=facility, stage=Stage.APPROVED)
    until = (timezone.localtime() + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M")
    assert (
        coordinator_client.post(act(inquiry, "hold"), {"program": program.pk, "until": until}).status_code
        == 302
    )
    assert CapacityHold.objects.filter(program=program, released_at__isnull=True).count() == 1
    other = InquiryFactory(facility=facility, stage=Stage.APPROVED)
    response = coordinator_client.post(act(other, "hold"), {"program": program.pk, "until": until})
    assert response.status_code == 200
    assert "No bed" in " ".join(actions_of(response)["hold"].errors["program"])
    today = timezone.localdate().isoformat()
    coordinator_client.post(act(inquiry, "schedule"), {"program": program.pk, "admission_date": today})
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.ADMISSION_SCHEDULED
    coordinator_client.post(act(inquiry, "admit"), {"program": program.pk})
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.ADMITTED
    assert Census.objects.get(program=program).occupied == 1


def test_text_without_consent_is_refused_with_the_reason(coordinator_client, facility):
    inquiry = InquiryFactory(facility=facility, stage=Stage.CONTACTED)
    response = coordinator_client.post(act(inquiry, "message"), {"medium": "sms", "body": "Hi, call us back"})
    bound = actions_of(response)["message"]
    assert "not consented" in " ".join(bound.errors["body"])
    assert not FollowUp.objects.filter(inquiry=inquiry, kind=FollowUp.Kind.COORDINATOR_TEXT).exists()


def test_templated_text_with_consent_is_queued(coordinator_client, facility):
    person = PersonFactory(phone="+17275550155", ok_to_text=True, state="FL", time_zone="UTC")
    inquiry = InquiryFactory(facility=facility, person=person, stage=Stage.CONTACTED)
    ContactConsent.objects.create(
        person=person,
        medium="sms",
        address="+17275550155",
        source="test",
        consent_text="yes",
        captured_at=timezone.now(),
    )
    MessageTemplate.objects.get_or_create(
        facility=None,
        code="checkin-sms",
        defaults={"medium": "sms", "body": "Hi {{ first_name }}, {{ sender }} here."},
    )
    response = coordinator_client.post(act(inquiry, "message"), {"medium": "sms", "template": "checkin-sms"})
    assert response.status_code == 302
    followup = FollowUp.objects.get(inquiry=inquiry, kind=FollowUp.Kind.COORDINATOR_TEXT)
    assert (followup.channel, followup.template_code) == ("sms", "checkin-sms")


def test_message_templates_are_offered_by_what_they_say_grouped_by_medium(coordinator_client, facility):
    inquiry = InquiryFactory(facility=facility, stage=Stage.CONTACTED)
    MessageTemplate.objects.create(
        facility=None, code="hello-test-sms", medium="sms", body="Hi {{ first_name }},   checking in."
    )
    MessageTemplate.objects.create(
        facility=None, code="hello-test-email", medium="email", subject="Your call with us", body="Hello."
    )
    page = coordinator_client.get(reverse("admissions:inquiry", args=[inquiry.pk])).content.decode()
    assert '<option value="hello-test-sms">Hi [first name], checking in.</option>' in page
    assert '<optgroup label="Email">' in page
    assert '<option value="hello-test-email">Your call with us</option>' in page
    assert "(email)" not in page
    assert "(text message)" not in page
    assert "{{ sender }}" not in page  # a variable reads as words


def test_text_naming_a_substance_is_refused(coordinator_client, facility):
    person = PersonFactory(phone="+17275550156", ok_to_text=True)
    inquiry = InquiryFactory(facility=facility, person=person, stage=Stage.CONTACTED)
    ContactConsent.objects.create(
        person=person,
        medium="sms",
        address="+17275550156",
        source="test",
        consent_text="yes",
        captured_at=timezone.now(),
    )
    response = coordinator_client.post(
        act(inquiry, "message"), {"medium": "sms", "body": "About your detox bed"}
    )
    bound = actions_of(response)["message"]
    assert "detox" in " ".join(bound.errors["body"])


def test_csrf_is_enforced_on_actions(coordinator, facility):
    client = Client(enforce_csrf_checks=True)
    login_verified(client, coordinator)
    inquiry = InquiryFactory(facility=facility)
    assert client.post(act(inquiry, "note"), {"body": "x"}).status_code == 403
    assert not InquiryEvent.objects.filter(inquiry=inquiry).exists()


def test_pages_have_no_inline_script_or_style(coordinator_client, facility):
    inquiry = InquiryFactory(facility=facility)
    for url in (QUEUE, INTAKE, page_of(inquiry), reverse("admissions:vob-queue")):
        response = coordinator_client.get(url)
        body = response.content.decode()
        assert response.status_code in (200, 403), url
        assert "<script>" not in body, url
        assert "style=" not in body, url
        for chunk in body.split("<script")[1:]:
            assert chunk.lstrip().startswith("src=") or ' src="' in chunk.split(">")[0], url


def test_inquiry_page_links_the_pre_screen_and_the_reviewer_sign_off(coordinator_client, clinician, facility):
    inquiry = InquiryFactory(facility=facility, stage=Stage.CONTACTED)
    body = coordinator_client.get(page_of(inquiry)).content.decode()
    assert reverse("screening_ui:screening", args=[inquiry.pk]) in body
    assert "Clinical review" not in body.split("</nav>")[0]
    reviewer = Client()
    login_verified(reviewer, clinician)
    nav = reviewer.get(page_of(inquiry)).content.decode().split("</nav>")[0]
    assert reverse("screening_ui:review-queue") in nav


def test_approval_needs_a_clinician_sign_off_first(coordinator_client, facility):
    inquiry = InquiryFactory(facility=facility, stage=Stage.CLINICAL_REVIEW)
    response = coordinator_client.post(act(inquiry, "stage"), {"to": "approved"})
    assert "signs off" in " ".join(actions_of(response)["stage"].errors["to"])
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CLINICAL_REVIEW
    Inquiry.objects.filter(pk=inquiry.pk).update(approved_level=LevelRef.get("3.7-WM"))
    # signed off, benefits not verified: the VOB (or self-pay) first, as the next step says
    response = coordinator_client.post(act(inquiry, "stage"), {"to": "approved"})
    assert "request the VOB" in " ".join(actions_of(response)["stage"].errors["to"])
    InsurancePolicy.objects.create(inquiry=inquiry, vob_status=InsurancePolicy.VobStatus.VIABLE)
    assert coordinator_client.post(act(inquiry, "stage"), {"to": "approved"}).status_code == 302
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.APPROVED


def test_replacing_a_hold_is_on_the_timeline(coordinator_client, facility):
    first = ProgramFactory(facility=facility, name="Residential North", capacity=2)
    second = ProgramFactory(facility=facility, name="Withdrawal East", capacity=2)
    inquiry = InquiryFactory(facility=facility, stage=Stage.APPROVED)
    until = (timezone.localtime() + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M")
    coordinator_client.post(act(inquiry, "hold"), {"program": first.pk, "until": until})
    coordinator_client.post(act(inquiry, "hold"), {"program": second.pk, "until": until})
    bodies = list(inquiry.events.order_by("pk").values_list("kind", "body"))
    assert bodies[0][0] == "capacity_held"
    assert "Residential North until" in bodies[0][1]
    assert bodies[1] == (
        "capacity_released",
        "Released the hold in Residential North; a new hold replaces it.",
    )
    assert bodies[2][0] == "capacity_held"
    assert "Withdrawal East" in bodies[2][1]


def test_the_due_badge_stops_at_99_and_the_due_tab_still_counts_them_all(
    coordinator_client, coordinator, facility
):
    inquiries = [
        InquiryFactory(facility=facility, stage=Stage.CONTACTED, assigned_to=coordinator) for _ in range(101)
    ]
    due_at = timezone.now() - timedelta(minutes=5)
    FollowUp.objects.bulk_create(
        FollowUp(
            inquiry=i, kind=FollowUp.Kind.CALL_TASK, due_at=due_at, state="done", dedupe_key=f"cap-{i.pk}"
        )
        for i in inquiries
    )
    response = coordinator_client.get(QUEUE, {"tab": "due"})
    assert '<span class="badge" data-tab-count="due">99+</span>' in response.content.decode()
    assert response.context["page"].paginator.count == 101
    assert response.context["page"].paginator.num_pages == 3


def test_times_on_an_inquiry_are_typed_and_shown_in_its_facility_zone(facility, db):
    phoenix = FacilityFactory(
        name="Desert Scottsdale", state="AZ", city="Scottsdale", time_zone="America/Phoenix"
    )
    user = UserFactory(username="two-zones", role=Role.COORDINATOR, facilities=[facility, phoenix])
    client = Client()
    login_verified(client, user)
    inquiry = InquiryFactory(facility=phoenix, stage=Stage.CONTACTED)
    day = (timezone.now() + timedelta(days=2)).astimezone(ZoneInfo("America/Phoenix")).date()
    response = client.post(
        act(inquiry, "callback"), {"due_at": f"{day.isoformat()}T10:00", "note": "after work"}
    )
    assert response.status_code == 302
    followup = FollowUp.objects.get(inquiry=inquiry, kind=FollowUp.Kind.CALLBACK)
    local = followup.due_at.astimezone(ZoneInfo("America/Phoenix"))
    assert (local.date(), local.hour, local.minute) == (day, 10, 0)
    shown = [str(m) for m in client.get(page_of(inquiry)).context["messages"]]
    assert any("10:00 AM MST" in m for m in shown), shown


def test_the_callers_own_words_show_on_the_inquiry_to_roles_that_read_clinical_answers(
    coordinator_client, vob_specialist, facility
):
    inquiry = InquiryFactory(facility=facility, message="Call me after 5pm <b>please</b>\nI am ready")
    body = coordinator_client.get(page_of(inquiry)).content.decode()
    assert "In their words:</strong> Call me after 5pm &lt;b&gt;please&lt;/b&gt;<br>I am ready" in body
    vob = Client()
    login_verified(vob, vob_specialist)
    assert "Call me after 5pm" not in vob.get(page_of(inquiry)).content.decode()
