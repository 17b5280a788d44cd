"""Session limits: an absolute lifetime on top of the idle timeout, and disabled users signed out at once.

The idle timeout is Django's own: ``SESSION_COOKIE_AGE`` (``SESSION_IDLE_SECONDS``, 15 minutes by
default) from the session's last save. Activity renews it at most once every
``SESSION_RENEW_SECONDS`` (60): saving the session on every request wrote a row (three round trips)
on every page and HTMX refresh, so an idle session now ends between 14 and 15 minutes after its
last request. The absolute timeout
(``SESSION_ABSOLUTE_SECONDS``, 12 hours by default) ends a session that long after sign-in however
busy it has been: the sign-in time is kept in the session and checked on every request.

Saving a user with ``is_active`` off deletes every session of theirs from the session store (the
database), so they are signed out on their next request. A bulk ``QuerySet.update()`` sends no
signal; the authentication backend refuses inactive users on every request anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.models import Session
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

SIGNED_IN_AT = "crm_signed_in_at"
RENEWED_AT = "crm_renewed_at"


@receiver(user_logged_in, dispatch_uid="crm.auth.sessions.signed_in_at")
def _stamp_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        now = int(time.time())
        request.session[SIGNED_IN_AT] = now
        request.session[RENEWED_AT] = now  # the sign-in saves the session: it counts as renewed


class AbsoluteSessionTimeoutMiddleware:
    """Sign out a session ``SESSION_ABSOLUTE_SECONDS`` after its sign-in, and renew an active
    session's idle timeout once a minute (after AuthenticationMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            signed_in_at = request.session.get(SIGNED_IN_AT)
            if not isinstance(signed_in_at, int):
                request.session[SIGNED_IN_AT] = now
            elif now - signed_in_at >= settings.SESSION_ABSOLUTE_SECONDS:
                logout(request)
                return self.get_response(request)
            renewed_at = request.session.get(RENEWED_AT)
            if not isinstance(renewed_at, int) or now - renewed_at >= settings.SESSION_RENEW_SECONDS:
                request.session[RENEWED_AT] = now  # modified: saved with a new expiry and cookie
        return self.get_response(request)


def sessions_end_for_user(user_id: int) -> int:
    """Delete every unexpired session that belongs to the user; returns how many."""
    doomed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        data = session.get_decoded()
        if data.get(SESSION_KEY) == str(user_id):
            doomed.append(session.session_key)
    if doomed:
        Session.objects.filter(session_key__in=doomed).delete()
    return len(doomed)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="crm.auth.sessions.disabled_user")
def _end_sessions_of_disabled_user(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        sessions_end_for_user(instance.pk)
