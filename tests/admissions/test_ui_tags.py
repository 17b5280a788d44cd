"""The coordinator pages' form helpers: field rows and plain selects render complete, escaped markup."""

from __future__ import annotations

import re

import pytest
from django import forms

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
