"""``crm.phones``: the one parser; national numbers are read in the facility's region."""

from __future__ import annotations

import pytest
from django.test import override_settings

from admissions.models import Inquiry
from crm.phones import phone_e164_or_blank, phone_normalise, region_of
from tests.factories import InquiryFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("(813) 555-0142", "+18135550142"),
        ("813.555.0142", "+18135550142"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_numbers_are_normalised_to_e164_text(raw, e164):
    assert phone_normalise(raw) == e164


@pytest.mark.parametrize("raw", ["555", "not a number", "+1 800 000 0000 0000", ""])
def test_invalid_numbers_are_refused(raw):
    with pytest.raises(ValueError, match="Enter a valid phone number."):
        phone_normalise(raw)


def test_national_numbers_are_read_in_the_given_region():
    assert phone_normalise("020 7946 0958", region="GB") == "+442079460958"
    with pytest.raises(ValueError, match="Enter a valid phone number."):
        phone_normalise("020 7946 0958")  # not a US number


def test_a_facilitys_region_is_the_country_of_its_own_number():
    assert region_of("+442079460958") == "GB"
    assert region_of("+18135550100") == "US"
    assert region_of("") == "US"
    with override_settings(PHONENUMBER_DEFAULT_REGION="CA"):
        assert region_of("") == "CA"
        assert phone_normalise("416 555 0123") == "+14165550123"


def test_blank_or_unreadable_values_have_no_e164_form():
    assert (phone_e164_or_blank(""), phone_e164_or_blank("not a phone")) == ("", "")
    assert phone_e164_or_blank("(813) 555-0142") == "+18135550142"


def test_other_values_are_stored_as_phonenumber_field_stores_them(facility):
    inquiry = InquiryFactory(facility=facility, phone="(813) 555-0199")
    other = InquiryFactory(facility=facility, phone="not a phone", stage="closed", lost_reason="invalid")

    stored = dict(Inquiry.objects.filter(pk__in=[inquiry.pk, other.pk]).values_list("pk", "phone"))
    assert stored == {inquiry.pk: "+18135550199", other.pk: "not a phone"}


def test_intake_and_the_lead_api_read_national_numbers_in_the_facilitys_region(facility):
    from admissions.forms import QuickIntakeForm  # noqa: PLC0415 - the two doors, side by side
    from admissions.lead_write import lead_ingest  # noqa: PLC0415
    from admissions.leads import LeadData  # noqa: PLC0415
    from crm.models import Facility  # noqa: PLC0415
    from tests.factories import LeadSourceFactory  # noqa: PLC0415

    Facility.objects.filter(pk=facility.pk).update(phone="+442079460000")  # a London facility
    facility.refresh_from_db()
    form = QuickIntakeForm(
        {
            "facility": facility.pk,
            "first_name": "Sam",
            "phone": "020 7946 0958",
            "caller_relationship": "self",
        },
        facilities=Facility.objects.all(),
    )
    form.is_valid()
    source = LeadSourceFactory(default_facility=facility)
    lead = lead_ingest(
        lead=LeadData(first_name="Sam", phone="020 7946 0959"), source=source, actor_label="test"
    )

    assert form.cleaned_data["phone"] == "+442079460958"
    assert str(lead.inquiry.phone) == "+442079460959"


def _library_stores(value):
    """What phonenumber_field's own field stores for ``value``, without the remembered answers."""
    from phonenumber_field.modelfields import PhoneNumberField as LibraryField  # noqa: PLC0415

    return LibraryField().get_prep_value(value)


def _numbers_of_every_region():
    import phonenumbers  # noqa: PLC0415

    kinds = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                yield phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def test_remembered_e164_texts_are_stored_exactly_as_phonenumber_field_stores_them():
    from crm import phones  # noqa: PLC0415

    field = Inquiry._meta.get_field("phone")
    typed = [*_numbers_of_every_region(), "+1 800 000 0000", "+4402079460958", "+999", "+1 (813) 555-0142"]
    assert len(typed) > 400
    for raw in typed:
        phones._STORED.clear()
        try:
            e164 = phone_normalise(raw)  # remembers a valid number's E.164 text
        except ValueError:
            e164 = raw
        for value in (e164, field.to_python(e164), raw, field.to_python(raw)):
            expected = _library_stores(value)
            assert field.get_prep_value(value) == expected, (raw, value)
            assert field.get_prep_value(value) == expected, (raw, value)  # and when remembered


def test_remembered_answers_are_bounded(monkeypatch):
    from crm import phones  # noqa: PLC0415

    monkeypatch.setattr(phones, "_STORED_MAX", 3)
    phones._STORED.clear()
    for n in range(10):
        phone_normalise(f"(813) 555-01{n:02d}")
    assert 0 < len(phones._STORED) <= 3
