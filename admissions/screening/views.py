"""Pre-screen pages: run and resume a screen with a live recommendation, the clinical review
queue, clinician sign-off and the coordinator's match override.

Thin views over ``admissions.screening.services``: roles decide what a user may do (403),
facility scoping decides which inquiries exist for them (404, never 403, so nothing leaks).
Every page that shows a person's answers writes a ``view`` row to the audit trail; saves
are audited by the services.

The screen saves on every change when HTMX is there (``request.htmx``): the form posts
itself after a short pause and gets back only the recommendation panel, the red-flag
banner and the error slots (out-of-band). Without JavaScript the same form posts in full
and the page redirects back to itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from admissions.models import Inquiry, InsurancePolicy
from admissions.pipeline import OPEN_STAGES, Stage
from admissions.screening.definition import AnswersInvalid, FormDefinition
from admissions.screening.forms import (
    PAYER_PATH,
    MatchOverrideForm,
    PayerChoices,
    ScreeningFields,
    SignoffForm,
    Values,
    answers_from_post,
    payer_choices,
    posted_values,
    screening_fields,
    stored_values,
)
from admissions.screening.models import Screening
from admissions.screening.prefill import FROM_INTAKE, Prefill, screening_prefill
from admissions.screening.rules import level_allows
from admissions.screening.services import (
    OVERRIDE_ROLES,
    SCREENING_ROLES,
    SIGNOFF_ROLES,
    ScreeningError,
    caller_consent,
    match_override,
    screening_form_current,
    screening_latest,
    screening_matches,
    screening_save,
    screening_signoff,
)
from crm.audit import audit_list, audit_record
from crm.masking import answers_withheld, sees_for
from crm.models import AuditEvent, User
from crm.roles import Role, has_role
from crm.scoping import scope_to_user
from crm.time_zones import facility_time_activate, moment_text
from programs.matching import MatchResult
from programs.models import LevelOfCare, Payer

# Managers watch the queue; only clinical reviewers sign off.
REVIEW_QUEUE_ROLES = (*SIGNOFF_ROLES, Role.MANAGER)
REVIEW_PAGE_SIZE = 25
# The audit trail names what a page showed.
SCREENING_FIELDS_SHOWN = ["answers", "result", "provisional_level", "safety_flags"]
PERSON_FIELDS_SHOWN = ["person.first_name", "person.last_name", "stage", "facility"]

FLAG_LABELS = {
    "emergency_now": "Emergency now",
    "suicide_risk": "Suicide risk",
    "baclofen_pump": "Baclofen pump problem",
    "sedative_withdrawal": "Sedative withdrawal risk",
    "pregnancy_withdrawal": "Pregnancy with withdrawal risk",
    "severe_psychiatric": "Severe psychiatric symptoms",
}
MODIFIER_LABELS = {
    "withdrawal_management": "Needs withdrawal management",
    "co_occurring_enhanced": "Needs a co-occurring-enhanced program",
    "biomedical": "Physical health needs (programs with medical support first)",
}


# --- access --------------------------------------------------------------------------------


def signed_in(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``login_required`` that sends an expired HTMX session to the sign-in page as a whole page.

    A plain redirect would be followed by the XHR and the sign-in form swapped into the panel.
    """
    plain = login_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:  # type: ignore[attr-defined]
            page = request.htmx.current_url_abs_path or request.get_full_path()  # type: ignore[attr-defined]
            return HttpResponseClientRedirect(redirect_to_login(page)["Location"])
        return plain(request, *args, **kwargs)

    return wrapper


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require_role(request: HttpRequest, roles: tuple[Role, ...]) -> None:
    if not has_role(_user(request), *roles):
        raise PermissionDenied("Your role cannot open this page.")


def _inquiry_or_404(request: HttpRequest, inquiry_id: int) -> Inquiry:
    """The inquiry if the user's facilities include it; 404 otherwise (never 403: no leak)."""
    inquiry = (
        scope_to_user(Inquiry.objects.select_related("person", "facility", "caller"), _user(request))
        .filter(pk=inquiry_id)
        .first()
    )
    if inquiry is None:
        raise Http404("No such inquiry.")
    facility_time_activate(inquiry.facility)  # its times are read and shown in its facility's zone
    return inquiry


