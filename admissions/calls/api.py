"""The call-tracking webhook: POST /api/v1/calls/<ref>/<start|end>/.

Checks run in this order and each failure writes nothing: the source named by ``ref`` exists
and is not revoked, and the request carries its service's signature (401); the body is a call
the adapter can read (400, every field error at once); the event is inside the replay window
(409). A second delivery of an event already received answers 200 ``duplicate`` and writes
nothing: services retry a delivery whose answer they did not see, and a 4xx would make them
retry again. Logs name the source's ref and the outcome, never a number or a name.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from admissions.calls.adapters import ADAPTERS, PayloadInvalid
from admissions.calls.models import CallEvent, CallTrackingSource
from admissions.calls.services import call_event_receive

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
REF_FORM = re.compile(r"[A-Za-z0-9_-]+")


class ReceiptSerializer(serializers.Serializer):  # type: ignore[type-arg]
    status = serializers.ChoiceField(
        choices=["created", "merged", "recorded", "duplicate", "ignored"],
        help_text=(
            "created / merged: the call's first event opened an inquiry or joined the caller's open "
            "one; recorded: a later event of the call was added; duplicate: this event was received "
            "before, nothing written; ignored: an outbound call, nothing written."
        ),
    )


class CallErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    detail = serializers.CharField()
    code = serializers.CharField()


CallFieldErrorsSerializer = inline_serializer(
    "CallFieldErrors",
    {"errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField()))},
)


def _refuse(status: int, detail: str, code: str) -> Response:
    return Response({"detail": detail, "code": code}, status=status)


class CallWebhookApi(APIView):
    """One endpoint per call-tracking source and event; the source's signature is its credential."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []

    @extend_schema(
        operation_id="call_webhook",
        summary="Receive a call event from a call-tracking service",
        description=(
            "Give the service one URL per event: `.../start/` for CallRail's pre-call webhook or "
            "CallTrackingMetrics' start-of-call webhook, `.../end/` for the post-call or end-of-call "
            "one. The body is the service's own call object as JSON.\n\n"
            "Signatures: CallRail sends `Signature`, the base64 HMAC-SHA1 of the raw body under the "
            "company's signing token. CallTrackingMetrics sends `X-CTM-Time` (Unix seconds) and "
            "`X-CTM-Signature`, the base64 HMAC-SHA1 of that time followed by the raw body under the "
            "account's webhook secret. The secret is stored per source, encrypted.\n\n"
            "Replays: an event further than `CALL_WEBHOOK_WINDOW_SECONDS` (default 1800) from now, by "
            "its signed time or else its own time, is refused with 409; an event (source, call id, "
            "start or end) received before answers 200 `duplicate` and writes nothing.\n\n"
            "A call's first event, in either order, opens the caller's inquiry or joins their open one "
            "(the lead API's deduplication), attributed to the tracking number's lead source and "
            "campaign. The end adds the call (duration, answered or missed, recording link, the "
            "service's call id) to the timeline; a missed call adds a call-back task due now."
        ),
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("ref", str, OpenApiParameter.PATH, description="The source's reference."),
            OpenApiParameter(
                "event",
                str,
                OpenApiParameter.PATH,
                enum=[k.value for k in CallEvent.Kind],
                description="Which event.",
            ),
            OpenApiParameter(
                "Signature", str, OpenApiParameter.HEADER, required=False, description="CallRail."
            ),
            OpenApiParameter("X-CTM-Time", str, OpenApiParameter.HEADER, required=False, description="CTM."),
            OpenApiParameter(
                "X-CTM-Signature", str, OpenApiParameter.HEADER, required=False, description="CTM."
            ),
        ],
        responses={
            200: ReceiptSerializer,
            400: OpenApiResponse(
                CallFieldErrorsSerializer,
                description="The body is not JSON or a field is missing or unreadable; nothing was written.",
                examples=[
                    OpenApiExample(
                        "missing caller",
                        value={"errors": {"customer_phone_number": ["This field is required."]}},
                    )
                ],
            ),
            401: OpenApiResponse(
                CallErrorSerializer, description="Unknown or revoked source, or a bad signature."
            ),
            404: OpenApiResponse(CallErrorSerializer, description='The event is neither "start" nor "end".'),
            409: OpenApiResponse(CallErrorSerializer, description="Outside the replay window."),
            413: OpenApiResponse(CallErrorSerializer, description="Body over 64 KiB."),
        },
        tags=["call tracking"],
    )
    def post(self, request: Request, ref: str, event: str) -> Response:
        if event not in CallEvent.Kind.values:
            return _refuse(404, 'No such event: use "start" or "end".', "unknown_event")
        # a ref is letters, digits and "_": anything else names no source (and reaches no query)
        ref = ref[:24] if REF_FORM.fullmatch(ref[:24]) else ""
        source = (
            CallTrackingSource.objects.select_related("lead_source__default_facility")
            .filter(ref=ref, revoked_at__isnull=True)
            .first()
        )
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            return _refuse(413, "The request body is too large.", "payload_too_large")
        body = request.body
        adapter = ADAPTERS.get(source.provider) if source is not None else None
        if (
            source is None
            or adapter is None
            or not adapter.signature_valid(secret=source.secret, body=body, headers=request.headers)
        ):
            log.warning("call webhook refused: signature", extra={"source_ref": ref})
            return _refuse(401, "Unknown source or a signature that does not match.", "signature_invalid")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return Response({"errors": {"non_field_errors": ["The body is not JSON."]}}, status=400)
        try:
            data = adapter.read(payload, kind=event)
        except PayloadInvalid as exc:
            log.info(
                "call webhook refused: payload",
                extra={"source_ref": source.ref, "fields": sorted(exc.errors)},
            )
            return Response({"errors": exc.errors}, status=400)
        when = adapter.signed_time(request.headers) or data.occurred_at
        if abs((timezone.now() - when).total_seconds()) > settings.CALL_WEBHOOK_WINDOW_SECONDS:
            log.warning("call webhook refused: replay window", extra={"source_ref": source.ref})
            return _refuse(409, "The event is outside the replay window.", "outside_replay_window")
        receipt = call_event_receive(source=source, data=data, request=request)  # type: ignore[arg-type]
        log.info(
            "call webhook received",
            extra={"source_ref": source.ref, "event": event, "status": receipt.status},
        )
        return Response({"status": receipt.status})
