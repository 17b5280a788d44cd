"""factory_boy factories for the whole suite. Data is synthetic."""

from __future__ import annotations

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from admissions.models import Caller, Campaign, Inquiry, LeadSource, Person, ReferralPartner
from admissions.pipeline import Stage
from crm.models import Facility, User
from crm.roles import Role
from programs.models import Census, LevelOfCare, Payer, Program


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Harbor Point {n}")
    neutral_sender_name = factory.LazyAttribute(lambda o: o.name.split()[0] + " Health")
    street = "100 Main Street"
    city = "Tampa"
    state = "FL"
    postal_code = "33602"
    time_zone = "America/New_York"
    phone = "+18135550100"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    first_name = "Sam"
    last_name = factory.Sequence(lambda n: f"Staff{n}")
    password = factory.django.Password("correct-horse-battery-staple")

    @factory.post_generation
    def role(self, create: bool, extracted: Role | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted.value))

    @factory.post_generation
    def facilities(self, create: bool, extracted: list[Facility] | None, **kwargs: object) -> None:
        if create and extracted:
            self.facilities.set(extracted)


class LevelRef:
    @staticmethod
    def get(code: str, edition: str = "ASAM 3") -> LevelOfCare:
        return LevelOfCare.objects.get(edition=edition, code=code)


class PayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payer
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Payer {n}")


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program
        skip_postgeneration_save = True

    facility = factory.SubFactory(FacilityFactory)
    name = factory.Sequence(lambda n: f"Program {n}")
    setting = "residential"
    level_of_care = factory.LazyFunction(lambda: LevelRef.get("3.5"))
    capacity_kind = "beds"
    capacity = 10

    @factory.post_generation
    def census(self, create: bool, extracted: int | None, **kwargs: object) -> None:
        if create:
            Census.objects.create(program=self, occupied=extracted or 0)


class LeadSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeadSource
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Source {n}")
    kind = LeadSource.Kind.WEBSITE
    default_facility = factory.SubFactory(FacilityFactory)


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    lead_source = factory.SubFactory(LeadSourceFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")


class ReferralPartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferralPartner

    organisation = factory.Sequence(lambda n: f"Bayview Hospital {n}")
    kind = ReferralPartner.Kind.HOSPITAL


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    first_name = "Jordan"
    last_name = factory.Sequence(lambda n: f"Testperson{n}")
    # a range of its own, apart from the fixed 813 numbers tests write by hand
    phone = factory.Sequence(lambda n: f"+1727555{n % 10000:04d}")
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    state = "FL"
    time_zone = "America/New_York"


class CallerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Caller

    relationship = Caller.Relationship.SELF


class InquiryFactory(factory.django.DjangoModelFactory):
    """An inquiry written directly (for selectors and views); services are tested on their own."""

    class Meta:
        model = Inquiry

    person = factory.SubFactory(PersonFactory)
    facility = factory.SubFactory(FacilityFactory)
    channel = "web_form"
    phone = factory.LazyAttribute(lambda o: o.person.phone)
    email = factory.LazyAttribute(lambda o: o.person.email)
    stage = Stage.NEW
    created_at = factory.LazyFunction(timezone.now)
    stage_changed_at = factory.LazyAttribute(lambda o: o.created_at)
