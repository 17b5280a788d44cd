"""``crm.phones``: a phone number is parsed, validated and formatted once, then stored as it is."""

from __future__ import annotations

import phonenumbers
import pytest

from admissions.models import Inquiry, Person
from crm.phones import E164, ValidPhoneNumber, phone_normalise
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
def test_normalised_numbers_are_e164_text_carrying_their_number(raw, e164):
    text = phone_normalise(raw)

    assert type(text) is E164
    assert text == e164
    assert isinstance(text.number, ValidPhoneNumber)
    assert (text.number.e164, str(text.number), text.number.as_national) == (
        e164,
        e164,
        phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.NATIONAL),
    )


@pytest.mark.parametrize("raw", ["555", "not a number", "+1 800 000 0000 0000", ""])
def test_invalid_numbers_are_refused(raw):
    with pytest.raises(ValueError, match="Enter a valid phone number."):
        phone_normalise(raw)


def test_a_normalised_number_is_neither_parsed_nor_checked_again_on_its_way_to_the_database(
    monkeypatch, facility
):
    text = phone_normalise("(813) 555-0142")
    calls: list[str] = []
    for name in ("parse", "is_valid_number", "format_number"):
        real = getattr(phonenumbers, name)
        monkeypatch.setattr(
            phonenumbers, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k)
        )

    person = Person(first_name="Sam", phone=text)
    person.save()
    Person.objects.filter(pk=person.pk).update(phone=text)

    assert calls == []
    assert person.phone is text.number
    monkeypatch.undo()
    assert Person.objects.filter(phone="+18135550142").count() == 1
    assert str(Person.objects.get(pk=person.pk).phone) == "+18135550142"


def test_other_values_are_stored_as_phonenumber_field_stores_them(facility):
    inquiry = InquiryFactory(facility=facility, phone="(813) 555-0199")
    other = InquiryFactory(facility=facility, phone="not a phone", stage="closed", lost_reason="invalid")

    stored = dict(Inquiry.objects.filter(pk__in=[inquiry.pk, other.pk]).values_list("pk", "phone"))
    assert stored == {inquiry.pk: "+18135550199", other.pk: "not a phone"}