def _inquiry_url(inquiry: Inquiry) -> str | None:
    """The inquiry page, once it exists."""
    try:
        return reverse("admissions:inquiry", kwargs={"pk": inquiry.pk})
    except NoReverseMatch:
        return None


def _audit_view(
    request: HttpRequest, inquiry: Inquiry, screening: Screening | None, *, also: list[str] | None = None
) -> None:
    audit_record(
        action=AuditEvent.Action.VIEW,
        obj=inquiry,
        actor=_user(request),
        fields=[*PERSON_FIELDS_SHOWN, *(also or [])],
        request=request,
    )
    if screening is not None:
        audit_record(
            action=AuditEvent.Action.VIEW,
            obj=screening,
            actor=_user(request),
            fields=SCREENING_FIELDS_SHOWN,
            request=request,
        )


def _prefill_fields_shown(prefill: Prefill) -> list[str]:
    """The inquiry's own records a pre-filled page shows, for the audit trail."""
    shown = {
        "logistics": "person.contact_preferences",
        "insurance": "insurance",
        "readiness": "message",
    }
    fields = [shown[section] for section in prefill.answers if section in shown]
    if prefill.hints:
        fields.append("substances")
    if prefill.caller:
        fields.append("caller")
    return fields


# --- what the result panel shows -----------------------------------------------------------


@dataclass
class Recommendation:
    """A screening's result in the shape the templates read."""

    screening: Screening | None
    result: dict[str, Any]
    matches: MatchResult | None

    @property
    def flags(self) -> list[dict[str, Any]]:
        return [
            {**flag, "label": FLAG_LABELS.get(flag["code"], flag["code"].replace("_", " ").capitalize())}
            for flag in self.result.get("safety_flags") or []
        ]

    @property
    def crisis(self) -> bool:
        return any(f.get("route_to") == Stage.CRISIS_ROUTED for f in self.result.get("safety_flags") or [])

    @property
    def modifiers(self) -> list[str]:
        return [MODIFIER_LABELS.get(m, m) for m in self.result.get("modifiers") or []]

    @property
    def missing(self) -> list[str]:
        return list(self.result.get("missing_safety") or [])

    @property
    def emergency(self) -> list[dict[str, Any]]:
        return [f for f in self.flags if f["code"] == "emergency_now"]

    @property
    def levels(self) -> dict[str, Any]:
        """The provisional levels (first placement, withdrawal, treatment, integrated), once complete."""
        if self.screening is None or not self.screening.complete:
            return {}
        return dict(self.result.get("levels") or {})

    @property
    def needs(self) -> list[dict[str, Any]]:
        return list(self.result.get("needs") or [])

    @property
    def withheld(self) -> str:
        return self.matches.withheld if self.matches else ""

    @property
    def withheld_reason(self) -> str:
        return self.matches.withheld_reason if self.matches else ""

    @property
    def fitting(self) -> list[Any]:
        return [m for m in self.matches.matches if not m.excluded] if self.matches else []

    @property
    def excluded(self) -> list[Any]:
        return [m for m in self.matches.matches if m.excluded] if self.matches else []


def _recommendation(screening: Screening | None) -> Recommendation:
    if screening is None:
        return Recommendation(screening=None, result={}, matches=None)
    return Recommendation(
        screening=screening, result=screening.result or {}, matches=screening_matches(screening=screening)
    )


def _definition(screening: Screening | None) -> FormDefinition:
    """The open screen keeps its version; a new screen (or a re-screen after sign-off) uses the newest."""
    if screening is not None and not screening.is_signed:
        return screening.form.loaded()
    return screening_form_current().loaded()


def _missing_labels(definition: FormDefinition, missing: list[str]) -> list[tuple[str, str]]:
    """(input id, question text) of each unanswered safety item, for links from the panel; a
    substance's questions are named with the substance ("Alcohol: On how many of the last 30 days?")."""
    out = []
    for path in missing:
        try:
            label = definition.item_label(path)
        except KeyError:
            label = path
        section, _, rest = path.partition(".")
        row = rest.split(".")[0] if "." in rest else ""
        if row:
            try:
                names = dict(definition.section(section).get("rows") or [])
            except KeyError:
                names = {}
            label = f"{names.get(row, row.replace('_', ' '))}: {label}"
        out.append(("q-" + path.replace(".", "-"), label))
    return out


