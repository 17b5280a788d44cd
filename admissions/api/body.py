"""Reading a JSON request body safely: media type and size are checked before parsing."""

from __future__ import annotations

import json
from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request

from admissions.api.errors import NON_FIELD, PayloadTooLarge

MAX_BODY_BYTES = 32 * 1024


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def json_object_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object: 415 if not JSON, 413 if over the limit, 400 if malformed."""
    media_type, params = request._request.content_type, request._request.content_params
    if (media_type or "").lower() != "application/json":
        raise exceptions.UnsupportedMediaType(
            media_type or "none", detail="Send the body as application/json."
        )
    charset = (params or {}).get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise exceptions.UnsupportedMediaType(str(media_type), detail="Send the body as UTF-8 JSON.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise exceptions.ValidationError(
            {NON_FIELD: ["The Content-Length header is not a number."]}
        ) from None
    if declared > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body may be at most {MAX_BODY_BYTES} bytes.")
    body = request._request.body
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body may be at most {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise exceptions.ValidationError({NON_FIELD: ["The body is not valid JSON."]}) from None
    if not isinstance(data, dict):
        raise exceptions.ValidationError({NON_FIELD: ["Send one lead as a JSON object."]})
    return data
