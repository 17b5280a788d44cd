"""An outage of PostgreSQL or Redis is a 503 with Retry-After, never a 500.

``is_outage`` recognises the errors of an unreachable or failing database or broker; the error
handlers (``crm.views.server_error`` for pages and middleware, the API's exception handler for
API views) answer them with ``outage_response``: JSON for the API, a styled page otherwise.
"""

from __future__ import annotations

import psycopg
import redis.exceptions
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from kombu.exceptions import OperationalError as BrokerError

OUTAGE_ERRORS = (
    OperationalError,  # connection refused or lost, server shutting down, deadlock, timeout
    InterfaceError,  # connection already closed
    psycopg.OperationalError,
    psycopg.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    BrokerError,
)
API_PREFIX = "/api/"
API_PAGES = ("/api/docs/", "/api/schema/")


def is_outage(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an error it was raised from, says a database or broker is unavailable."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OUTAGE_ERRORS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def wants_json(request: HttpRequest) -> bool:
    """The JSON API's paths (its docs page and schema excepted)."""
    path = request.path
    return path.startswith(API_PREFIX) and not path.startswith(API_PAGES)


def outage_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: JSON in the API's error shape, or a page that needs neither service."""
    wait = settings.OUTAGE_RETRY_AFTER_SECONDS
    response: HttpResponse
    if wants_json(request):
        response = JsonResponse(
            {
                "detail": "The service is briefly unavailable; retry after the number of seconds in "
                "Retry-After.",
                "code": "service_unavailable",
            },
            status=503,
        )
    else:
        # Rendered without the request: context processors would read the session and the user.
        response = HttpResponse(render_to_string("503.html", {"retry_after": wait}), status=503)
    response["Retry-After"] = str(wait)
    return response
