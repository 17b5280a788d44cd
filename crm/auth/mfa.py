"""Multi-factor sign-in: a TOTP authenticator app (django-otp) is required of every user.

django-otp records in the session which device verified the user (``OTPMiddleware``) but does not
require it. ``MFARequiredMiddleware`` does: a signed-in session that has not been verified reaches
only the sign-in, sign-out, password-reset and MFA pages; every other page redirects to the code
page (or to enrolment when the user has no confirmed device yet), an HTMX request gets the same
redirect as ``HX-Redirect``, and the session-authenticated JSON API answers 403. Requests with a
lead-source API key carry no session user and are not affected.

Enrolment shows the secret once as a QR code (SVG drawn on the server, so no script) and as text;
the device is confirmed only by a correct code from it. A user with a confirmed device cannot add
another one here: losing the phone is an administrator's reset (delete the device in the admin),
after which the next sign-in enrols again. Wrong codes are throttled per device by django-otp
(``OTP_TOTP_THROTTLE_FACTOR``); a code is accepted once.
"""

from __future__ import annotations

import math
from base64 import b32encode
from collections.abc import Callable
from typing import Any

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect
from django_otp import login as otp_login
from django_otp import verify_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.audit import audit_record
from crm.models import AuditEvent

DEVICE_NAME = "Authenticator app"

# Views a signed-in but unverified session may reach (URL names, without namespace).
EXEMPT_URL_NAMES = frozenset(
    {
        "login",
        "logout",
        "mfa-verify",
        "mfa-setup",
        "password_reset",
        "password_reset_done",
        "password_reset_confirm",
        "password_reset_complete",
        "healthz",
    }
)


def needs_enrolment(user: Any) -> bool:
    return not TOTPDevice.objects.filter(user=user, confirmed=True).exists()


class MFARequiredMiddleware:
    """Send a signed-in session that has not passed its second factor to the MFA pages.

    Goes after ``django_otp.middleware.OTPMiddleware`` (which sets ``user.is_verified``) and
    ``HtmxMiddleware``. The check is in ``process_view`` so that it can tell views by URL name.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        user = request.user
        if not user.is_authenticated or user.is_verified():  # type: ignore[union-attr,attr-defined]
            return None
        match = request.resolver_match
        if match is not None and match.url_name in EXEMPT_URL_NAMES and not match.namespace:
            return None
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": "Multi-factor verification is required."}, status=403)
        target = reverse("mfa-setup" if needs_enrolment(user) else "mfa-verify")
        if request.method in ("GET", "HEAD"):
            target = _with_next(target, request.get_full_path())
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(target)
        return redirect(target)


class CodeForm(forms.Form):
    code = forms.CharField(label="Six-digit code", max_length=12)

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if not (code.isdigit() and len(code) == 6):
            raise forms.ValidationError("Enter the six digits your authenticator app shows.")
        return code


def _with_next(url: str, next_url: str) -> str:
    """``url?next=...`` with slashes left readable, as the sign-in redirect writes it."""
    query = QueryDict(mutable=True)
    query["next"] = next_url
    return f"{url}?{query.urlencode(safe='/')}"


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


def _pause_seconds(device: TOTPDevice) -> int:
    """Seconds until ``device`` takes a code again after wrong ones (0: it takes one now)."""
    allowed, details = device.verify_is_allowed()
    until = None if allowed else (details or {}).get("locked_until")
    return max(1, math.ceil((until - timezone.now()).total_seconds())) if until else 0


def _paused(seconds: int) -> str:
    return f"Too many wrong codes: code entry is paused for {seconds} seconds. Then enter the newest code."


def _refusal(device: TOTPDevice, wrong: str) -> str:
    """The message for a wrong code; after several, it says how long entry is paused."""
    seconds = _pause_seconds(device)
    return f"{wrong} {_paused(seconds)}" if seconds > 5 else wrong


def _mfa_page(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """After the password only, GET or POST, never cached, the code kept out of error reports."""
    return sensitive_post_parameters("code")(  # type: ignore[no-any-return]
        never_cache(login_required(require_http_methods(["GET", "POST"])(view)))
    )


def _sign_in_with(request: HttpRequest, device: TOTPDevice) -> None:
    # A new session key once the second factor is in, as at sign-in (session fixation).
    request.session.cycle_key()
    otp_login(request, device)


@_mfa_page
def verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_verified():  # type: ignore[union-attr]
        return redirect(_next_url(request))
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        return redirect(_with_next(reverse("mfa-setup"), _next_url(request)))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if seconds := _pause_seconds(device):
            form.add_error("code", _paused(seconds))
        elif verify_token(user, device.persistent_id, form.cleaned_data["code"]) is not None:
            device.refresh_from_db()
            _sign_in_with(request, device)
            return redirect(_next_url(request))
        else:
            device.refresh_from_db()
            form.add_error(
                "code",
                _refusal(
                    device,
                    "That code is not right. Check that your phone sets its clock automatically "
                    "and enter the newest code.",
                ),
            )
    return render(request, "registration/mfa_verify.html", {"form": form, "next": _next_url(request)})


def typed_key(device: TOTPDevice) -> str:
    """The device's key in base32, in groups of four, as authenticator apps take it typed in."""
    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


@_mfa_page
def setup(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not needs_enrolment(user):
        # Another device only through an administrator's reset: a stolen password must not
        # be enough to add the thief's phone.
        return redirect(_with_next(reverse("mfa-verify"), _next_url(request)))
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
            if seconds := _pause_seconds(locked):
                form.add_error("code", _paused(seconds))
            elif locked.verify_token(form.cleaned_data["code"]):
                locked.confirmed = True
                locked.save(update_fields=["confirmed"])
                TOTPDevice.objects.filter(user=user, confirmed=False).delete()
                audit_record(
                    action=AuditEvent.Action.CREATE,
                    obj=locked,
                    actor=user,  # type: ignore[arg-type]
                    fields=["confirmed"],
                    request=request,
                )
            else:
                form.add_error(
                    "code",
                    _refusal(
                        locked,
                        "That code does not match. Scan the code again or check the key, then enter "
                        "the newest six digits.",
                    ),
                )
        if locked.confirmed:
            _sign_in_with(request, locked)
            messages.success(request, "Your authenticator app is set up. It will be asked for at sign-in.")
            return redirect(_next_url(request))
        device = locked
    context = {
        "form": form,
        "next": _next_url(request),
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(
            scale=4, title="Set-up code for your authenticator app"
        ),
        "secret_key": typed_key(device),
    }
    return render(request, "registration/mfa_setup.html", context)
