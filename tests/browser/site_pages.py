"""Every page of the site, read from the URL conf, with the ids its patterns need.

``site_routes()`` walks ``crm.urls``; an HTML page is any route outside the JSON API (``/api/``
less its docs page, as ``crm.outage.wants_json`` draws the line) and outside the admin (which
the accessibility test walks through its own links). A new page is covered the day its route
lands; if its pattern needs an argument no entry of ``ARGUMENTS`` names, ``page_urls`` raises
``MissingArgument`` so the test fails and says which entry to add.

Whether a route is a page is decided by its answer, not by a list: a ``405`` (POST only), a
body that is not HTML (JSON, CSV) or an HTML fragment (an htmx partial, no ``<html>``) is not a
page; everything else is, error pages included.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from django.contrib.auth.tokens import default_token_generator
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from admissions.imports.services import import_job_create
from admissions.inquiry_views import ACTIONS
from admissions.messaging.models import MessagingHold
from admissions.messaging.unsubscribe import unsubscribe_token
from admissions.models import ContactConsent, InsurancePolicy, WaitlistEntry
from admissions.pipeline import Stage
from admissions.screening.services import screening_save
from admissions.waitlist_views import ENTRY_ACTIONS as WAITLIST_ACTIONS
from crm.models import Facility, User
from crm.outage import wants_json
from privacy.models import DisclosurePath, Information, Purpose, RecipientType
from privacy.services import Recipient, disclosure_make
from programs.models import Discharge
from tests.factories import InquiryFactory, LevelRef, PersonFactory, ProgramFactory
from tests.privacy.conftest import make_consent
from tests.screening.builders import screen, use

ARGUMENT = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


class MissingArgument(LookupError):
    """A route needs an argument the page fixtures do not provide."""


@dataclass(frozen=True)
class Route:
    route: str  # "inquiries/<int:pk>/"
    name: str  # "admissions:inquiry"

    def arguments(self) -> list[tuple[str, str]]:
        """(the path segment before it, its name) of each argument of the route."""
        found = []
        for match in ARGUMENT.finditer(self.route):
            before = [part for part in self.route[: match.start()].split("/") if part]
            found.append((before[-1] if before else "", match.group("name")))
        return found


def _walk(patterns: Sequence[URLPattern | URLResolver], prefix: str, namespace: str) -> Iterator[Route]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(n for n in (namespace, pattern.namespace or "") if n)
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern.pattern, RoutePattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name or ""
            yield Route(prefix + str(pattern.pattern), name)


def site_routes() -> list[Route]:
    """The routes of the site's HTML pages, in URL conf order, each once."""
    seen: dict[str, Route] = {}
    for route in _walk(get_resolver().url_patterns, "", ""):
        path = "/" + ARGUMENT.sub("1", route.route)
        if route.route.startswith("admin/") or _is_api(path):
            continue
        seen.setdefault(route.route, route)
    return list(seen.values())


def _is_api(path: str) -> bool:
    from django.test import RequestFactory

    return wants_json(RequestFactory().get(path))


def page_urls(route: Route, arguments: Mapping[tuple[str, str], Sequence[str]]) -> list[str]:
    """The URLs of ``route`` with each argument filled from ``arguments``, keyed by (segment
    before it, name) or ("", name) for any segment; several values give several URLs."""
    choices = []
    for key in route.arguments():
        values = arguments.get(key) or arguments.get(("", key[1]))
        if not values:
            raise MissingArgument(
                f"/{route.route} ({route.name}) needs {key[1]!r} after {key[0]!r}/: add an entry for "
                f"{key!r} to the page fixtures' arguments (tests/browser/test_accessibility.py)"
            )
        choices.append(values)
    urls = []
    for combination in itertools.product(*choices):
        values = list(combination)
        urls.append("/" + ARGUMENT.sub(lambda _match, values=values: str(values.pop(0)), route.route))
    return urls


def site_arguments(facility: Facility, coordinator: User) -> dict[tuple[str, str], list[str]]:
    """Objects for every argument a route takes, keyed by (segment before it, name): an inquiry
    with a pre-screen waiting for sign-off, its person's consents, a disclosure, a messaging hold,
    a place on a waitlist, an expected discharge and a lead import (its file goes to
    ``settings.IMPORT_FILES_DIR``: point it at a temporary folder)."""
    program = ProgramFactory(
        facility=facility,
        name="Harbor Medical Detox",
        setting="withdrawal",
        level_of_care=LevelRef.get("3.7-WM"),
    )
    person = PersonFactory(first_name="Morgan", last_name="Reyes", email="morgan@example.org")
    inquiry = InquiryFactory(facility=facility, person=person, stage=Stage.CONTACTED, assigned_to=coordinator)
    answers = screen(use("baclofen", 30, 80, "mg", prescribed=True), withdrawal={"symptoms_now": True})
    screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)
    InsurancePolicy.objects.create(inquiry=inquiry, payer_name="Blue Plan", member_id="XJ123")
    consent = make_consent(inquiry, coordinator, signer_name="Morgan Reyes")
    disclosure = disclosure_make(
        inquiry=inquiry,
        path=DisclosurePath.OUTSIDE_VOB,
        recipient=Recipient(type=RecipientType.VOB_COMPANY, name="Apex Benefits"),
        purpose=Purpose.BENEFITS,
        information=[Information.DEMOGRAPHICS, Information.INSURANCE],
        actor=coordinator,
    )
    email = ContactConsent.objects.create(
        person=person,
        medium="email",
        address=person.email,
        source="web form",
        consent_text="I agree to receive emails about my inquiry.",
        captured_at=timezone.now() - dt.timedelta(minutes=1),
    )
    hold = MessagingHold.objects.create(
        person=person, inquiry=inquiry, reason=MessagingHold.Reason.UNCLEAR_REPLY
    )
    # written directly: the waitlist service takes only inquiries a clinician signed off
    waiting = WaitlistEntry.objects.create(
        inquiry=InquiryFactory(facility=facility, stage=Stage.APPROVED),
        program=program,
        earliest_start=timezone.localdate(),
        created_by=coordinator,
    )
    discharge = Discharge.objects.create(program=program, on=timezone.localdate() + dt.timedelta(days=3))
    upload = io.BytesIO(b"first_name,last_name,phone\nAvery,Lane,+17275550190\n")
    job = import_job_create(upload=upload, file_name="leads.csv", facility=facility, actor=coordinator)
    return {
        ("inquiries", "pk"): [str(inquiry.pk)],
        ("waitlist", "pk"): [str(waiting.pk)],
        ("", "name"): [next(iter(WAITLIST_ACTIONS))],
        ("discharges", "pk"): [str(discharge.pk)],
        ("imports", "pk"): [str(job.pk)],
        ("", "action"): ["cancel"],
        ("", "inquiry_id"): [str(inquiry.pk)],
        ("people", "pk"): [str(person.pk)],
        ("act", "name"): [next(iter(ACTIONS))],
        ("consents", "pk"): [str(consent.pk)],
        ("disclosures", "pk"): [str(disclosure.pk)],
        ("disclose", "path"): [str(p) for p in DisclosurePath],
        ("holds", "pk"): [str(hold.pk)],
        ("unsubscribe", "token"): [unsubscribe_token(consent_id=email.pk)],
        ("", "uidb64"): [urlsafe_base64_encode(force_bytes(coordinator.pk))],
        ("", "token"): [default_token_generator.make_token(coordinator)],
    }
