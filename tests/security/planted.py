"""A world with marker values planted in every category of PHI, and every page that could show them.

Used by the read-audit test (every page that shows a marker wrote an audit row) and the masking
test (no role sees a marker of a category ``crm.masking`` does not give it). Pages come from the
URL conf (``tests.security.test_matrix.routes``) with the planted records' ids, plus the query
strings that change what a page shows (queue tabs, searches, the duplicate check), the Django
admin pages of the PHI models, and the JSON API; ``form_posts`` reads the forms of a page for the
read-audit test's POSTs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urljoin, urlsplit

from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from admissions.api.keys import lead_source_key_create
from admissions.messaging.models import MessagingHold
from admissions.messaging.unsubscribe import unsubscribe_token
from admissions.models import Caller, ContactConsent, FollowUp, InquiryEvent, InsurancePolicy
from admissions.pipeline import Stage
from admissions.screening.api import SCREENING_EXAMPLE_REQUEST
from admissions.screening.services import screening_save
from crm.masking import Category
from crm.roles import Role
from privacy.models import Information, Purpose, RecipientType
from privacy.services import Recipient, disclosure_make
from tests.factories import FacilityFactory, InquiryFactory, LeadSourceFactory, PersonFactory, UserFactory
from tests.privacy.conftest import make_consent
from tests.security.test_matrix import routes
from tests.signin import login_verified

PHONE = "+18135550199"
MARKERS: dict[Category, tuple[str, ...]] = {
    Category.NAME: ("Quillonaire", "Zephyrine", "Callerbrandt"),
    Category.CONTACT: ("555-0199", "5550199", "zephyr.marker@example.org", "Mar 3, 1987", "1987-03-03"),
    Category.CLINICAL: ("Markerwords", "Markerol", "Markerreason", "baclofen 77 mg", "Baclofen 77 mg"),
    Category.INSURANCE_IDS: ("MEMBMARK4417", "Subscriberella", "GRPMARK88"),
}
ROLES = ("coordinator", "clinician", "vob", "manager", "admin", "marketing", "staff_manager")


def shown(body: str, category: Category, url: str = "") -> list[str]:
    """The markers of ``category`` in ``body``, leaving out what the URL's own query said (a
    search box repeats the text searched for)."""
    for value in parse_qs(urlsplit(url).query).values():
        for text in value:
            for form in (text, escape(text), quote_plus(text), quote(text), quote(text, safe="()")):
                body = body.replace(form, "")
    return [marker for marker in MARKERS[category] if marker in body]


@dataclass
class World:
    users: dict[str, Any]
    inquiry: Any
    person: Any
    token: str
    ids: dict[str, int | str]
    urls: list[tuple[str, str]] = field(default_factory=list)  # (what, url)


def build(facility: Any) -> World:
    """The planted records, at ``facility``; users of every role work there."""
    source = LeadSourceFactory(name="Planted Source", default_facility=facility)
    person = PersonFactory(
        first_name="Quillonaire",
        last_name="Zephyrine",
        phone=PHONE,
        email="zephyr.marker@example.org",
        date_of_birth=timezone.datetime(1987, 3, 3).date(),
    )
    caller = Caller.objects.create(relationship="parent", name="Callerbrandt", phone="+18135550198")
    users = {
        "coordinator": UserFactory(username="p-coord", role=Role.COORDINATOR, facilities=[facility]),
        "clinician": UserFactory(username="p-clin", role=Role.CLINICAL_REVIEWER, facilities=[facility]),
        "vob": UserFactory(username="p-vob", role=Role.VOB_SPECIALIST, facilities=[facility]),
        "manager": UserFactory(username="p-mgr", role=Role.MANAGER, facilities=[facility]),
        "admin": UserFactory(username="p-admin", role=Role.ADMINISTRATOR, is_staff=True),
        "marketing": UserFactory(username="p-mkt", role=Role.MARKETING, facilities=[facility]),
        # a manager who may use the Django admin: reaches the admin pages of PHI models
        "staff_manager": UserFactory(
            username="p-staffmgr", role=Role.MANAGER, facilities=[facility], is_staff=True
        ),
    }
    inquiry = InquiryFactory(
        facility=facility,
        person=person,
        caller=caller,
        lead_source=source,
        stage=Stage.CONTACTED,
        assigned_to=users["coordinator"],
        message="Markerwords: my own words about my drinking",
    )
    inquiry.substances.set([])
    InsurancePolicy.objects.create(
        inquiry=inquiry,
        member_id="MEMBMARK4417",
        group_number="GRPMARK88",
        subscriber_name="Subscriberella",
        vob_status="requested",
        vob_requested_at=timezone.now(),
    )
    ContactConsent.objects.create(
        person=person,
        medium="sms",
        address=PHONE,
        source="call",
        consent_text="ok",
        captured_at=timezone.now(),
    )
    email_consent = ContactConsent.objects.create(
        person=person,
        medium="email",
        address="zephyr.marker@example.org",
        source="web form",
        consent_text="ok",
        captured_at=timezone.now(),
    )
    hold = MessagingHold.objects.create(
        person=person, inquiry=inquiry, reason=MessagingHold.Reason.UNCLEAR_REPLY
    )
    InquiryEvent.objects.create(inquiry=inquiry, kind="touch", body="Markerwords again, on a second call")
    InquiryEvent.objects.create(
        inquiry=inquiry,
        kind="stage_changed",
        data={"from": "new", "to": "contacted", "reason": "Markerreason"},
    )
    answers = {**SCREENING_EXAMPLE_REQUEST["answers"]}
    answers["substances"] = {"baclofen": {**answers["substances"]["baclofen"], "amount_per_day": 77}}
    answers["medical"] = {**answers["medical"], "medications": "Markerol 40 mg"}
    # the ids a pre-screen records among its (clinical) answers are still insurance ids
    answers["insurance"] = {
        **answers.get("insurance", {}),
        "member_id": "MEMBMARK4417",
        "group_number": "GRPMARK88",
        "subscriber_name": "Subscriberella",
    }
    screening = screening_save(inquiry_id=inquiry.pk, answers=answers, actor=users["coordinator"]).screening
    inquiry.refresh_from_db()
    FollowUp.objects.create(
        inquiry=inquiry,
        kind=FollowUp.Kind.CALL_TASK,
        channel=FollowUp.Channel.TASK,
        due_at=timezone.now() - timedelta(minutes=5),
        dedupe_key=f"planted:{inquiry.pk}",
    )
    consent = make_consent(inquiry, users["coordinator"], signer_name="Quillonaire Zephyrine")
    disclosure = disclosure_make(
        inquiry=inquiry,
        path="outside_vob",
        recipient=Recipient(type=RecipientType.VOB_COMPANY, name="Apex Benefits"),
        purpose=Purpose.BENEFITS,
        information=[Information.DEMOGRAPHICS, Information.INSURANCE],
        actor=users["coordinator"],
    )
    InquiryFactory(facility=FacilityFactory(name="Planted Elsewhere"))  # a record nobody here may see
    _, token = lead_source_key_create(lead_source=source, rate_limit_per_minute=1_000_000)
    ids = {
        "pk": inquiry.pk,
        "inquiry_id": inquiry.pk,
        "lead_id": inquiry.pk,
        "source_ref": source.pk,
        "person": person.pk,
        "consent": consent.pk,
        "disclosure": disclosure.pk,
        "screening": screening.pk,
        "hold": hold.pk,
        "token": unsubscribe_token(consent_id=email_consent.pk),
    }
    world = World(users=users, inquiry=inquiry, person=person, token=token, ids=ids)
    world.urls = _urls(world)
    return world


# Route -> the values of its parameters, where the inquiry's id is not the one to use.
_PARAMETERS = {
    "people/<int:pk>/export/": {"pk": "person"},
    "privacy/consents/<int:pk>/": {"pk": "consent"},
    "privacy/disclosures/<int:pk>/": {"pk": "disclosure"},
    "messaging/holds/<int:pk>/release": {"pk": "hold"},
}
# Routes that show nothing of a person whatever they are given.
_NO_RECORD = (
    *("login/", "logout/", "mfa/", "password-reset/", "healthz"),
    *("api/schema/", "api/docs/"),
)


def _urls(world: World) -> list[tuple[str, str]]:
    urls = []
    for route in routes():
        if route.startswith(_NO_RECORD):
            continue
        names = _PARAMETERS.get(route, {})
        values = {
            **world.ids,
            "name": "note",
            "path": "outside_vob",
            "action": "check",
            "ref": "cts_0",
            "event": "start",
        }

        def fill(match: re.Match[str], names: dict[str, str] = names, values: dict[str, Any] = values) -> str:
            name = match.group(1).split(":")[-1]
            return str(values[names.get(name, name)])

        urls.append((route, "/" + re.sub(r"<([^>]+)>", fill, route)))
    queue = reverse("home")
    for tab in ("new", "due", "mine", "unassigned", "open"):
        urls.append((f"queue tab {tab}", f"{queue}?tab={tab}"))
    for what, text in (
        ("name", "Quillonaire"),
        ("email", "zephyr.marker@example.org"),
        ("phone", "(813) 555-0199"),
        ("number", f"#{world.inquiry.pk}"),
    ):
        urls.append((f"search by {what}", f"{queue}?q={text}"))
    check = reverse("admissions:intake-duplicates")
    urls.append(("duplicate check by phone", f"{check}?phone=8135550199"))
    urls.append(("duplicate check by email", f"{check}?email=zephyr.marker@example.org"))
    urls.append(("review queue red flags", f"{reverse('screening_ui:review-queue')}?tab=red-flag"))
    for path in ("referral_packet", "partner"):
        urls.append((f"disclosure form {path}", reverse("privacy:disclose", args=[world.inquiry.pk, path])))
    download = reverse("privacy:disclosure", args=[world.ids["disclosure"]])
    urls.append(("disclosure download", f"{download}?download=1"))
    urls.extend(_admin_urls(world))
    return urls


def _admin_urls(world: World) -> list[tuple[str, str]]:
    """Every admin page of a model whose admin is facility-scoped: list, search, record, history."""
    from crm.admin import FacilityScopedAdmin

    out = []
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, FacilityScopedAdmin):
            continue
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        out.append((f"admin list {meta.label}", changelist))
        out.append((f"admin search {meta.label}", f"{changelist}?q=Zephyrine"))
        obj = model_admin.get_queryset(_Request(world.users["staff_manager"])).order_by("pk").first()
        if obj is not None:
            for view in ("change", "history", "delete"):
                url = reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])
                out.append((f"admin {view} {meta.label}", url))
    return out


class _Request:
    def __init__(self, user: Any) -> None:
        self.user = user


def client_for(world: World, role: str, url: str) -> Client:
    if role == "marketing" and url.startswith("/api/v1/leads/"):
        return Client(HTTP_AUTHORIZATION=f"Bearer {world.token}")
    client = Client()
    login_verified(client, world.users[role])
    return client


class _Forms(HTMLParser):
    """The ``method="post"`` forms of a page: their action and fields (name, kind, value)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, list[tuple[str, str, str]]]] = []
        self._open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._open = values.get("method", "get").lower() == "post"
            if self._open:
                self.forms.append((values.get("action", ""), []))
        elif self._open and tag in ("input", "select", "textarea", "button") and values.get("name"):
            default = "submit" if tag == "button" else "text"
            kind = values.get("type", default).lower() if tag in ("input", "button") else tag
            self.forms[-1][1].append((values["name"], kind, values.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = False


NOT_VALID = "!"  # not a date, a number, a choice, a phone or an email


def form_posts(url: str, body: str) -> list[tuple[str, dict[str, str]]]:
    """Each form of a page that posts something to fill in, as its target and a body that fails
    validation where anything can: hidden values kept (they name the record or the step), every
    other field ``NOT_VALID``, and the first named button as if clicked. Forms that are only a
    button (sign out, confirm a deletion) are left out: sending them does the thing, and an empty
    POST to every route covers their answers."""
    parser = _Forms()
    parser.feed(body)
    out = []
    for action, fields in parser.forms:
        target = urljoin(url, action) if action else url.split("?")[0]
        filled = [(name, kind) for name, kind, _ in fields if kind not in ("hidden", "submit", "button")]
        if not filled or target.startswith(("/logout/", "http")):
            continue
        data = {name: value for name, kind, value in fields if kind == "hidden"}
        data.update({name: NOT_VALID for name, _ in filled})
        # the first named submit button, as a browser sends the one clicked (place: hold or waitlist)
        button = next(((name, value) for name, kind, value in fields if kind == "submit"), None)
        if button is not None:
            data.setdefault(*button)
        out.append((target, data))
    return out