def _prefill(
    request: HttpRequest, inquiry: Inquiry, definition: FormDefinition, screening: Screening | None
) -> Prefill:
    """What intake recorded, proposed for the questions the screen leaves open (two queries)."""
    policy = InsurancePolicy.objects.filter(inquiry_id=inquiry.pk, rank=InsurancePolicy.Rank.PRIMARY).first()
    return screening_prefill(
        inquiry=inquiry,
        definition=definition,
        answers=screening.answers if screening else {},
        policy=policy,
        substance_names=list(inquiry.substances.values_list("name", flat=True)),
        sees=sees_for(_user(request)),
    )


# --- the pre-screen ------------------------------------------------------------------------


def _screening_context(
    request: HttpRequest,
    inquiry: Inquiry,
    screening: Screening | None,
    *,
    fields: ScreeningFields,
    definition: FormDefinition,
    recommendation: Recommendation,
    override_form: MatchOverrideForm | None = None,
    saved: bool = False,
    prefill: Prefill | None = None,
) -> dict[str, Any]:
    user = _user(request)
    # Completeness shows from the first look: before anything is saved every safety item is open.
    missing = recommendation.missing if screening is not None else definition.missing_safety({})
    return {
        "inquiry": inquiry,
        "person": inquiry.person,
        "inquiry_url": _inquiry_url(inquiry),
        "screening": screening,
        "definition": definition,
        "fields": fields,
        "rec": recommendation,
        "missing": _missing_labels(definition, missing),
        "prefill": prefill,
        "red_flag": inquiry.has_red_flag or bool(recommendation.flags),
        "can_override": has_role(user, *OVERRIDE_ROLES)
        and screening is not None
        and not recommendation.withheld,
        "caller_consent": caller_consent(inquiry=inquiry),
        "can_sign_off": has_role(user, *SIGNOFF_ROLES) and screening is not None,
        "override_form": override_form or MatchOverrideForm(),
        "saved": saved,
    }


def _render_page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, "screening/screening.html", context, status=status)


@signed_in
@require_http_methods(["GET", "POST"])
def screening_page(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    """Run or resume the pre-screen of an inquiry; with HTMX each change saves and refreshes the panel."""
    _require_role(request, SCREENING_ROLES)
    inquiry = _inquiry_or_404(request, inquiry_id)
    screening = screening_latest(inquiry_id=inquiry.pk, inquiry=inquiry)
    definition = _definition(screening)
    stored = _values(request, definition, screening.answers if screening else {})
    payers = payer_choices()
    if request.method == "GET":
        recommendation = _recommendation(screening)
        prefill = _prefill(request, inquiry, definition, screening)
        fields = _form_fields(
            request,
            definition,
            screening,
            values={**stored_values(definition, prefill.answers), **stored},
            sources=dict.fromkeys(prefill.paths, FROM_INTAKE),
            hints=prefill.hints,
            payers=payers,
        )
        _audit_view(request, inquiry, screening, also=_prefill_fields_shown(prefill))
        context = _screening_context(
            request,
            inquiry,
            screening,
            fields=fields,
            definition=definition,
            recommendation=recommendation,
            prefill=prefill,
        )
        return _render_page(request, context)

    posted = _posted(request)
    answers, errors = answers_from_post(definition, posted, payers=payers)
    errors = {**errors, **_withheld_typed(request)}
    saved = None
    if not errors and answers:
        try:
            saved = screening_save(
                inquiry_id=inquiry.pk, answers=answers, actor=_user(request), request=request
            )
        except AnswersInvalid as exc:
            errors = exc.errors
        except ScreeningError as exc:
            errors = {exc.field: [str(exc)]}
    if saved is not None:
        inquiry.refresh_from_db(fields=["stage", "has_red_flag"])
        screening = saved.screening
        recommendation = Recommendation(screening=screening, result=screening.result, matches=saved.matches)
        if not request.htmx:  # type: ignore[attr-defined]
            messages.success(request, "Pre-screen saved.")
            return HttpResponseRedirect(reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry.pk}))
        values = _values(request, definition, screening.answers)
        fields = _form_fields(request, definition, screening, values=values, payers=payers)
    else:
        # Nothing saved: show the last saved result, and what was typed with its errors.
        recommendation = _recommendation(screening)
        fields = _form_fields(
            request,
            definition,
            screening,
            values={**stored, **posted_values(posted)},
            errors=errors,
            payers=payers,
        )
    context = _screening_context(
        request,
        inquiry,
        screening,
        fields=fields,
        definition=definition,
        recommendation=recommendation,
        saved=saved is not None,
    )
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "screening/_live.html", context)
    _audit_view(request, inquiry, screening)
    return _render_page(request, context)


