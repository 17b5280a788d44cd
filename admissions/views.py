"""Coordinator pages: the work queue with search, quick intake and the VOB queue."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from admissions.casework import (
    CaseworkError,
    IntakeData,
    cross_facility_duplicate_resolve,
    cross_facility_duplicates_for,
    intake_create,
    intake_paused_audit,
    open_inquiries_matching,
)
from admissions.cross_facility import intake_paused_for, users_paused
from admissions.filters import QueueFilter
from admissions.forms import QuickIntakeForm, yes_no
from admissions.models import CrossFacilityDuplicate, Inquiry, InsurancePolicy
from admissions.normalise import email_normalise, phone_normalise
from admissions.pipeline import OPEN_STAGES
from admissions.selectors import (
    DUE_COUNT_CAP,
    DUE_LIST_CAP,
    SPEED_TO_LEAD_TARGET_MINUTES,
    QueueTab,
    followup_rows,
    followups_due_for,
    inquiries_search,
    inquiries_visible_to,
    inquiry_rows,
    queue_counts,
    queue_tab,
)
from crm.audit import audit_list, audit_record
from crm.models import AuditEvent, Facility
from crm.scoping import facility_ids_for, scope_to_user

PAGE_SIZE = 50
VIEW_INQUIRIES = "admissions.view_inquiry"


@login_required
@permission_required(VIEW_INQUIRIES, raise_exception=True)
@require_GET
def open_inquiries(request: HttpRequest) -> HttpResponse:
    """The work queue: tabs with counts, filters kept in the URL, and search."""
    now = timezone.now()
    user = request.user
    filters = QueueFilter(request.GET or None, queryset=inquiries_visible_to(user), request=request)
    base = filters.qs if filters.is_bound and filters.is_valid() else inquiries_visible_to(user)
    query = request.GET.get("q", "").strip()
    tab = request.GET.get("tab", QueueTab.NEW)
    if tab not in QueueTab.values:
        tab = QueueTab.NEW
    due_ids: list[int] | None = None
    if tab == QueueTab.DUE and not query:
        # the most overdue, as ids in due order: counted and paged from one bounded query
        due = followups_due_for(user, base=base, now=now)  # type: ignore[arg-type]
        due_ids = list(due.values_list("pk", flat=True)[: DUE_LIST_CAP + 1])
    due_count = None if due_ids is None else len(due_ids)
    # Search results are a list of their own: their tabs lead back to the queue, without counts.
    counts = {} if query else queue_counts(base, user=user, now=now, due=due_count)  # type: ignore[arg-type]
    context: dict[str, Any] = {
        "tab_list": [(t.value, t.label, _badge(t.value, counts.get(t.value))) for t in QueueTab],
        "filters": filters,
        "query": query,
        "tabs": QueueTab,
        "tab": tab,
        "now": now,
        "target_minutes": SPEED_TO_LEAD_TARGET_MINUTES,
        "params": _params_without(request, "tab", "page"),
        "page_params": _params_without(request, "page"),
    }
    paginator: Paginator[Any]
    if query:
        paginator = Paginator(inquiries_search(base, query), PAGE_SIZE)  # ids
        context["searching"] = True
    elif due_ids is not None:
        context["due_more"] = len(due_ids) > DUE_LIST_CAP
        context["due_cap"] = DUE_LIST_CAP
        paginator = Paginator(due_ids[:DUE_LIST_CAP], PAGE_SIZE)
    else:
        rows = queue_tab(base, tab=tab, user=user)  # type: ignore[arg-type]
        paginator = CountedPaginator(rows, PAGE_SIZE, count=counts[tab])
    page = paginator.get_page(request.GET.get("page"))
    if query:
        page.object_list = inquiry_rows(list(page.object_list))
    elif due_ids is not None:
        page.object_list = followup_rows(list(page.object_list))
    shown = [row.inquiry_id if due_ids is not None and not query else row.pk for row in page.object_list]
    audit_list(
        model=Inquiry,
        ids=shown,
        actor=request.user,  # type: ignore[arg-type]
        what="search" if query else f"queue:{tab}",
        fields=["person.name", "stage", "owner"],
        request=request,
    )
    context["page"] = page
    template = "admissions/_queue_results.html" if request.htmx else "admissions/queue.html"  # type: ignore[attr-defined]
    return render(request, template, context)


def _badge(tab: str, count: int | None) -> int | str | None:
    if count is not None and tab == QueueTab.DUE and count > DUE_COUNT_CAP:
        return f"{DUE_COUNT_CAP}+"
    return count


class CountedPaginator(Paginator):  # type: ignore[type-arg]
    """A paginator told its row count: a queue tab's count is already on its tab, so the page
    does not count the same rows twice."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self.__dict__["count"] = count  # Paginator.count is a cached_property


