"""The coordinator pages' helpers: field rows and plain selects render complete, escaped markup, and
every family of codes (flags, follow-up kinds, VOB statuses, audit actions, field names) reads as words."""

from __future__ import annotations

import re

import pytest
from django import forms

from admissions.templatetags import admissions_ui as ui
from admissions.templatetags.admissions_ui import field_row, iso, plain_select


class Sample(forms.Form):
    name = forms.CharField(label="Name <b>", help_text="As said on the call & spelled")
    note = forms.CharField(required=False)
    agreed = forms.BooleanField(required=False, label="Agreed")
    kind = forms.ChoiceField(choices=[("", "Any"), ("a", "A & B"), ("<x>", "X")], required=False)


def test_a_text_field_row_has_label_required_mark_help_and_escaped_errors():
    form = Sample(data={"name": ""})
    form.is_valid()
    form.add_error("note", "Bad <script>")
    row = field_row(form["name"])
    assert row.startswith('<div class="field has-error">')
    assert '<label for="id_name">Name &lt;b&gt; <span class="req" aria-hidden="true">*</span></label>' in row
    assert '<small class="help" id="id_name_helptext">As said on the call &amp; spelled</small>' in row
    assert '<span class="field-error" role="alert" id="id_name_error">This field is required.</span>' in row
    # Django's widget describes itself by the help and the errors; both elements are there
    assert 'aria-describedby="id_name_helptext id_name_error"' in row
    note = field_row(form["note"])
    assert '<span class="field-error" role="alert" id="id_note_error">Bad &lt;script&gt;</span>' in note
    assert 'class="req"' not in note


def test_a_checkbox_row_puts_the_box_before_its_label():
    row = field_row(Sample()["agreed"])
    assert row.startswith('<div class="field check">')
    assert '<input type="checkbox" name="agreed" id="id_agreed"> <label for="id_agreed">Agreed</label>' in row


@pytest.mark.parametrize(
    "data",
    [None, {"kind": "a"}, {"kind": "<x>", "must": ""}, {"kind": "nope", "must": "b"}],
)
def test_plain_select_is_the_markup_django_renders(data):
    class Choices(forms.Form):
        kind = forms.ChoiceField(choices=[("", "Any"), ("a", "A & B"), ("<x>", "X")], required=False)
        must = forms.ChoiceField(choices=[("a", "A"), ("b", "B")], help_text="Pick one")

    form = Choices(data=data)
    form.is_valid()
    for name in ("kind", "must"):
        django_markup = re.sub(r">\s+<", "><", str(form[name]))
        assert plain_select(form[name]) == django_markup


def test_plain_select_marks_the_choice_and_escapes_values_and_labels():
    html = plain_select(Sample(data={"kind": "a"})["kind"])
    assert html == (
        '<select name="kind" id="id_kind"><option value="">Any</option>'
        '<option value="a" selected>A &amp; B</option><option value="&lt;x&gt;">X</option></select>'
    )


def test_iso_keeps_the_offset():
    from datetime import UTC, datetime

    assert iso(datetime(2026, 11, 25, 7, 0, 5, 123, tzinfo=UTC)) == "2026-11-25T07:00:05+00:00"
    assert iso(None) == ""


# --- codes in words -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("sedative_withdrawal", "Sedative withdrawal risk"),
        ({"code": "suicide_risk", "action": "Call 988"}, "Suicide risk"),
        ("flag_from_a_newer_form", "Flag from a newer form"),
        ("", ""),
        (None, ""),
    ],
)
def test_flag_label_reads_the_screening_rules_labels_and_words_an_unknown_code(code, label):
    assert ui.flag_label(code) == label


def test_flag_labels_joins_codes_and_stored_flags():
    assert (
        ui.flag_labels(["baclofen_pump", {"code": "emergency_now"}]) == "Baclofen pump problem, Emergency now"
    )
    assert ui.flag_labels(None) == ""


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("acknowledgement", "Acknowledge a new inquiry"),
        ("call_task", "Call task"),
        ("ack-email", "Ack email"),
    ],
)
def test_followup_kind_label(code, label):
    assert ui.followup_kind_label(code) == label


