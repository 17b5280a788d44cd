"""Nothing typed twice: the pre-screen starts from what intake recorded, and what it records goes
back to the person and the insurance through the services intake and the lead API use."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from admissions.models import (
    Caller,
    InsurancePolicy,
)
from admissions.screening.definition import FORMS, LATEST_VERSION, FormDefinition
from admissions.screening.models import Screening
from admissions.screening.prefill import FROM_INTAKE, screening_prefill
from admissions.screening.services import screening_save
from crm.masking import Sees
from tests.screening.builders import intake_inquiry

pytestmark = pytest.mark.django_db

SEES_ALL = Sees(name=True, contact=True, clinical=True, insurance_ids=True)


def _page(inquiry_id: int) -> str:
    return reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry_id})


def _fields(response) -> dict:
    out = {}

    def walk(fields):
        for f in fields:
            out[f.path] = f
            walk(f.followups)
            for row in f.rows:
                walk(row.fields)

    for section in response.context["fields"].sections:
        walk(section.fields)
    return out


# --- pre-fill --------------------------------------------------------------------------------


def test_the_prescreen_opens_with_what_intake_recorded_marked_fromintake_inquiry(
    catalogue, facility, coordinator, coordinator_client
):
    inquiry = intake_inquiry(
        facility, coordinator, catalogue.payers["cigna"], relationship=Caller.Relationship.FAMILY
    )
    response = coordinator_client.get(_page(inquiry.pk))
    assert response.status_code == 200
    fields = _fields(response)
    prefilled = {path: f.value for path, f in fields.items() if f.source == FROM_INTAKE}
    assert prefilled == {
        "logistics.ok_to_voicemail": "no",
        "logistics.state": "NC",
        "logistics.postal_code": "28801",
        "insurance.payer_id": "Cigna",
        "insurance.member_id": "ZX99123",
        "readiness.why_now": "Wants help before the holidays.",
    }
    assert fields["insurance.payer_id"].kind == "payer"
    # The substances intake recorded are a hint beside the safety question, never ticked for them.
    substances = fields["use.substances_30d"]
    assert (substances.values, substances.source) == ([], "")
    assert substances.hint.startswith("Intake recorded: Alcohol, Baclofen.")
    body = response.content.decode()
    assert "Calling about the person: <strong>Dana Okafor (family member)</strong>" in body
    assert 'id="q-logistics-state-source"' in body
    assert 'aria-describedby="q-logistics-state-source err-logistics-state"' in body
    # Nothing is stored by opening the page.
    assert not Screening.objects.filter(inquiry=inquiry).exists()


def test_an_answer_already_on_the_screen_is_not_prefilled(
    catalogue, facility, coordinator, coordinator_client
):
    inquiry = intake_inquiry(facility, coordinator, catalogue.payers["cigna"])
    screening_save(inquiry_id=inquiry.pk, answers={"logistics": {"ok_to_voicemail": True}}, actor=coordinator)
    fields = _fields(coordinator_client.get(_page(inquiry.pk)))
    assert (fields["logistics.ok_to_voicemail"].value, fields["logistics.ok_to_voicemail"].source) == (
        "yes",
        "",
    )
    assert fields["logistics.state"].source == FROM_INTAKE


def test_a_prefill_never_answers_a_safety_item_nor_changes_completeness(catalogue, facility, coordinator):
    inquiry = intake_inquiry(facility, coordinator, catalogue.payers["cigna"])
    definition = FormDefinition(FORMS[LATEST_VERSION])
    prefill = screening_prefill(
        inquiry=inquiry,
        definition=definition,
        answers={},
        policy=InsurancePolicy.objects.get(inquiry=inquiry),
        substance_names=["Alcohol"],
        sees=SEES_ALL,
    )
    assert prefill.paths
    for path in prefill.paths:
        section, _, code = path.partition(".")
        item = next(i for i in definition.section(section)["items"] if i["code"] == code)
        assert not item.get("safety"), path
    # Even an item a later form version made a safety item would not be pre-filled.
    stricter = copy.deepcopy(FORMS[LATEST_VERSION])
    for section in stricter["sections"]:
        for item in section["items"]:
            if item["code"] in ("ok_to_text", "state"):
                item["safety"] = True
    strict = screening_prefill(
        inquiry=inquiry,
        definition=FormDefinition(stricter),
        answers={},
        policy=None,
        substance_names=[],
        sees=SEES_ALL,
    )
    assert {"logistics.ok_to_text", "logistics.state"}.isdisjoint(strict.paths)
    # Saving exactly the pre-filled answers leaves every safety item open.
    saved = screening_save(inquiry_id=inquiry.pk, answers=prefill.answers, actor=coordinator)
    assert not saved.screening.complete
    assert saved.screening.result["missing_safety"] == definition.missing_safety({})
    assert not saved.screening.safety_flags


def test_a_role_without_insurance_ids_gets_no_member_id_prefilled(catalogue, facility, coordinator):
    inquiry = intake_inquiry(facility, coordinator, catalogue.payers["cigna"])
    prefill = screening_prefill(
        inquiry=inquiry,
        definition=FormDefinition(FORMS[LATEST_VERSION]),
        answers={},
        policy=InsurancePolicy.objects.get(inquiry=inquiry),
        substance_names=["Alcohol"],
        sees=Sees(name=True, contact=True, clinical=False, insurance_ids=False),
    )
    assert "member_id" not in prefill.answers["insurance"]
    assert "readiness" not in prefill.answers
    assert prefill.hints == {}


def test_the_completeness_panel_lists_every_safety_question_before_anything_is_saved(
    catalogue, inquiry, coordinator_client
):
    response = coordinator_client.get(_page(inquiry.pk))
    body = response.content.decode()
    assert 'id="missing-safety"' in body
    assert "Right now, has the person taken too much, or are they hard to wake or not responding?" in body
    definition = FormDefinition(FORMS[LATEST_VERSION])
    assert len(response.context["missing"]) == len(definition.missing_safety({}))


def test_a_substances_missing_questions_are_named_with_the_substance(catalogue, inquiry, coordinator):
    screening_save(inquiry_id=inquiry.pk, answers={"use": {"substances_30d": ["alcohol"]}}, actor=coordinator)
    from django.test import Client

    from tests.signin import login_verified

    client = Client()
    login_verified(client, coordinator)
    labels = [label for _anchor, label in client.get(_page(inquiry.pk)).context["missing"]]
    assert "Alcohol: On how many of the last 30 days?" in labels


# --- the payer, searchable by name -------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "payer_key", "error"),
    [
        ("cigna", "cigna", ""),
        ("mountain", "blue", ""),
        ("Blue Mountain Health", "blue", ""),
        ("a", None, "Several payers match “a”: Aetna, Blue Mountain Health, Cigna, Self-pay."),
        ("Kaiser", None, "No payer called “Kaiser” in the list."),
    ],
)
def test_a_payer_is_chosen_by_typing_part_of_its_name(
    typed, payer_key, error, catalogue, inquiry, coordinator_client
):
    response = coordinator_client.post(
        _page(inquiry.pk), {"insurance.payer_id": typed}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    screening = Screening.objects.filter(inquiry=inquiry).first()
    if payer_key is None:
        assert screening is None
        assert error in response.content.decode()
        assert 'hx-swap-oob="innerHTML:#err-insurance-payer_id"' in response.content.decode()
    else:
        assert screening.answers["insurance"]["payer_id"] == catalogue.payers[payer_key].pk
        assert InsurancePolicy.objects.get(inquiry=inquiry).payer == catalogue.payers[payer_key]


# --- a last use in the future ------------------------------------------------------------------


def _tomorrow() -> str:
    return timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")


def test_the_page_refuses_a_last_use_in_the_future_next_to_the_field(catalogue, inquiry, coordinator_client):
    data = {"use.substances_30d": ["alcohol"], "substances.alcohol.last_use": _tomorrow()}
    response = coordinator_client.post(_page(inquiry.pk), data)
    assert response.status_code == 200
    assert _fields(response)["substances.alcohol.last_use"].errors == [
        "Must not be in the future. Or mark it “Refused / not known” if they refuse or do not know."
    ]
    assert 'id="err-substances-alcohol-last_use">Must not be in the future.' in response.content.decode()
    assert not Screening.objects.filter(inquiry=inquiry).exists()


def test_the_api_refuses_a_last_use_in_the_future_with_the_field_named(
    catalogue, inquiry, coordinator_client
):
    response = coordinator_client.post(
        f"/api/v1/inquiries/{inquiry.pk}/screening/",
        data=json.dumps({"answers": {"substances": {"alcohol": {"last_use": _tomorrow()}}}}),
        content_type="application/json",
    )
    assert response.status_code == 400
    errors = response.json()["answers"]
    assert list(errors) == ["substances.alcohol.last_use"]
    assert "Must not be in the future." in errors["substances.alcohol.last_use"][0]
    assert not Screening.objects.filter(inquiry=inquiry).exists()


def test_a_saved_payer_shows_by_name_with_every_payer_to_choose_from(
    catalogue, inquiry, coordinator, coordinator_client
):
    screening_save(
        inquiry_id=inquiry.pk,
        answers={"insurance": {"payer_id": catalogue.payers["blue"].pk}},
        actor=coordinator,
    )
    response = coordinator_client.get(_page(inquiry.pk))
    payer = _fields(response)["insurance.payer_id"]
    assert (payer.kind, payer.value) == ("payer", "Blue Mountain Health")
    body = response.content.decode()
    assert 'list="q-insurance-payer_id-list"' in body
    datalist = body[body.index('<datalist id="q-insurance-payer_id-list">') :].split("</datalist>")[0]
    assert datalist.count("<option") == 4
    assert '<option value="Blue Mountain Health">' in datalist


def test_the_signoff_page_names_the_payer(catalogue, inquiry, coordinator, clinician_client):
    screening_save(
        inquiry_id=inquiry.pk,
        answers={"insurance": {"payer_id": catalogue.payers["cigna"].pk}},
        actor=coordinator,
    )
    body = clinician_client.get(reverse("screening_ui:signoff", kwargs={"inquiry_id": inquiry.pk})).content
    assert "<dt>Payer (from the payer list)</dt><dd>Cigna</dd>" in body.decode()