@signed_in
@require_POST
def match_override_page(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    """A coordinator or manager chooses another program than the top match, with a reason."""
    _require_role(request, OVERRIDE_ROLES)
    inquiry = _inquiry_or_404(request, inquiry_id)
    screening = screening_latest(inquiry_id=inquiry.pk, inquiry=inquiry)
    if screening is None:
        raise Http404("This inquiry has no pre-screen yet.")
    form = MatchOverrideForm(request.POST)
    if form.is_valid():
        try:
            match_override(
                screening=screening,
                program=form.cleaned_data["program"],
                reason=form.cleaned_data["reason"],
                actor=_user(request),
                request=request,
            )
        except ScreeningError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, "Program match overridden.")
            return HttpResponseRedirect(reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry.pk}))
    definition = _definition(screening)
    context = _screening_context(
        request,
        inquiry,
        screening,
        fields=_form_fields(
            request,
            definition,
            screening,
            values=_values(request, definition, screening.answers),
            payers=payer_choices(),
        ),
        definition=definition,
        recommendation=_recommendation(screening),
        override_form=form,
    )
    _audit_view(request, inquiry, screening)
    return _render_page(request, context)


# --- clinical review -----------------------------------------------------------------------

REVIEW_TABS = {
    "all": "All waiting",
    "red-flag": "Red flags",
    "crisis": "Crisis routed",
}


def _review_queue(user: User) -> QuerySet[Inquiry]:
    """Inquiries waiting for a clinician: in Clinical review, or with an unsigned red-flag screen."""
    open_red_flag = Screening.objects.filter(
        inquiry_id=OuterRef("pk"), signed_at__isnull=True, has_red_flag=True
    )
    waiting = Q(stage=Stage.CLINICAL_REVIEW) | Q(
        Exists(open_red_flag), stage__in=[*sorted(OPEN_STAGES), Stage.CRISIS_ROUTED]
    )
    return scope_to_user(Inquiry.objects.all(), user).filter(waiting)


