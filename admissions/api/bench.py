"""The benchmark's reference endpoint: authenticated like the lead API, inserts one row.

Routed only when the environment sets ``CRM_BENCH_ENDPOINTS=1`` (see ``urls.py``);
``bench/lead_api.py`` compares lead creation against it on the same server.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from admissions.api.authentication import IsLeadSourceKey, LeadSourceKeyAuthentication
from admissions.api.errors import lead_api_exception_handler
from admissions.api.throttling import LeadSourceKeyRateThrottle
from admissions.models import LeadSourceKey
from crm.audit import audit_record
from crm.models import AuditEvent


class BenchReferenceApi(APIView):
    authentication_classes = [LeadSourceKeyAuthentication]
    permission_classes = [IsLeadSourceKey]
    throttle_classes = [LeadSourceKeyRateThrottle]

    def get_exception_handler(self):  # type: ignore[no-untyped-def]
        return lead_api_exception_handler

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        _ = request.data  # parse the JSON body like any create endpoint
        key: LeadSourceKey = request.auth  # type: ignore[assignment]
        row = audit_record(
            action=AuditEvent.Action.API_WRITE,
            obj=key,
            actor_label=f"api key {key.prefix} / bench",
            fields=["bench"],
            request=request,
        )
        return Response({"id": row.pk}, status=201)
