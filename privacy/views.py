"""Pages to record and revoke Part 2 consent, make a disclosure, and read a person's ledger.

Permission first (403 for a role that may not), then the record through facility scoping
(404 for another facility's record: no hint that it exists).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from admissions.models import Inquiry
from admissions.selectors import inquiries_visible_to
from crm.audit import audit_record
from crm.masking import sees_for
from crm.models import AuditEvent, Facility, User
from crm.scoping import scope_to_user
from privacy import selectors
from privacy.forms import ConsentForm, DisclosureForm, RevokeForm
from privacy.models import DisclosurePath
from privacy.services import PATH_RULES, DisclosureRefused, consent_record, consent_revoke, disclosure_make

LEDGER_PAGE_SIZE = 50

View = Callable[..., HttpResponse]


def permission(perm: str) -> Callable[[View], View]:
    """Sign-in required; 403 without ``perm``."""

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(perm):
                raise PermissionDenied("Your role cannot do this.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _inquiry(request: HttpRequest, pk: int) -> Inquiry:
    rows = inquiries_visible_to(request.user).select_related("person", "facility")
    return get_object_or_404(rows, pk=pk)


def _inquiry_url(inquiry: Inquiry) -> str:
    return f"{reverse('admissions:inquiry', args=[inquiry.pk])}#part2"


# Fields a link may fill in beforehand (the pre-screen's "record the person's consent to share with
# the caller"); the coordinator still reads every element to the person and completes the rest.
CONSENT_PREFILL = ("recipient_type", "recipient_name", "purpose")


def consent_prefill(query: Any) -> dict[str, str]:
    return {name: str(query[name])[:160] for name in CONSENT_PREFILL if query.get(name)}


@permission("privacy.add_part2consent")
@require_http_methods(["GET", "POST"])
def consent_new(request: HttpRequest, pk: int) -> HttpResponse:
    inquiry = _inquiry(request, pk)
    facilities = scope_to_user(Facility.objects.filter(is_active=True), request.user, facility_field="pk")
    form = ConsentForm(
        request.POST if request.method == "POST" else None,
        facilities=facilities,
        initial={"discloser": inquiry.facility_id, **consent_prefill(request.GET)},
    )
    if request.method == "POST" and form.is_valid():
        consent = consent_record(
            inquiry=inquiry,
            actor=request.user,  # type: ignore[arg-type]
            values=form.cleaned_data,
            request=request,
        )
        messages.success(request, f"Part 2 consent #{consent.pk} recorded.")
        return redirect(_inquiry_url(inquiry))
    _audit_form_read(request, inquiry, ["person.name"])
    return render(request, "privacy/consent_form.html", {"inquiry": inquiry, "form": form})


def _audit_form_read(request: HttpRequest, inquiry: Inquiry, fields: list[str]) -> None:
    """A form page shows the person (and their consents) before anything is saved: a read."""
    audit_record(
        action=AuditEvent.Action.VIEW,
        obj=inquiry,
        actor=request.user,  # type: ignore[arg-type]
        request=request,
        fields=fields,
    )


@permission("privacy.view_part2consent")
@require_GET
def consent_detail(request: HttpRequest, pk: int) -> HttpResponse:
    consent = get_object_or_404(selectors.consent_visible_to(request.user), pk=pk)
    return _consent_page(request, consent, RevokeForm())


def _consent_page(request: HttpRequest, consent: Any, form: RevokeForm, status: int = 200) -> HttpResponse:
    audit_record(
        action=AuditEvent.Action.VIEW,
        obj=consent,
        actor=request.user,  # type: ignore[arg-type]
        request=request,
        fields=["part2_consent"],
    )
    disclosures = list(consent.disclosures.select_related("made_by").defer("document").order_by("-made_at"))
    context = {
        "consent": consent,
        "inquiry": consent.inquiry,
        "disclosures": disclosures,
        "form": form,
        "can_revoke": consent.revoked_at is None and request.user.has_perm("privacy.change_part2consent"),
    }
    return render(request, "privacy/consent_detail.html", context, status=status)


@permission("privacy.change_part2consent")
@require_POST
def consent_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    consent = get_object_or_404(selectors.consent_visible_to(request.user), pk=pk)
    form = RevokeForm(request.POST)
    if not form.is_valid():
        return _consent_page(request, consent, form)
    if consent.revoked_at is not None:
        messages.info(request, f"Part 2 consent #{consent.pk} was already revoked.")
    else:
        consent_revoke(
            consent=consent,
            actor=request.user,  # type: ignore[arg-type]
            method=form.cleaned_data["method"],
            note=form.cleaned_data["note"],
            request=request,
        )
        messages.success(request, f"Part 2 consent #{consent.pk} revoked.")
    return redirect("privacy:consent", pk=consent.pk)


@login_required
@require_http_methods(["GET", "POST"])
def disclosure_new(request: HttpRequest, pk: int, path: str) -> HttpResponse:
    rule = PATH_RULES.get(path)
    if rule is None:
        raise Http404("No such disclosure path.")
    if not request.user.has_perm(rule.permission):
        raise PermissionDenied("Your role cannot make this disclosure.")
    inquiry = _inquiry(request, pk)
    form = DisclosureForm(request.POST if request.method == "POST" else None, path=path)
    if request.method == "POST" and form.is_valid():
        try:
            disclosure = disclosure_make(
                inquiry=inquiry,
                path=path,
                recipient=form.recipient(),
                purpose=form.cleaned_data["purpose"],
                information=form.cleaned_data["information"],
                actor=request.user,  # type: ignore[arg-type]
                request=request,
            )
        except DisclosureRefused as exc:
            form.add_error(None, f"Not disclosed. {exc}")
        else:
            messages.success(request, f"{disclosure.get_path_display()} made and logged.")
            return redirect("privacy:disclosure", pk=disclosure.pk)
    _audit_form_read(request, inquiry, ["person.name", "part2_consents"])
    context = {
        "inquiry": inquiry,
        "form": form,
        "path": path,
        "path_label": DisclosurePath(path).label,
        "consents": list(selectors.consents_for(inquiry=inquiry, user=request.user)),
    }
    return render(request, "privacy/disclosure_form.html", context)


@permission("privacy.view_disclosure")
@require_GET
def disclosure_detail(request: HttpRequest, pk: int) -> HttpResponse:
    disclosure = get_object_or_404(selectors.disclosures_visible_to(request.user), pk=pk)
    download = request.GET.get("download") == "1"
    sees = sees_for(request.user)
    document_visible = all(category in sees for category in disclosure.categories())
    if download and not document_visible:
        raise PermissionDenied("The document holds information your role does not see.")
    audit_record(
        action=AuditEvent.Action.EXPORT if download else AuditEvent.Action.VIEW,
        obj=disclosure,
        actor=request.user,  # type: ignore[arg-type]
        request=request,
        fields=["document"],
    )
    if download:
        response = HttpResponse(disclosure.document, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="disclosure-{disclosure.pk}.txt"'
        response["Cache-Control"] = "no-store"
        return response
    context = {"disclosure": disclosure, "inquiry": disclosure.inquiry, "document_visible": document_visible}
    return render(request, "privacy/disclosure_detail.html", context)


@permission("privacy.view_disclosure")
@require_GET
def ledger(request: HttpRequest, pk: int) -> HttpResponse:
    inquiry = _inquiry(request, pk)
    user: User = request.user  # type: ignore[assignment]
    audit_record(
        action=AuditEvent.Action.VIEW,
        obj=inquiry.person,
        actor=user,
        request=request,
        fields=["disclosure_ledger"],
    )
    page = Paginator(selectors.ledger_for(person_id=inquiry.person_id, user=user), LEDGER_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"inquiry": inquiry, "page": page}
    return render(request, "privacy/ledger.html", context)