@signed_in
@require_http_methods(["GET"])
def review_queue(request: HttpRequest) -> HttpResponse:
    """The clinical review queue of the user's facilities, longest waiting first."""
    _require_role(request, REVIEW_QUEUE_ROLES)
    tab = request.GET.get("tab", "all")
    if tab not in REVIEW_TABS:
        tab = "all"
    queue = _review_queue(_user(request))
    counts = queue.aggregate(
        all=Count("pk"),
        red_flag=Count("pk", filter=Q(has_red_flag=True)),
        crisis=Count("pk", filter=Q(stage=Stage.CRISIS_ROUTED)),
    )
    if tab == "red-flag":
        queue = queue.filter(has_red_flag=True)
    elif tab == "crisis":
        queue = queue.filter(stage=Stage.CRISIS_ROUTED)
    rows = (
        queue.select_related("person", "facility")
        .only(
            "id",
            "stage",
            "stage_changed_at",
            "created_at",
            "has_red_flag",
            "person__first_name",
            "person__last_name",
            "facility__name",
        )
        .prefetch_related(
            Prefetch(
                "screenings",
                queryset=Screening.objects.filter(signed_at__isnull=True)
                .select_related("provisional_level")
                .only(
                    "id",
                    "inquiry_id",
                    "complete",
                    "has_red_flag",
                    "safety_flags",
                    "saved_at",
                    "provisional_level__code",
                    "provisional_level__name",
                ),
                to_attr="open_screenings",
            )
        )
        .order_by("stage_changed_at", "pk")
    )
    paginator = Paginator(rows, REVIEW_PAGE_SIZE)
    # The tab's count is known already: no second COUNT query.
    paginator.count = counts["red_flag" if tab == "red-flag" else tab]  # type: ignore[misc]
    page = paginator.get_page(request.GET.get("page"))
    audit_list(
        model=Inquiry,
        ids=[inquiry.pk for inquiry in page.object_list],
        actor=_user(request),
        what=f"review queue:{tab}",
        fields=["person.name", "safety_flags", "provisional_level"],
        request=request,
    )
    for inquiry in page.object_list:
        screenings = getattr(inquiry, "open_screenings", [])
        inquiry.open_screening = screenings[0] if screenings else None  # type: ignore[attr-defined]
        inquiry.flag_labels = [  # type: ignore[attr-defined]
            FLAG_LABELS.get(code, code) for code in (screenings[0].safety_flags if screenings else [])
        ]
    return render(
        request,
        "screening/review_queue.html",
        {
            "page": page,
            "tab": tab,
            "tabs": [
                (key, label, counts["red_flag" if key == "red-flag" else key])
                for key, label in REVIEW_TABS.items()
            ],
            "counts": counts,
            "now": timezone.now(),
            "can_sign_off": has_role(_user(request), *SIGNOFF_ROLES),
        },
    )


def _signoff_levels(definition: FormDefinition) -> QuerySet[LevelOfCare]:
    return LevelOfCare.objects.filter(edition=definition.level_edition, is_active=True).order_by(
        "intensity", "code"
    )


@signed_in
@require_http_methods(["GET", "POST"])
def signoff_page(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    """A clinical reviewer reads the screen and its reasons and signs off the final level."""
    _require_role(request, SIGNOFF_ROLES)
    inquiry = _inquiry_or_404(request, inquiry_id)
    screening = screening_latest(inquiry_id=inquiry.pk, inquiry=inquiry)
    definition = screening.form.loaded() if screening else screening_form_current().loaded()
    levels = _signoff_levels(definition)
    form = SignoffForm(request.POST if request.method == "POST" else None, levels=levels)
    if request.method == "POST" and screening is not None and form.is_valid():
        try:
            screening_signoff(
                screening=screening,
                level=form.cleaned_data["level"],
                note=form.cleaned_data["note"],
                actor=_user(request),
                request=request,
            )
        except ScreeningError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, f"Signed off at {form.cleaned_data['level'].code}.")
            return HttpResponseRedirect(reverse("screening_ui:review-queue"))
    elif request.method == "POST" and screening is None:
        form.add_error(None, "There is no pre-screen to sign off yet.")
    recommendation = Recommendation(
        screening=screening, result=(screening.result or {}) if screening else {}, matches=None
    )
    flags = recommendation.result.get("safety_flags") or []
    level_rows = [
        {
            "level": level,
            "problems": level_allows(
                intensity=level.intensity, withdrawal_management=level.withdrawal_management, flags=flags
            ),
        }
        for level in levels
    ]
    selected = (
        form["level"].value() if form.is_bound else (screening.provisional_level_id if screening else None)
    )
    _audit_view(request, inquiry, screening)
    return render(
        request,
        "screening/signoff.html",
        {
            "inquiry": inquiry,
            "person": inquiry.person,
            "inquiry_url": _inquiry_url(inquiry),
            "screening": screening,
            "rec": recommendation,
            "answers": _answers_read(
                definition, _values(request, definition, screening.answers if screening else {})
            ),
            "missing": _missing_labels(definition, recommendation.missing),
            "red_flag": inquiry.has_red_flag or bool(recommendation.flags),
            "form": form,
            "level_rows": level_rows,
            "selected": str(selected or ""),
        },
    )


def _withheld(request: HttpRequest) -> frozenset[str]:
    """The pre-screen items the user's role may neither read nor write (``crm.masking``)."""
    return answers_withheld(sees_for(_user(request)))


