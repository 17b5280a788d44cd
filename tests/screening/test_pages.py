"""Pre-screen pages: the screen with its live panel, the clinical review queue, sign-off, override.

Every bad input is a page with the error next to its field (never a 500); roles are 403,
other facilities 404; reads are audited; queries do not grow with rows.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from admissions.models import Inquiry
from admissions.pipeline import Stage
from admissions.screening.forms import NONE_OF_THESE
from admissions.screening.models import Screening
from admissions.screening.services import screening_form_current, screening_save
from crm.models import AuditEvent
from crm.roles import Role
from tests.factories import FacilityFactory, InquiryFactory, LevelRef, PersonFactory, UserFactory
from tests.screening.builders import all_clear, screen, use
from tests.screening.conftest import bulk_programs
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

BACLOFEN = screen(use("baclofen", 30, 80, "mg", prescribed=True), withdrawal={"symptoms_now": True})
# No flag; a stated preference for residential raises the level to 3.1 (person-centred).
PREFERS_RESIDENTIAL = screen(use("cannabis", 10, 1, "joints"), readiness={"preferred_setting": "residential"})


def _screening_url(inquiry_id: int) -> str:
    return reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry_id})


def _signoff_url(inquiry_id: int) -> str:
    return reverse("screening_ui:signoff", kwargs={"inquiry_id": inquiry_id})


def _override_url(inquiry_id: int) -> str:
    return reverse("screening_ui:match-override", kwargs={"inquiry_id": inquiry_id})


QUEUE_URL = "/review/"


def _form_value(value: Any) -> Any:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ["", *value] if value else ["", NONE_OF_THESE]
    return str(value)


def form_data(answers: dict[str, Any]) -> dict[str, Any]:
    """Answers as the browser posts the pre-screen form (one input per dotted path)."""
    data: dict[str, Any] = {}
    for section, items in answers.items():
        for code, value in items.items():
            if section == "substances":
                for item, cell in value.items():
                    data[f"substances.{code}.{item}"] = _form_value(cell)
            else:
                data[f"{section}.{code}"] = _form_value(value)
    return data


def _htmx(client: Client, url: str, data: dict[str, Any]):
    return client.post(url, data, HTTP_HX_REQUEST="true")


def _audits(action: str, object_type: str) -> int:
    return AuditEvent.objects.filter(action=action, object_type=object_type).count()


def _error_slot(body: str, element_id: str) -> str:
    match = re.search(rf'id="{re.escape(element_id)}">([^<]*)<', body)
    assert match, f"no error slot {element_id}"
    return match.group(1)


def _client(user) -> Client:
    client = Client()
    login_verified(client, user)
    return client


# --- the pre-screen page ---------------------------------------------------------------------


def test_new_screen_renders_every_section_as_labelled_fields(catalogue, inquiry, coordinator_client):
    response = coordinator_client.get(_screening_url(inquiry.pk))

    assert response.status_code == 200
    body = response.content.decode()
    for title in ("Emergency now (ask first)", "What they use", "Suicide screen", "Insurance or self-pay"):
        assert title in body
    # a bool item is a labelled radio group; a number has its range; a choice its options
    assert "<legend>Right now, has the person taken too much" in body
    assert 'name="emergency.overdose_now" value="yes"' in body
    assert 'name="substances.baclofen.days_used_30" id="q-substances-baclofen-days_used_30"' in body
    assert 'min="0" max="30"' in body
    assert '<option value="not_applicable">Not applicable</option>' in body
    # the grid: one checkbox per substance with its own questions, and gabapentinoids ask which one
    assert 'name="use.substances_30d" value="baclofen"' in body
    assert 'name="substances.gabapentinoids.agent"' in body
    assert 'name="substances.alcohol.agent"' not in body
    # follow-ups sit under their question
    assert 'name="suicide.method"' in body
    assert f'hx-post="/inquiries/{inquiry.pk}/screening/"' in body
    assert 'hx-trigger="change delay:300ms"' in body
    assert "csrfmiddlewaretoken" in body
    assert "Nothing saved yet" in body
    assert not Screening.objects.exists()
    assert _audits("view", "admissions.inquiry") == 1


def test_pages_have_no_inline_script_or_style(catalogue, inquiry, coordinator, clinician_client):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    for url in (_screening_url(inquiry.pk), _signoff_url(inquiry.pk), QUEUE_URL):
        body = clinician_client.get(url).content.decode()
        assert " style=" not in body, url
        assert "<style" not in body, url
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), url
        assert re.search(r"\son\w+=", body) is None, url


def test_baclofen_caller_sees_medically_managed_care_and_the_red_flag_banner(
    catalogue, inquiry, coordinator_client, coordinator
):
    response = coordinator_client.post(_screening_url(inquiry.pk), form_data(BACLOFEN))

    assert response.status_code == 302
    assert response["Location"] == _screening_url(inquiry.pk)
    screening = Screening.objects.get(inquiry=inquiry)
    assert screening.answers["substances"]["baclofen"]["amount_per_day"] == 80
    assert screening.complete is True
    assert screening.provisional_level.code == "3.7-WM"
    assert screening.saved_by == coordinator
    assert Inquiry.objects.get(pk=inquiry.pk).stage == Stage.CLINICAL_REVIEW

    page = coordinator_client.get(_screening_url(inquiry.pk))
    body = page.content.decode()
    assert 'role="alert"' in body
    assert "Sedative withdrawal risk." in body
    assert "Medically managed withdrawal (3.7-WM) or hospital only" in body
    assert "Daily baclofen 80 mg; stopping abruptly can cause seizures, delirium" in body
    assert "call <strong>911</strong>" in body
    assert 'class="sc-level-code">3.7-WM</strong>' in body
    assert "Inpatient withdrawal management" in body or "withdrawal management" in body
    matches = body[body.index('id="program-matches"') :]
    assert matches.index("Tampa Medical Detox") < matches.index("Asheville Detox")
    assert "level 2.5 below required 3.7" in body
    assert "Pre-screen saved." in body
    # the banner has no control that could close it
    banner = body[
        body.index('id="red-flag-banner"') : body.index("</section>", body.index('id="red-flag-banner"'))
    ]
    assert "<button" not in banner
    assert 'value="yes" checked' in body


def test_htmx_change_saves_and_returns_the_live_panel(catalogue, inquiry, coordinator_client):
    response = _htmx(coordinator_client, _screening_url(inquiry.pk), form_data(BACLOFEN))

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="screening-panel"')
    assert "<html" not in body
    assert 'id="red-flag-banner" hx-swap-oob="true"' in body
    assert "Sedative withdrawal risk" in body
    assert 'class="sc-level-code">3.7-WM</strong>' in body
    assert "Tampa Medical Detox" in body
    assert 'hx-swap-oob="innerHTML:#screening-form .field-error"' in body
    assert 'id="save-status"' in body
    assert re.search(r"Saved at \d+:\d\d:\d\d [AP]M E[SD]T\.", body)  # the facility's zone, named
    assert Screening.objects.get(inquiry=inquiry).provisional_level.code == "3.7-WM"


def test_partial_save_then_resume_shows_answers_and_what_is_missing(catalogue, inquiry, coordinator_client):
    response = _htmx(
        coordinator_client,
        _screening_url(inquiry.pk),
        {"emergency.overdose_now": "no", "medical.pregnant": "no"},
    )
    assert response.status_code == 200
    assert "safety questions not answered yet" in response.content.decode()
    screening = Screening.objects.get(inquiry=inquiry)
    assert screening.answers == {"emergency": {"overdose_now": False}, "medical": {"pregnant": "no"}}
    assert screening.complete is False

    page = coordinator_client.get(_screening_url(inquiry.pk)).content.decode()
    assert 'name="emergency.overdose_now" value="no" checked' in page
    assert '<option value="no" selected>No</option>' in page
    assert 'href="#q-emergency-seizure_now"' in page


def test_a_blank_answer_clears_it(catalogue, inquiry, coordinator, coordinator_client):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    response = coordinator_client.post(_screening_url(inquiry.pk), {"medical.pregnant": ""})
    assert response.status_code == 302
    screening = Screening.objects.get(inquiry=inquiry)
    assert "pregnant" not in screening.answers["medical"]
    assert screening.complete is False


def test_follow_ups_are_cleared_when_their_question_is_answered_no(catalogue, inquiry, coordinator_client):
    data = form_data(all_clear())
    data |= {"suicide.thoughts": "no", "suicide.method": "yes", "suicide.plan": "yes"}

    assert coordinator_client.post(_screening_url(inquiry.pk), data).status_code == 302

    screening = Screening.objects.get(inquiry=inquiry)
    assert "method" not in screening.answers["suicide"]
    assert screening.safety_flags == []


def test_unticking_a_substance_clears_its_questions(catalogue, inquiry, coordinator, coordinator_client):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    data = form_data(BACLOFEN) | {"use.substances_30d": ["", NONE_OF_THESE]}

    assert coordinator_client.post(_screening_url(inquiry.pk), data).status_code == 302

    screening = Screening.objects.get(inquiry=inquiry)
    assert screening.answers["use"] == {"substances_30d": []}
    assert "substances" not in screening.answers
    assert screening.safety_flags == []


BAD_INPUTS = [
    (
        {"substances.alcohol.days_used_30": "lots"},
        "err-substances-alcohol-days_used_30",
        "Must be a whole number.",
    ),
    ({"substances.alcohol.days_used_30": "31"}, "err-substances-alcohol-days_used_30", "Must be at most 30."),
    (
        {"substances.alcohol.days_used_30": "9" * 5000},
        "err-substances-alcohol-days_used_30",
        "Must be a whole",
    ),
    (
        {"substances.alcohol.amount_per_day": "-1"},
        "err-substances-alcohol-amount_per_day",
        "Must be at least 0.",
    ),
    (
        {"substances.alcohol.amount_per_day": "nan"},
        "err-substances-alcohol-amount_per_day",
        "Must be a finite",
    ),
    (
        {"substances.alcohol.amount_per_day": "a lot"},
        "err-substances-alcohol-amount_per_day",
        "Must be a number.",
    ),
    ({"substances.alcohol.unit": "buckets"}, "err-substances-alcohol-unit", "Choose one of: mg, drinks"),
    (
        {"substances.alcohol.last_use": "yesterday"},
        "err-substances-alcohol-last_use",
        "Must be a date and time",
    ),
    (
        {"medical.pregnant": "maybe"},
        "err-medical-pregnant",
        "Choose one of: yes, no, unsure, not_applicable.",
    ),
    ({"emergency.overdose_now": "perhaps"}, "err-emergency-overdose_now", "Must be true or false."),
    (
        {"insurance.subscriber_dob": "31/02/2020"},
        "err-insurance-subscriber_dob",
        "Must be a date as YYYY-MM-DD.",
    ),
    ({"insurance.payer_id": "987654"}, "err-insurance-payer_id", "No payer with id 987654."),
    ({"insurance.payer_id": "0"}, "err-insurance-payer_id", "Must be at least 1."),
    ({"logistics.state": "Florida"}, "err-logistics-state", "At most 2 characters."),
    ({"logistics.age": "121"}, "err-logistics-age", "Must be at most 120."),
    ({"logistics.latitude": "91"}, "err-logistics-latitude", "Must be at most 90."),
    ({"logistics.specialties_wanted": "vet$, x"}, "err-logistics-specialties_wanted", "lower-case codes"),
    ({"use.substances_30d": ["", "glue"]}, "err-use-substances_30d", "Must be a list of: alcohol"),
    ({"use.substances_30d": ["", "alcohol", NONE_OF_THESE]}, "err-use-substances_30d", "Tick one of"),
    ({"withdrawal.mat_now": ["", "heroin"]}, "err-withdrawal-mat_now", "Must be a list of: methadone"),
]


@pytest.mark.parametrize(("data", "slot", "message"), BAD_INPUTS)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_saved(
    data, slot, message, catalogue, inquiry, coordinator_client
):
    response = coordinator_client.post(
        _screening_url(inquiry.pk), {"use.substances_30d": ["", "alcohol"]} | data
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert message in _error_slot(body, slot)
    assert "Not saved" in body
    assert not Screening.objects.exists()
    assert Inquiry.objects.get(pk=inquiry.pk).stage == Stage.CONTACTED


@pytest.mark.parametrize(("data", "slot", "message"), BAD_INPUTS[:4])
def test_bad_input_over_htmx_fills_the_error_slot_out_of_band(
    data, slot, message, catalogue, inquiry, coordinator_client
):
    response = _htmx(
        coordinator_client, _screening_url(inquiry.pk), {"use.substances_30d": ["", "alcohol"]} | data
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert re.search(rf'<div hx-swap-oob="innerHTML:#{slot}">[^<]*{re.escape(message)}', body)
    assert "Not saved: 1 answer to fix" in body
    assert not Screening.objects.exists()


def test_bad_input_keeps_the_other_typed_answers_on_the_page(catalogue, inquiry, coordinator_client):
    response = coordinator_client.post(
        _screening_url(inquiry.pk),
        {
            "use.substances_30d": ["", "alcohol"],
            "substances.alcohol.days_used_30": "lots",
            "logistics.state": "FL",
        },
    )
    body = response.content.decode()
    assert (
        'name="substances.alcohol.days_used_30" id="q-substances-alcohol-days_used_30" value="lots"' in body
    )
    assert 'value="FL"' in body
    assert 'name="use.substances_30d" value="alcohol" id="q-use-substances_30d-alcohol" checked' in body


def test_typed_answers_shown_back_are_escaped(catalogue, inquiry, coordinator_client):
    hostile = '"><script>alert(1)</script><b x="'
    response = coordinator_client.post(
        _screening_url(inquiry.pk),
        {
            "use.substances_30d": ["", "alcohol", hostile],
            "substances.alcohol.days_used_30": hostile,
            "logistics.state": hostile,
            "insurance.payer_id": hostile,
        },
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in body
    assert '<b x="' not in body
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;b x=&quot;"' in body
    assert not Screening.objects.exists()


def test_unknown_fields_and_an_empty_post_change_nothing(catalogue, inquiry, coordinator_client):
    response = coordinator_client.post(
        _screening_url(inquiry.pk), {"nothing.here": "1", "emergency.nope": "yes"}
    )
    assert response.status_code == 200
    assert not Screening.objects.exists()
    assert _htmx(coordinator_client, _screening_url(inquiry.pk), {}).status_code == 200
    assert not Screening.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(catalogue, inquiry, coordinator):
    client = Client(enforce_csrf_checks=True)
    login_verified(client, coordinator)
    response = client.post(_screening_url(inquiry.pk), form_data(BACLOFEN))
    assert response.status_code == 403
    assert not Screening.objects.exists()


@pytest.mark.parametrize("who", ["vob_client", "marketing_client", "outsider_client"])
def test_roles_without_screening_access_get_403(who, request, catalogue, inquiry, coordinator):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    client = request.getfixturevalue(who)
    before = Screening.objects.get().answers

    assert client.get(_screening_url(inquiry.pk)).status_code == 403
    assert client.post(_screening_url(inquiry.pk), {"medical.pregnant": "yes"}).status_code == 403
    assert _htmx(client, _screening_url(inquiry.pk), {"medical.pregnant": "yes"}).status_code == 403

    assert Screening.objects.get().answers == before
    assert _audits("view", "admissions.screening") == 0


@pytest.mark.parametrize("who", ["clinician_client", "manager_client"])
def test_clinicians_and_managers_can_screen(who, request, catalogue, inquiry):
    client = request.getfixturevalue(who)
    assert client.get(_screening_url(inquiry.pk)).status_code == 200
    assert client.post(_screening_url(inquiry.pk), form_data(BACLOFEN)).status_code == 302


def test_anonymous_is_sent_to_sign_in(inquiry):
    response = Client().get(_screening_url(inquiry.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert Client().post(_screening_url(inquiry.pk), {"medical.pregnant": "yes"}).status_code == 302
    assert not Screening.objects.exists()


def test_an_expired_session_over_htmx_sends_the_whole_page_to_sign_in(inquiry):
    response = Client().post(
        _screening_url(inquiry.pk),
        {"medical.pregnant": "yes"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{_screening_url(inquiry.pk)}",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/login/?next=/inquiries/{inquiry.pk}/screening/"
    assert not Screening.objects.exists()


def test_another_facilitys_inquiry_is_404(catalogue, inquiry, coordinator, other_coordinator_client):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)

    assert other_coordinator_client.get(_screening_url(inquiry.pk)).status_code == 404
    assert (
        other_coordinator_client.post(_screening_url(inquiry.pk), {"medical.pregnant": "yes"}).status_code
        == 404
    )
    assert other_coordinator_client.get(_screening_url(987654)).status_code == 404

    assert Screening.objects.get().answers["medical"]["pregnant"] == "no"
    assert AuditEvent.objects.filter(action="view").count() == 0


def test_reading_a_screen_is_audited(catalogue, inquiry, coordinator, coordinator_client):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    coordinator_client.get(_screening_url(inquiry.pk))

    rows = AuditEvent.objects.filter(action="view").order_by("object_type")
    assert [(r.object_type, r.object_id, r.actor_id) for r in rows] == [
        ("admissions.inquiry", str(inquiry.pk), coordinator.pk),
        ("admissions.screening", str(Screening.objects.get().pk), coordinator.pk),
    ]
    assert rows[1].fields == sorted(["answers", "result", "provisional_level", "safety_flags"])


def test_a_signed_screen_is_resumed_as_a_new_screen(
    catalogue, inquiry, coordinator, clinician, coordinator_client
):
    from admissions.screening.services import screening_signoff

    saved = screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    screening_signoff(screening=saved.screening, level=LevelRef.get("3.7-WM"), actor=clinician)

    body = coordinator_client.get(_screening_url(inquiry.pk)).content.decode()
    assert "Saving answers starts a new screen" in body
    assert 'name="use.substances_30d" value="baclofen" id="q-use-substances_30d-baclofen" checked' in body
    assert (
        coordinator_client.post(_screening_url(inquiry.pk), {"logistics.ok_to_text": "yes"}).status_code
        == 302
    )
    assert Screening.objects.filter(inquiry=inquiry).count() == 2


def _many_programs(catalogue, count):
    facilities = [FacilityFactory(name=f"Budget site {i}") for i in range(4)]
    bulk_programs(
        count,
        facilities=facilities,
        payers=list(catalogue.payers.values()),
        specialties=list(catalogue.specialties.values()),
    )


@pytest.mark.parametrize("count", [30, 300])
def test_screening_page_queries_do_not_grow_with_programs(
    count, catalogue, inquiry, coordinator, coordinator_client, django_assert_max_num_queries
):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    _many_programs(catalogue, count)
    # session, user, MFA device, roles and permissions, facilities, inquiry, screening, payer list,
    # policy's payer, 3 matching, what intake recorded (policy, substances), 2 audit rows
    with django_assert_max_num_queries(16):
        response = coordinator_client.get(_screening_url(inquiry.pk))
    assert response.status_code == 200
    assert response.content.decode().count("<option value=") > count


# --- match override --------------------------------------------------------------------------


def test_coordinator_overrides_the_match_from_the_page(catalogue, inquiry, coordinator, coordinator_client):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    program = catalogue.programs["Asheville Detox"]

    response = coordinator_client.post(
        _override_url(inquiry.pk), {"program": program.pk, "reason": "Family lives in Asheville."}
    )

    assert response.status_code == 302
    screening = Screening.objects.get()
    assert (screening.override_program, screening.override_reason) == (program, "Family lives in Asheville.")
    body = coordinator_client.get(_screening_url(inquiry.pk)).content.decode()
    assert "Chosen instead of the top match: <strong>Asheville Detox</strong>" in body


@pytest.mark.parametrize(
    ("data", "slot", "message"),
    [
        ({"reason": "Family lives in Asheville."}, "override-program-error", "Choose the program."),
        (
            {"program": "abc", "reason": "Family lives in Asheville."},
            "override-program-error",
            "from the list",
        ),
        (
            {"program": "987654", "reason": "Family lives in Asheville."},
            "override-program-error",
            "from the list",
        ),
        ({"program": "PROGRAM", "reason": "short"}, "override-reason-error", "at least 10 characters"),
        ({"program": "PROGRAM"}, "override-reason-error", "Say why the match is overridden"),
        ({"program": "PROGRAM", "reason": "x" * 1001}, "override-reason-error", "at most 1000 characters"),
        (
            {"program": "PHP", "reason": "Closer to home, day program."},
            "override-program-error",
            "below the minimum",
        ),
    ],
)
def test_bad_override_is_shown_next_to_the_field(
    data, slot, message, catalogue, inquiry, coordinator, coordinator_client
):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    swap = {
        "PROGRAM": str(catalogue.programs["Asheville Detox"].pk),
        "PHP": str(catalogue.programs["Tampa PHP"].pk),
    }
    data = {k: swap.get(v, v) for k, v in data.items()}

    response = coordinator_client.post(_override_url(inquiry.pk), data)

    assert response.status_code == 200
    assert message in _error_slot(response.content.decode(), slot)
    assert Screening.objects.get().override_program is None


def test_override_roles_and_scoping(
    catalogue, inquiry, coordinator, clinician_client, other_coordinator_client
):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    data = {"program": catalogue.programs["Asheville Detox"].pk, "reason": "Family lives in Asheville."}

    assert clinician_client.post(_override_url(inquiry.pk), data).status_code == 403
    assert other_coordinator_client.post(_override_url(inquiry.pk), data).status_code == 404
    assert clinician_client.get(_override_url(inquiry.pk)).status_code == 405
    assert Screening.objects.get().override_program is None


def test_override_without_a_screen_is_404(catalogue, inquiry, coordinator_client):
    data = {"program": catalogue.programs["Asheville Detox"].pk, "reason": "Family lives in Asheville."}
    assert coordinator_client.post(_override_url(inquiry.pk), data).status_code == 404


# --- clinical review queue -------------------------------------------------------------------


def _waiting(facility, n: int, *, start=None, **kwargs) -> list[Inquiry]:
    start = start or timezone.now() - timedelta(days=1)
    return [
        InquiryFactory(
            facility=facility,
            stage=Stage.CLINICAL_REVIEW,
            stage_changed_at=start + timedelta(minutes=i),
            **kwargs,
        )
        for i in range(n)
    ]


def _open_screen(inquiry: Inquiry, *, flags=(), level="3.7-WM") -> Screening:
    if flags:
        Inquiry.objects.filter(pk=inquiry.pk).update(has_red_flag=True)
    return Screening.objects.create(
        inquiry=inquiry,
        form=screening_form_current(),
        complete=True,
        provisional_level=LevelRef.get(level),
        safety_flags=list(flags),
        has_red_flag=bool(flags),
    )


def test_queue_lists_what_waits_for_a_clinician_oldest_first(
    catalogue, facility, other_facility, clinician_client
):
    old, new = _waiting(facility, 2)
    _open_screen(old, flags=["sedative_withdrawal"])
    crisis = InquiryFactory(
        facility=facility,
        stage=Stage.CRISIS_ROUTED,
        has_red_flag=True,
        stage_changed_at=timezone.now() - timedelta(days=3),
    )
    _open_screen(crisis, flags=["suicide_risk"], level="4")
    stuck = InquiryFactory(
        facility=facility,
        stage=Stage.CONTACTED,
        has_red_flag=True,
        stage_changed_at=timezone.now() - timedelta(hours=1),
    )
    _open_screen(stuck, flags=["severe_psychiatric"], level="3.5")
    signed_crisis = InquiryFactory(facility=facility, stage=Stage.CRISIS_ROUTED, has_red_flag=True)
    InquiryFactory(facility=facility, stage=Stage.PRESCREENED)
    _waiting(other_facility, 1)

    response = clinician_client.get(QUEUE_URL)

    assert response.status_code == 200
    rows = list(response.context["page"].object_list)
    assert [r.pk for r in rows] == [crisis.pk, old.pk, new.pk, stuck.pk]
    assert signed_crisis.pk not in [r.pk for r in rows]
    body = response.content.decode()
    assert "Suicide risk" in body
    assert "Sedative withdrawal risk" in body
    level = LevelRef.get("4")
    assert f'{level.code} <span class="sc-level-name">{level.name}</span>' in body  # not a bare code
    assert response.context["counts"] == {"all": 4, "red_flag": 3, "crisis": 1}
    assert f'href="{_signoff_url(old.pk)}"' in body
    assert f'href="{_screening_url(new.pk)}"' in body  # no screen yet: open the pre-screen


def test_queue_tabs_filter_and_keep_their_counts(catalogue, facility, clinician_client):
    plain, flagged = _waiting(facility, 2)
    Inquiry.objects.filter(pk=flagged.pk).update(has_red_flag=True)
    _open_screen(flagged, flags=["sedative_withdrawal"])

    red = clinician_client.get(QUEUE_URL, {"tab": "red-flag"})
    assert [r.pk for r in red.context["page"].object_list] == [flagged.pk]
    assert red.context["page"].paginator.count == 1
    assert 'aria-current="page">Red flags' in red.content.decode()
    garbage = clinician_client.get(QUEUE_URL, {"tab": "<script>", "page": "x"})
    assert garbage.status_code == 200
    assert garbage.context["tab"] == "all"
    assert len(garbage.context["page"].object_list) == 2


def test_queue_paginates(catalogue, facility, clinician_client):
    _waiting(facility, 30)
    first = clinician_client.get(QUEUE_URL)
    second = clinician_client.get(QUEUE_URL, {"page": "2"})
    beyond = clinician_client.get(QUEUE_URL, {"page": "99"})
    assert len(first.context["page"].object_list) == 25
    assert len(second.context["page"].object_list) == 5
    assert beyond.context["page"].number == 2
    assert "Page 1 of 2" in first.content.decode()


@pytest.mark.parametrize("rows", [3, 30])
def test_queue_queries_do_not_grow_with_rows(
    rows, catalogue, facility, clinician_client, django_assert_max_num_queries
):
    for i, inquiry in enumerate(_waiting(facility, rows)):
        _open_screen(inquiry, flags=["sedative_withdrawal"] if i % 2 else [])
    # session read + save (3), user, MFA device, roles and permissions, facilities; the queue itself:
    # counts, page, open screenings
    with django_assert_max_num_queries(11):
        response = clinician_client.get(QUEUE_URL)
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == min(rows, 25)


@pytest.mark.parametrize("who", ["coordinator_client", "vob_client", "marketing_client", "outsider_client"])
def test_queue_is_for_clinical_reviewers_and_managers(who, request, catalogue, facility):
    _waiting(facility, 1)
    assert request.getfixturevalue(who).get(QUEUE_URL).status_code == 403


def test_managers_see_the_queue_without_sign_off_links(catalogue, facility, manager_client):
    inquiry = _waiting(facility, 1)[0]
    _open_screen(inquiry)
    response = manager_client.get(QUEUE_URL)
    assert response.status_code == 200
    assert _signoff_url(inquiry.pk) not in response.content.decode()


# --- sign-off --------------------------------------------------------------------------------


def test_signoff_page_shows_answers_reasons_and_levels(
    catalogue, inquiry, coordinator, clinician, clinician_client
):
    saved = screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)

    response = clinician_client.get(_signoff_url(inquiry.pk))

    assert response.status_code == 200
    body = response.content.decode()
    assert "<dt>Baclofen: On how many of the last 30 days?</dt><dd>30</dd>" in body
    assert "<dt>Is it OK to leave a voicemail?</dt>" not in body  # unanswered items are left out
    assert "Minimum 3.7 set by: Safety: Daily baclofen 80 mg" in body
    assert "Sedative withdrawal risk." in body
    level = LevelRef.get("3.7-WM")
    assert f'<option value="{level.pk}" selected>3.7-WM' in body
    assert "2.5 · " in body
    assert "(below what the red flag requires)" in body
    assert [
        (r.object_type, r.object_id) for r in AuditEvent.objects.filter(action="view").order_by("object_type")
    ] == [
        ("admissions.inquiry", str(inquiry.pk)),
        ("admissions.screening", str(saved.screening.pk)),
    ]


def test_clinician_signs_off(catalogue, inquiry, coordinator, clinician, clinician_client):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    level = LevelRef.get("3.7-WM")

    response = clinician_client.post(_signoff_url(inquiry.pk), {"level": level.pk, "note": "Agree."})

    assert response.status_code == 302
    assert response["Location"] == QUEUE_URL
    screening = Screening.objects.get()
    assert (screening.final_level, screening.signed_by, screening.signoff_note) == (
        level,
        clinician,
        "Agree.",
    )
    assert Inquiry.objects.get(pk=inquiry.pk).approved_level == level
    again = clinician_client.get(_signoff_url(inquiry.pk)).content.decode()
    assert "Signed off" in again
    assert 'name="level"' not in again
    # the pre-screen's panel names the moment in the facility's zone, not a bare clock time
    panel = clinician_client.get(_screening_url(inquiry.pk)).content.decode()
    signed = r"Signed off at <strong>3\.7-WM</strong> on [A-Z][a-z]{2} \d+, \d+:\d\d [AP]M E[SD]T\."
    assert re.search(signed, panel)


@pytest.mark.parametrize(
    ("answers", "data", "slot", "message"),
    [
        (
            BACLOFEN,
            {"level": "LEVEL:2.5", "note": "Day program."},
            "signoff-level-error",
            "Level intensity 2.5 is below the minimum 3.7 required by: Daily baclofen 80 mg",
        ),
        (BACLOFEN, {"level": "LEVEL:3.5"}, "signoff-level-error", "is below the minimum 3.7"),
        (BACLOFEN, {"level": "abc"}, "signoff-level-error", "Choose a level from the list."),
        (BACLOFEN, {"level": "987654"}, "signoff-level-error", "Choose a level from the list."),
        (BACLOFEN, {}, "signoff-level-error", "Choose the final level of care."),
        (
            BACLOFEN,
            {"level": "LEVEL:3.7-WM", "note": "x" * 2001},
            "signoff-note-error",
            "at most 2000 characters",
        ),
        (
            PREFERS_RESIDENTIAL,
            {"level": "LEVEL:2.1"},
            "signoff-note-error",
            "Signing off below the provisional level 3.1 needs a note saying why.",
        ),
    ],
)
def test_refused_signoff_is_shown_next_to_the_field(
    answers, data, slot, message, catalogue, inquiry, coordinator, clinician_client
):
    screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)
    data = {k: str(LevelRef.get(v[6:]).pk) if v.startswith("LEVEL:") else v for k, v in data.items()}

    response = clinician_client.post(_signoff_url(inquiry.pk), data)

    assert response.status_code == 200
    assert message in _error_slot(response.content.decode(), slot)
    assert Screening.objects.get().signed_at is None
    assert Inquiry.objects.get(pk=inquiry.pk).approved_level is None


def test_below_provisional_with_a_note_is_accepted(catalogue, inquiry, coordinator, clinician_client):
    screening_save(inquiry_id=inquiry.pk, answers=PREFERS_RESIDENTIAL, actor=coordinator)
    level = LevelRef.get("2.1")
    response = clinician_client.post(
        _signoff_url(inquiry.pk), {"level": level.pk, "note": "IOP fits; works days."}
    )
    assert response.status_code == 302
    assert Screening.objects.get().final_level == level


def test_incomplete_and_missing_screens_are_refused_on_the_page(
    catalogue, inquiry, coordinator, clinician_client
):
    level = LevelRef.get("3.7-WM")
    nothing = clinician_client.post(_signoff_url(inquiry.pk), {"level": level.pk})
    assert nothing.status_code == 200
    assert "There is no pre-screen to sign off yet." in nothing.content.decode()
    assert clinician_client.get(_signoff_url(inquiry.pk)).status_code == 200

    screening_save(inquiry_id=inquiry.pk, answers={"emergency": all_clear()["emergency"]}, actor=coordinator)
    response = clinician_client.post(_signoff_url(inquiry.pk), {"level": level.pk})
    assert response.status_code == 200
    assert "The screen is not complete" in response.content.decode()
    assert Screening.objects.get().signed_at is None


@pytest.mark.parametrize(
    "who", ["coordinator_client", "manager_client", "vob_client", "marketing_client", "outsider_client"]
)
def test_only_clinical_reviewers_sign_off(who, request, catalogue, inquiry, coordinator):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    client = request.getfixturevalue(who)
    assert client.get(_signoff_url(inquiry.pk)).status_code == 403
    assert client.post(_signoff_url(inquiry.pk), {"level": LevelRef.get("3.7-WM").pk}).status_code == 403
    assert Screening.objects.get().signed_at is None


def test_other_facility_clinician_gets_404(catalogue, inquiry, coordinator, other_facility):
    nurse = UserFactory(username="nurse-elsewhere", role=Role.CLINICAL_REVIEWER, facilities=[other_facility])
    client = _client(nurse)
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    assert client.get(_signoff_url(inquiry.pk)).status_code == 404
    assert client.post(_signoff_url(inquiry.pk), {"level": LevelRef.get("3.7-WM").pk}).status_code == 404
    assert Screening.objects.get().signed_at is None
    assert AuditEvent.objects.filter(action="view").count() == 0


def test_a_person_without_a_name_on_file_still_renders(catalogue, facility, coordinator_client):
    inquiry = InquiryFactory(facility=facility, stage=Stage.NEW, person=PersonFactory(last_name=""))
    assert coordinator_client.get(_screening_url(inquiry.pk)).status_code == 200


def test_a_clinician_neither_reads_nor_clears_the_insurance_ids_a_pre_screen_recorded(
    catalogue, inquiry, coordinator, clinician_client, coordinator_client
):
    ids = {"member_id": "ZX55501", "group_number": "GRP77", "subscriber_name": "Robin Doe"}
    screening_save(
        inquiry_id=inquiry.pk,
        answers={**BACLOFEN, "insurance": {**BACLOFEN.get("insurance", {}), **ids}},
        actor=coordinator,
    )
    for url in (_screening_url(inquiry.pk), _signoff_url(inquiry.pk)):
        body = clinician_client.get(url).content.decode()
        for value in ids.values():
            assert value not in body, url
    page = clinician_client.get(_screening_url(inquiry.pk)).content.decode()
    assert "Recorded; hidden for your role." in page
    # the withheld inputs are shown disabled, so nothing can be typed there to be refused
    for name in ids:
        assert re.search(rf'<input [^>]*name="insurance\.{name}"[^>]* disabled', page), name
    why_now = re.search(r'<(?:input|textarea) [^>]*name="readiness\.why_now"[^>]*>', page)
    assert why_now is not None
    assert "disabled" not in why_now.group(0)
    api = clinician_client.get(f"/api/v1/inquiries/{inquiry.pk}/screening/").json()
    assert api["answers"]["insurance"]["member_id"] != ids["member_id"]
    assert "ZX55501" not in str(api)

    # the clinician's form posts the (empty) inputs back: the recorded ids stay
    clinician_client.post(
        _screening_url(inquiry.pk),
        {"insurance.member_id": "", "insurance.group_number": "", "readiness.why_now": "Ready"},
    )
    answers = Screening.objects.filter(inquiry=inquiry).latest("created_at").answers
    assert {k: answers["insurance"].get(k) for k in ids} == ids
    # what such a role types there is refused beside the field, not silently dropped
    refused = clinician_client.post(
        _screening_url(inquiry.pk), {"insurance.member_id": "TYPED1", "readiness.why_now": "Now"}
    )
    assert "Your role does not record this" in refused.content.decode()
    answers = Screening.objects.filter(inquiry=inquiry).latest("created_at").answers
    assert (answers["insurance"]["member_id"], answers["readiness"].get("why_now")) == ("ZX55501", "Ready")
    # a role that sees them still does
    assert "ZX55501" in coordinator_client.get(_screening_url(inquiry.pk)).content.decode()
    assert (
        coordinator_client.get(f"/api/v1/inquiries/{inquiry.pk}/screening/").json()["answers"]["insurance"][
            "member_id"
        ]
        == "ZX55501"
    )


def test_the_sign_off_page_reads_a_last_use_as_a_time_not_an_iso_string(
    catalogue, inquiry, coordinator, clinician_client
):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    body = clinician_client.get(_signoff_url(inquiry.pk)).content.decode()
    stored = Screening.objects.get(inquiry=inquiry).answers["substances"]["baclofen"]["last_use"]
    assert stored[:16] not in body  # "2026-12-06T09:15"
    assert re.search(
        r"Date and time of last use[^<]*</dt>\s*<dd>[A-Z][a-z]{2} \d{1,2}, \d{1,2}:\d{2} [AP]M E[SD]T", body
    ), body
