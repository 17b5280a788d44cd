"""Error responses of the API.

The lead API: one shape for validation errors, one for everything else. 400:
``{"errors": {"<field>": ["message", ...]}}``; nested fields use dotted names (``consent.text``,
``substances.2``); errors about the whole body use ``non_field_errors``. Other errors:
``{"detail": "message", "code": "machine_code"}``.

Every API view (``api_exception_handler``, the REST framework's default here, and the lead API's
own): messages and field names that echo the client's input are made safe to encode first
(``crm.text.text_safe``: a lone surrogate or a NUL in a message made the JSON renderer fail, a
500), and an unreachable database or Redis is a 503 with ``Retry-After``, not a 500.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from crm.outage import is_outage
from crm.text import text_safe

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is briefly unavailable; retry after the number of seconds in Retry-After."
    default_code = "service_unavailable"

    def __init__(self) -> None:
        super().__init__()
        self.wait = settings.OUTAGE_RETRY_AFTER_SECONDS


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class IdempotencyKeyInFlight(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed; retry shortly."
    default_code = "idempotency_key_in_flight"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used with a different request body."
    default_code = "idempotency_key_reused"


def errors_flat(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"dotted.field": [messages]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for name, value in detail.items():
            name = str(name)
            if name == NON_FIELD and prefix:
                path = prefix
            else:
                path = f"{prefix}.{name}" if prefix else name
            for key, messages in errors_flat(value, path).items():
                flat.setdefault(key, []).extend(messages)
    elif isinstance(detail, list):
        if any(isinstance(item, dict | list) for item in detail):
            for index, item in enumerate(detail):
                if item:
                    path = f"{prefix}.{index}" if prefix else str(index)
                    for key, messages in errors_flat(item, path).items():
                        flat.setdefault(key, []).extend(messages)
        else:
            flat[prefix or NON_FIELD] = [str(item) for item in detail]
    else:
        flat[prefix or NON_FIELD] = [str(detail)]
    return flat


def detail_safe(detail: Any) -> Any:
    """An error detail (nested dicts and lists of messages) with every text made safe to encode."""
    if isinstance(detail, dict):
        return {text_safe(str(key)): detail_safe(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [detail_safe(item) for item in detail]
    if isinstance(detail, exceptions.ErrorDetail):
        return exceptions.ErrorDetail(text_safe(str(detail)), detail.code)
    if isinstance(detail, str):
        return text_safe(detail)
    return detail


def _handled(exc: Exception, context: dict[str, Any]) -> tuple[Exception, Response | None]:
    if is_outage(exc):
        exc = ServiceUnavailable()
    elif isinstance(exc, exceptions.APIException):
        exc.detail = detail_safe(exc.detail)
    return exc, exception_handler(exc, context)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with safe messages and a 503 for an outage (``REST_FRAMEWORK``'s default)."""
    return _handled(exc, context)[1]


def lead_api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status codes, WWW-Authenticate, Retry-After) with our two body shapes."""
    exc, response = _handled(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"errors": errors_flat(exc.detail)}
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        code = exc.get_codes()
        response.data = {"detail": str(detail), "code": code if isinstance(code, str) else exc.default_code}
    else:  # Http404 / PermissionDenied from Django
        message = text_safe(str(response.data.get("detail", ""))) if isinstance(response.data, dict) else ""
        code = "not_found" if response.status_code == 404 else "permission_denied"
        response.data = {"detail": str(message), "code": code}
    return response