def _values(request: HttpRequest, definition: FormDefinition, answers: dict[str, Any]) -> Values:
    """Stored answers as input values, without the items the user's role may not read
    (``crm.masking.answers_withheld``: insurance identifiers for a clinician)."""
    withheld = _withheld(request)
    return {path: v for path, v in stored_values(definition, answers).items() if path not in withheld}


WITHHELD_RECORDER = "a coordinator or the VOB specialist"


def _form_fields(
    request: HttpRequest,
    definition: FormDefinition,
    screening: Screening | None,
    *,
    values: Values,
    payers: PayerChoices,
    errors: dict[str, list[str]] | None = None,
    sources: dict[str, str] | None = None,
    hints: dict[str, str] | None = None,
) -> ScreeningFields:
    """The pre-screen's questions for this user: the items the role may neither read nor write
    (``crm.masking.answers_withheld``) disabled, each with a hint saying whether it is answered."""
    withheld = _withheld(request)
    recorded = stored_values(definition, screening.answers) if withheld and screening is not None else {}
    locked_hints = {
        path: "Recorded; hidden for your role." if recorded.get(path) else f"Recorded by {WITHHELD_RECORDER}."
        for path in withheld
    }
    return screening_fields(
        definition,
        values=values,
        errors=errors,
        sources=sources,
        hints={**(hints or {}), **locked_hints},
        payers=payers,
        locked=withheld,
    )


def _posted(request: HttpRequest) -> QueryDict:
    """The post without the items the user's role may not read: a role that sees an empty input
    there must not clear (or write) what another role recorded."""
    withheld = _withheld(request)
    if not withheld.intersection(request.POST):
        return request.POST
    posted = request.POST.copy()
    for path in withheld:
        posted.pop(path, None)
    return posted


def _withheld_typed(request: HttpRequest) -> dict[str, list[str]]:
    """An error beside each item the user's role may not write that came with a value: what was
    typed there is refused out loud, not dropped (nothing of the post is saved)."""
    withheld = _withheld(request)
    return {
        path: [f"Your role does not record this: {WITHHELD_RECORDER} does."]
        for path in sorted(withheld)
        if request.POST.get(path, "").strip()
    }


def _answers_read(definition: FormDefinition, values: Values) -> list[dict[str, Any]]:
    """Answered items (as ``_values`` gives them), grouped by section, as (question, answer) text
    for a reader (the payer by its name: one query when a payer is answered)."""
    payer_id = values.get(PAYER_PATH)
    payers = (
        PayerChoices(rows=tuple(Payer.objects.filter(pk=int(payer_id)).values_list("pk", "name")))
        if isinstance(payer_id, str) and payer_id.isdigit()
        else None
    )
    fields = screening_fields(definition, values=values, payers=payers)
    out = []
    for section in fields.sections:
        rows: list[tuple[str, str]] = []
        for f in section.fields:
            rows += _read_field(f)
            for row in f.rows:
                if row.checked:
                    rows += [
                        (f"{row.name}: {sub.label}", text)
                        for sub in row.fields
                        for _, text in _read_field(sub)
                    ]
        if rows:
            out.append({"title": section.title, "rows": rows})
    return out


def _moment_words(value: str, *, with_time: bool) -> str:
    """A date or date-time answer as a reader reads it ("Dec 4, 2026"; "Dec 4, 2:57 AM EST"), in
    the page's zone; what was stored as is when it is not one."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if not with_time:
        return date_format(parsed.date(), "M j, Y")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return moment_text(parsed)


def _read_field(f: Any) -> list[tuple[str, str]]:
    choices = dict(f.choices)
    if f.kind == "multi":
        if not f.values:
            return []
        text = ", ".join("None of these" if v == "__none__" else choices.get(v, v) for v in f.values)
    elif not f.value:
        text = ""
    elif f.kind == "bool":
        text = {"yes": "Yes", "no": "No"}.get(f.value, f.value)
    elif f.kind in ("date", "datetime"):
        text = _moment_words(f.value, with_time=f.kind == "datetime")
    else:
        text = choices.get(f.value, f.value)
    rows = [(f.label, text)] if text else []
    for sub in f.followups:
        rows += _read_field(sub)
    return rows
