"""Sign-in lockout with django-axes: repeated failures for one username from one address pause sign-in.

After ``AXES_FAILURE_LIMIT`` failed attempts for the same username from the same IP address, sign-in
for that pair is refused (even with the right password) until ``AXES_COOLOFF_TIME`` has passed. The
login page then says so, in the same words whether or not the username exists. An administrator can
lift a lockout early: ``manage.py axes_reset_username <username>`` (or ``axes_reset`` for all).
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class LockoutBackend(AxesStandaloneBackend):
    """Axes' check in front of the model backend, for sign-ins that come with a request.

    A sign-in without a request (a management command, a shell) has no client address to lock
    out and passes straight to the next backend; every web sign-in (the login page, the admin's
    login) passes the request.
    """

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if request is None:
            return None
        super().authenticate(request, username, password, **kwargs)
        return None


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The login page again, with the lockout notice and a 429 status."""
    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    context = {
        "form": AuthenticationForm(request),
        "locked_out": True,
        "cooloff_minutes": minutes,
        "next": request.POST.get("next", "") if request.method == "POST" else request.GET.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=429)


# No account has a longer username: a longer one in a sign-in is recorded cut to this length, so
# axes' attempt log (a 255-character column) never fails to store it.
USERNAME_RECORDED_MAX = 150


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The username a sign-in attempt is counted under (``AXES_USERNAME_CALLABLE``)."""
    source = credentials if credentials else getattr(request, "POST", {})
    username = source.get("username")
    return username[:USERNAME_RECORDED_MAX] if isinstance(username, str) else None