def _params_without(request: HttpRequest, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


@login_required
@permission_required("admissions.add_inquiry", raise_exception=True)
@require_http_methods(["GET", "POST"])
def intake(request: HttpRequest) -> HttpResponse:
    """Quick intake from a live call."""
    ids = facility_ids_for(request.user)
    facilities = Facility.objects.filter(is_active=True).order_by("name")
    if ids is not None:
        facilities = facilities.filter(pk__in=ids)
    form = QuickIntakeForm(request.POST or None, facilities=facilities)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            inquiry = intake_create(
                data=IntakeData(
                    facility=data["facility"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    phone=data["phone"],
                    email=data["email"],
                    date_of_birth=data["date_of_birth"],
                    state=data["state"],
                    postal_code=data["postal_code"],
                    caller_relationship=data["caller_relationship"],
                    caller_name=data["caller_name"],
                    caller_phone=data["caller_phone"],
                    lead_source=data["lead_source"],
                    substances=data["substances"],
                    message=data["message"],
                    consent_sms=data["consent_sms"],
                    consent_call=data["consent_call"],
                    consent_email=data["consent_email"],
                    consent_text=data["consent_text"],
                    ok_to_text=yes_no(data["ok_to_text"]),
                    ok_to_voicemail=yes_no(data["ok_to_voicemail"]),
                    payer=data["payer"],
                    member_id=data["member_id"],
                ),
                actor=request.user,  # type: ignore[arg-type]
                request=request,
            )
        except CaseworkError as exc:
            form.add_error(exc.field, str(exc))
        else:
            audit_record(
                action=AuditEvent.Action.CREATE,
                obj=inquiry,
                actor=request.user,  # type: ignore[arg-type]
                request=request,
                fields=sorted(name for name, value in data.items() if value not in ("", None, False, [])),
            )
            messages.success(request, f"Inquiry #{inquiry.pk} opened. Run the pre-screen next.")
            return redirect("admissions:inquiry", pk=inquiry.pk)
    return render(request, "admissions/intake.html", {"form": form})


# Lookups a user may make per minute: a coordinator types one caller at a time; a script trying
# phone numbers to learn who is in treatment gets 429.
DUPLICATE_CHECKS_PER_MINUTE = 30


def _duplicate_check_allowed(user_id: int | None) -> bool:
    minute = int(timezone.now().timestamp() // 60)
    key = f"intake-duplicates:{user_id}:{minute}"
    cache.add(key, 0, 90)
    try:
        return cache.incr(key) <= DUPLICATE_CHECKS_PER_MINUTE
    except ValueError:  # the key expired between add and incr
        return True


@login_required
@permission_required("admissions.add_inquiry", raise_exception=True)
@require_GET
def intake_duplicates(request: HttpRequest) -> HttpResponse:
    """The duplicate warning shown while the phone number or email is typed (an HTMX partial).

    It shows open inquiries of the user's facilities only, and nothing about any other facility;
    each lookup is audited with the inquiries it showed, and a user gets at most
    ``DUPLICATE_CHECKS_PER_MINUTE`` a minute. While the user's intake is paused it looks up
    nothing and says so."""
    if not _duplicate_check_allowed(request.user.pk):
        response = render(request, "admissions/_duplicates.html", {"throttled": True}, status=429)
        response["Retry-After"] = "60"
        return response
    if intake_paused_for(request.user):  # type: ignore[arg-type]
        # The same answer whatever was typed: nothing is looked up while intake is paused.
        intake_paused_audit(actor=request.user, what="duplicate check", request=request)  # type: ignore[arg-type]
        return render(request, "admissions/_duplicates.html", {"paused": True})
    phone = email = ""
    try:
        phone = phone_normalise(request.GET.get("phone", "")) if request.GET.get("phone") else ""
    except ValueError:
        phone = ""
    try:
        email = email_normalise(request.GET.get("email", "")) if request.GET.get("email") else ""
    except ValueError:
        email = ""
    if not (phone or email):
        return render(request, "admissions/_duplicates.html", {"matches": []})
    visible = list(
        open_inquiries_matching(phone=phone, email=email)
        .filter(pk__in=inquiries_visible_to(request.user).values("pk"))
        .select_related("person", "facility", "assigned_to")[:5]
    )
    audit_list(
        model=Inquiry,
        ids=[inquiry.pk for inquiry in visible],
        actor=request.user,  # type: ignore[arg-type]
        what="duplicate check",
        fields=[*(["by phone"] if phone else []), *(["by email"] if email else []), "person.name", "stage"],
        request=request,
        even_empty=True,
    )
    return render(request, "admissions/_duplicates.html", {"matches": visible})


@login_required
@permission_required("admissions.change_insurancepolicy", raise_exception=True)
@require_GET
def vob_queue(request: HttpRequest) -> HttpResponse:
    """Insurance verifications waiting, oldest request first."""
    policies = (
        scope_to_user(InsurancePolicy.objects.all(), request.user, facility_field="inquiry__facility")
        .filter(
            vob_status__in=[InsurancePolicy.VobStatus.REQUESTED, InsurancePolicy.VobStatus.IN_PROGRESS],
            inquiry__stage__in=sorted(OPEN_STAGES),
        )
        .select_related("payer", "inquiry__facility")
        .order_by("vob_requested_at", "pk")
    )
    page = Paginator(policies, PAGE_SIZE).get_page(request.GET.get("page"))
    audit_list(
        model=Inquiry,
        ids=[policy.inquiry_id for policy in page.object_list],
        actor=request.user,  # type: ignore[arg-type]
        what="vob queue",
        fields=["insurance.member_id", "insurance.payer", "insurance.subscriber_name"],
        request=request,
    )
    return render(request, "admissions/vob_queue.html", {"page": page, "now": timezone.now()})


class ResolveDuplicateForm(forms.Form):
    duplicate = forms.IntegerField(min_value=1)
    resolution = forms.ChoiceField(choices=CrossFacilityDuplicate.Resolution.choices)


@login_required
@permission_required("admissions.change_inquiry", raise_exception=True)
@require_http_methods(["GET", "POST"])
def cross_facility_duplicates(request: HttpRequest) -> HttpResponse:
    """Intakes refused, and leads joined, because the caller has an open inquiry at another
    facility, for a manager who works at both to settle; a coordinator of one facility sees none.
    Users whose intake is paused are named; settling all of a user's rows lifts their pause."""
    rows = cross_facility_duplicates_for(request.user)  # type: ignore[arg-type]
    if request.method == "POST":
        form = ResolveDuplicateForm(request.POST)
        if not form.is_valid():
            return HttpResponseBadRequest("Choose a possible duplicate and how it was settled.")
        duplicate = rows.filter(pk=form.cleaned_data["duplicate"]).first()
        if duplicate is None:
            raise Http404("No such possible duplicate.")
        cross_facility_duplicate_resolve(
            duplicate=duplicate,
            resolution=form.cleaned_data["resolution"],
            actor=request.user,  # type: ignore[arg-type]
        )
        audit_record(
            action=AuditEvent.Action.UPDATE,
            obj=duplicate,
            actor=request.user,  # type: ignore[arg-type]
            request=request,
            fields=["resolution"],
        )
        messages.success(request, f"Marked: {duplicate.get_resolution_display().lower()}.")
        return redirect("admissions:cross-duplicates")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    audit_list(
        model=Inquiry,
        ids=[duplicate.inquiry_id for duplicate in page.object_list],
        actor=request.user,  # type: ignore[arg-type]
        what="cross-facility duplicates",
        fields=["person.name", "facility"],
        request=request,
    )
    context = {
        "page": page,
        "resolutions": CrossFacilityDuplicate.Resolution.choices,
        "paused": users_paused(among=rows),
    }
    return render(request, "admissions/cross_duplicates.html", context)