@pytest.mark.parametrize(
    ("code", "label"),
    [("viable", "Viable"), ("not_viable", "Not viable"), ("self_pay", "Self-pay"), ("on_hold", "On hold")],
)
def test_vob_status_label(code, label):
    assert ui.vob_status_label(code) == label


@pytest.mark.parametrize(
    ("code", "label"),
    [("view", "Viewed"), ("api_read", "Read through the API"), ("list", "Listed"), ("purge", "Purge")],
)
def test_audit_action_label(code, label):
    assert ui.audit_action_label(code) == label


def test_channel_event_kind_and_call_provider_labels():
    assert (ui.channel_label("sms"), ui.channel_label("email"), ui.channel_label("fax")) == (
        "Text message",
        "Email",
        "Fax",
    )
    assert (ui.event_kind_label("capacity_held"), ui.event_kind_label("new_kind")) == (
        "Bed or slot held",
        "New kind",
    )
    assert (ui.call_provider_label("ctm"), ui.call_provider_label("other_vendor")) == (
        "CallTrackingMetrics",
        "Other vendor",
    )


def test_field_labels_are_verbose_names_in_a_sentence():
    names = ["authorization_required", "member_id"]
    assert ui.field_labels(names, "admissions.insurancepolicy") == "authorization required and member ID"
    assert ui.field_labels(["payer_id"], "admissions.insurancepolicy") == "payer"  # the FK by its column name
    assert ui.field_labels(["no_such_field", "in_network"], "admissions.insurancepolicy") == (
        "no such field and in network"
    )
    assert ui.field_labels("member_id", "no.such_model") == "member ID"
    assert ui.field_labels([], "admissions.insurancepolicy") == ""


def test_field_label_follows_relations_and_reverse_relations():
    assert ui.field_label("person.first_name", "admissions.inquiry") == "person first name"
    assert ui.field_label("insurance_policies", "admissions.inquiry") == "insurance policies"


def test_model_label_and_audit_fields():
    assert (ui.model_label("admissions.insurancepolicy"), ui.model_label("gone.old_thing")) == (
        "Insurance policy",
        "Old thing",
    )

    class Row:
        object_type = "admissions.inquiry"
        fields = ["list:queue:new", "person.first_name", "stage"]

    assert ui.audit_fields(Row) == "Queue new: person first name, stage"
    Row.fields = ["person", "timeline"]
    assert ui.audit_fields(Row) == "person, timeline"
    Row.fields = []
    assert ui.audit_fields(Row) == ""


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({"fields": ["vob_status"], "vob_status": "viable"}, "Verification of benefits: viable."),
        ({"fields": [], "vob_status": "viable"}, "Verification of benefits: viable."),
        (
            {"fields": ["authorization_required", "member_id", "vob_status"], "vob_status": "not_viable"},
            "Verification of benefits: not viable. Changed authorization required and member ID.",
        ),
        (
            {"fields": ["authorization_required", "member_id"], "vob_status": "requested"},
            "Changed authorization required and member ID.",
        ),
        ({"fields": ["payer_name"], "from": "pre-screen"}, "Changed payer name from the pre-screen."),
        ({"fields": [], "vob_status": "mystery_state"}, "Verification of benefits: mystery state."),
        ({}, ""),
        (None, ""),
    ],
)
def test_insurance_summary_is_a_sentence(data, sentence):
    assert ui.insurance_summary(data) == sentence


def test_stage_reason_names_red_flags_and_keeps_other_reasons():
    assert (
        ui.stage_reason("Red flag: sedative_withdrawal, new_flag")
        == "Red flag: Sedative withdrawal risk, New flag"
    )
    assert ui.stage_reason("Caller asked for detox_now") == "Caller asked for detox_now"
    assert ui.stage_reason(None) == ""


def test_humanise_never_fails():
    assert (ui.humanise("member_id"), ui.humanise("ack-email"), ui.humanise(7), ui.humanise(None)) == (
        "Member ID",
        "Ack email",
        "7",
        "",
    )


def test_stage_label_words_an_unknown_stage():
    assert (ui.stage_label("clinical_review"), ui.stage_label("on_hold_legacy"), ui.stage_label(None)) == (
        "Clinical review",
        "On hold legacy",
        "",
    )
