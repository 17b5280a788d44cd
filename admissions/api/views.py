"""The lead API (v1): marketing sources post leads and read the status of the leads they sent.

Views are thin: read the body, claim the Idempotency-Key, validate, call one
service or selector (``admissions.lead_write``, ``admissions.selectors``), answer. Every request made with
a valid key leaves one audit row (key, source, result); no PHI is logged.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from admissions.api.authentication import IsLeadSourceKey, LeadSourceClient, LeadSourceKeyAuthentication
from admissions.api.body import MAX_BODY_BYTES, json_object_body
from admissions.api.errors import lead_api_exception_handler
from admissions.api.idempotency import (
    HEADER as IDEMPOTENCY_HEADER,
)
from admissions.api.idempotency import (
    Replay,
    ReplayInstead,
    idempotency_begin,
    idempotency_key_from,
    request_fingerprint,
)
from admissions.api.serializers import (
    AllErrorsSerializer,
    AttributionSerializer,
    BirthDateField,
    CleanCharField,
    ConsentSerializer,
    ErrorSerializer,
    InsuranceSerializer,
    LowerEmailField,
    PhoneField,
    PostalCodeField,
    ReportDateField,
    StageCountsSerializer,
    StateField,
    ValidationErrorsSerializer,
    date_of_birth_errors,
)
from admissions.api.throttling import WINDOW_SECONDS, LeadSourceKeyRateThrottle
from admissions.lead_write import lead_ingest, substance_ids_for
from admissions.leads import LeadConsent, LeadData, PublicStage, UnknownSubstances, public_stage
from admissions.models import Caller, Inquiry, LeadSourceKey, Substance
from admissions.selectors import lead_first_contact_at, lead_for_source, lead_source_stage_counts
from crm import phones
from crm.audit import audit_record
from crm.models import AuditEvent

MAX_ID = 2**63 - 1
MAX_STATS_DAYS = 731


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


COMMON_ERRORS = {
    401: _error("No API key, or the key is unknown, revoked or expired. `WWW-Authenticate: Bearer`."),
    403: _error("The key's lead source is inactive, or the key asked for something outside its scope."),
    429: _error(
        "The key sent more requests this minute than its rate allows. "
        "The `Retry-After` header gives the seconds until the next window."
    ),
}


class LeadApiView(APIView):
    """Base of the lead API: key authentication, per-key rate, our error shapes, one audit row."""

    authentication_classes = [LeadSourceKeyAuthentication]
    permission_classes = [IsLeadSourceKey]
    throttle_classes = [LeadSourceKeyRateThrottle]
    audit_action: str = AuditEvent.Action.API_READ

    def get_exception_handler(self):  # type: ignore[no-untyped-def]
        return lead_api_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.audit_obj: Any = None
        self.audit_fields: list[str] = []
        self.audited = False
        super().initial(request, *args, **kwargs)

    def client(self) -> LeadSourceClient:
        return self.request.user  # type: ignore[return-value]

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        self._audit(request, response)
        return response

    def _audit(self, request: Request, response: Response) -> None:
        # Read what authentication left behind without re-running it (``request.auth`` would).
        key = request.__dict__.get("_auth")
        if not isinstance(key, LeadSourceKey) or getattr(self, "audited", False):
            return
        if response.status_code == 429:
            # One row per key and window, so a flood does not become a flood of writes.
            window = int(timezone.now().timestamp() // WINDOW_SECONDS)
            if not cache.add(f"lead-api:429-audited:{key.prefix}:{window}", 1, WINDOW_SECONDS + 5):
                return
        audit_record(
            action=self.audit_action,
            obj=getattr(self, "audit_obj", None) or key,
            actor_label=f"api key {key.prefix} / {key.lead_source.name}",
            fields=[*getattr(self, "audit_fields", []), f"status:{response.status_code}"],
            request=request,
        )


# --- POST /api/v1/leads/ -----------------------------------------------------------------


def unknown_substances_message(unknown: list[str]) -> str:
    catalogue = ", ".join(Substance.objects.order_by("sort_order").values_list("code", flat=True))
    return f"Unknown substance code(s): {', '.join(unknown)}. Use one of: {catalogue}."


LEAD_EXAMPLE = {
    "first_name": "Jordan",
    "last_name": "Rivera",
    "phone": "(813) 555-0142",
    "email": "Jordan.Rivera@example.com",
    "date_of_birth": "1990-04-12",
    "postal_code": "33602",
    "state": "FL",
    "caller_relationship": "self",
    "substances": ["alcohol", "benzodiazepines"],
    "message": "Looking for help for myself, please call after 5pm.",
    "insurance": {"payer": "Florida Blue", "member_id": "XJH123456789"},
    "consent": {
        "sms": True,
        "email": True,
        "call": True,
        "text": "I agree to receive calls, texts and emails about treatment options from Harbor Point at the "
        "number and address above. Consent is not a condition of service. Reply STOP to opt out.",
        "captured_at": "2026-11-20T14:03:11Z",
        "ip": "203.0.113.24",
        "page_url": "https://www.example.org/get-help",
    },
    "attribution": {
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "fall-alcohol-detox",
        "gclid": "EAIaIQobChMI-example",
        "landing_page": "https://www.example.org/get-help",
        "referrer": "https://www.google.com/",
    },
    "external_id": "form-2026-000142",
}


class LeadCreateApi(LeadApiView):
    parser_classes = [JSONParser]  # for the schema; the body is read by ``json_object_body``
    audit_action = AuditEvent.Action.API_WRITE

    @extend_schema_serializer(component_name="Lead")
    class InputSerializer(AllErrorsSerializer):
        first_name = CleanCharField(max_length=80)
        last_name = CleanCharField(max_length=80, required=False, allow_blank=True)
        phone = PhoneField(required=False, allow_blank=True)
        email = LowerEmailField(max_length=254, required=False, allow_blank=True)
        date_of_birth = BirthDateField(required=False, allow_null=True)
        postal_code = PostalCodeField()
        state = StateField()
        caller_relationship = serializers.ChoiceField(
            choices=Caller.Relationship.choices, required=False, allow_blank=True
        )
        substances = serializers.ListField(
            child=CleanCharField(max_length=40),
            max_length=12,
            required=False,
            help_text="Codes from the substance catalogue: alcohol, rx_opioids, heroin_fentanyl, "
            "benzodiazepines, barbiturates, baclofen, carisoprodol, gabapentinoids, rx_stimulants, "
            "stimulants, cannabis, other.",
        )
        message = CleanCharField(multiline=True, max_length=2000, required=False, allow_blank=True)
        insurance = InsuranceSerializer(required=False)
        consent = ConsentSerializer(required=False)
        attribution = AttributionSerializer(required=False)
        external_id = CleanCharField(
            max_length=100, required=False, allow_blank=True, help_text="The source's own id for this lead."
        )

        def cross_errors(self, values: dict[str, Any], errors: dict[str, Any]) -> list[tuple[str, str]]:
            problems = []
            has_phone = bool(values.get("phone")) or "phone" in errors
            has_email = bool(values.get("email")) or "email" in errors
            if not (has_phone or has_email):
                problems.append(("non_field_errors", "Send a phone number or an email address (or both)."))
            if message := date_of_birth_errors(values.get("date_of_birth")):
                problems.append(("date_of_birth", message))
            consent = values.get("consent") or {}
            if (consent.get("sms") or consent.get("call")) and not has_phone:
                problems.append(("consent", "Consent to texts or calls needs a phone number."))
            if consent.get("email") and not has_email:
                problems.append(("consent", "Consent to email needs an email address."))
            codes = [c.lower() for c in values.get("substances") or []]
            if codes and (errors or problems):
                # The body is refused anyway: name unknown codes too, so every error comes at once.
                # A body otherwise valid has its codes checked by the lead's own lookup (a 400 all
                # the same, from ``UnknownSubstances``), which saves a statement per lead.
                known = substance_ids_for(codes=codes)
                if unknown := sorted({c for c in codes if c not in known}):
                    problems.append(("substances", unknown_substances_message(unknown)))
            return problems

        def lead(self) -> LeadData:
            v = self.validated_data
            insurance = v.get("insurance") or {}
            consent = v.get("consent")
            return LeadData(
                first_name=v["first_name"],
                last_name=v.get("last_name", ""),
                phone=v.get("phone", ""),
                email=v.get("email", ""),
                date_of_birth=v.get("date_of_birth"),
                postal_code=v.get("postal_code", ""),
                state=v.get("state", ""),
                caller_relationship=v.get("caller_relationship", ""),
                substances=tuple(c.lower() for c in v.get("substances") or ()),
                message=v.get("message", ""),
                insurance_payer=insurance.get("payer", ""),
                insurance_member_id=insurance.get("member_id", ""),
                consent=LeadConsent(**consent) if consent else None,
                attribution=dict(v.get("attribution") or {}),
                external_id=v.get("external_id", ""),
                contact_checked=True,  # PhoneField and LowerEmailField normalised and validated them
            )

    @extend_schema_serializer(component_name="LeadCreated")
    class CreatedSerializer(serializers.Serializer):  # type: ignore[type-arg]
        id = serializers.IntegerField()
        status = serializers.ChoiceField(choices=["created"])
        stage = serializers.ChoiceField(choices=PublicStage.choices)

    @extend_schema_serializer(component_name="LeadMerged")
    class MergedSerializer(serializers.Serializer):  # type: ignore[type-arg]
        id = serializers.IntegerField()
        status = serializers.ChoiceField(choices=["merged"])

    @extend_schema(
        operation_id="lead_create",
        summary="Send a lead",
        description=(
            "Creates an inquiry (201) or, when the normalised phone or email matches an open inquiry, "
            "adds this lead to it as a new touch (200). A new inquiry is linked to an existing person "
            "with the same phone or email. Phones are stored as E.164 (national numbers are read as US "
            "numbers), emails lower-cased, text trimmed with control characters removed.\n\n"
            "A person has one open inquiry across all facilities, so a lead matching an open inquiry "
            "at a facility other than this source's default facility joins it too (200, merged): the "
            "lead is not lost, and a manager who works at both facilities is asked to review it. The "
            "source cannot read that inquiry (`GET /api/v1/leads/{id}/` is 404 for it).\n\n"
            f"The body must be `application/json` and at most {MAX_BODY_BYTES} bytes (32 KiB). "
            "Unknown fields are ignored. Insurance details are stored but never returned.\n\n"
            "Send an `Idempotency-Key` to make retries safe: the same key with the same body returns "
            "the first response without creating anything; the same key with another body is 422; a "
            "request while the first with that key is still running is 409. Keys are kept 72 hours. "
            "A request that fails validation (400) does not use up its key."
        ),
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="1 to 255 printable ASCII characters, e.g. a UUID; one per lead.",
                pattern=r"^[\x21-\x7e]{1,255}$",
            )
        ],
        responses={
            201: OpenApiResponse(CreatedSerializer, description="A new inquiry was opened."),
            200: OpenApiResponse(MergedSerializer, description="The lead joined an open inquiry."),
            400: OpenApiResponse(
                ValidationErrorsSerializer, description="Every invalid field, with its messages."
            ),
            **COMMON_ERRORS,
            409: _error("A request with the same Idempotency-Key is still in flight."),
            413: _error(f"The body is larger than {MAX_BODY_BYTES} bytes."),
            415: _error("The body is not application/json (UTF-8)."),
            422: _error("The Idempotency-Key was already used with a different body."),
        },
        examples=[
            OpenApiExample("A web form lead", value=LEAD_EXAMPLE, request_only=True),
            OpenApiExample(
                "The least a lead needs",
                value={"first_name": "Sam", "email": "sam@example.com"},
                request_only=True,
            ),
            OpenApiExample(
                "Created",
                value={"id": 1042, "status": "created", "stage": "new"},
                response_only=True,
                status_codes=["201"],
            ),
            OpenApiExample(
                "Merged", value={"id": 977, "status": "merged"}, response_only=True, status_codes=["200"]
            ),
            OpenApiExample(
                "Invalid fields",
                value={
                    "errors": {
                        "phone": ["Enter a valid phone number."],
                        "consent.text": ["Send the exact consent wording when any consent is true."],
                        "substances": ["Unknown substance code(s): kratom. Use one of: alcohol, ..."],
                    }
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
        tags=["leads"],
    )
    def post(self, request: Request) -> Response:
        client = self.client()
        data = json_object_body(request)
        idempotency_key = idempotency_key_from(request.headers)
        claim = None
        if idempotency_key is not None:
            outcome = idempotency_begin(
                api_key=client.key, key=idempotency_key, fingerprint=request_fingerprint(data)
            )
            if isinstance(outcome, Replay):
                return self._replay(outcome)
            claim = outcome
        try:
            region = phones.region_of(client.source.default_facility.phone)
            serializer = self.InputSerializer(data=data, context={"phone_region": region})
            if not serializer.is_valid():
                # A claim taken before validation would have answered 409, 422 or the replay.
                replay = claim.answer_for_invalid_body() if claim is not None else None
                if replay is not None:
                    return self._replay(replay)
                raise exceptions.ValidationError(serializer.errors)
            try:
                result = lead_ingest(
                    lead=serializer.lead(),
                    source=client.source,
                    actor_label=client.label,
                    request=request,
                    idempotency=claim,
                )
            except UnknownSubstances as unknown:
                raise exceptions.ValidationError(
                    {"substances": [unknown_substances_message(unknown.codes)]}
                ) from unknown
        except ReplayInstead as instead:
            return self._replay(instead.replay)
        except BaseException:
            if claim is not None:
                claim.release()
            raise
        self.audited = True  # lead_ingest wrote the audit row in the lead's transaction
        # Plain dicts: the response serializers above document these shapes for the schema.
        if result.created:
            body = {"id": result.inquiry.pk, "status": "created", "stage": public_stage(result.inquiry.stage)}
        else:
            body = {"id": result.inquiry.pk, "status": "merged"}
        return Response(body, status=result.response_status)

    def _replay(self, replay: Replay) -> Response:
        self.audit_obj = Inquiry(pk=replay.body["id"])
        self.audit_fields = ["result:replayed"]
        return Response(replay.body, status=replay.status)


# --- GET /api/v1/leads/{id}/ ---------------------------------------------------------------


class LeadStatusApi(LeadApiView):
    @extend_schema_serializer(component_name="LeadStatus")
    class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        id = serializers.IntegerField()
        stage = serializers.ChoiceField(
            choices=PublicStage.choices,
            help_text="A coarse stage: pre-screen, insurance and clinical steps show as in_progress; "
            "referred out, closed and crisis routed show as closed.",
        )
        created_at = serializers.DateTimeField(default_timezone=UTC)
        first_contact_at = serializers.DateTimeField(
            default_timezone=UTC,
            allow_null=True,
            help_text="First outbound contact attempt (or first conversation, if earlier).",
        )
        admitted = serializers.BooleanField()
        admitted_at = serializers.DateTimeField(default_timezone=UTC, allow_null=True)

    @extend_schema(
        operation_id="lead_status",
        summary="Read the status of a lead this source sent",
        description=(
            "Only inquiries this key's lead source created are visible; any other id is 404, whether "
            "or not it exists. A lead merged into another source's inquiry is not readable here. "
            "No clinical or insurance data is returned."
        ),
        parameters=[OpenApiParameter("lead_id", OpenApiTypes.INT64, OpenApiParameter.PATH)],
        responses={
            200: OutputSerializer,
            **COMMON_ERRORS,
            404: _error("No lead with this id was created by this key's lead source."),
        },
        examples=[
            OpenApiExample(
                "In progress",
                value={
                    "id": 1042,
                    "stage": "in_progress",
                    "created_at": "2026-11-20T14:03:12Z",
                    "first_contact_at": "2026-11-20T14:06:40Z",
                    "admitted": False,
                    "admitted_at": None,
                },
                response_only=True,
            )
        ],
        tags=["leads"],
    )
    def get(self, request: Request, lead_id: str) -> Response:
        valid = lead_id.isascii() and lead_id.isdigit() and 0 < int(lead_id) <= MAX_ID
        inquiry = lead_for_source(source=self.client().source, inquiry_id=int(lead_id)) if valid else None
        if inquiry is None:
            self.audit_fields = [f"inquiry:{lead_id}"[:40]]
            raise exceptions.NotFound("No such lead.")
        self.audit_obj = inquiry
        self.audit_fields = ["admitted", "admitted_at", "created_at", "first_contact_at", "stage"]
        body = self.OutputSerializer(
            {
                "id": inquiry.pk,
                "stage": public_stage(inquiry.stage),
                "created_at": inquiry.created_at,
                "first_contact_at": lead_first_contact_at(inquiry),
                "admitted": inquiry.admitted_at is not None,
                "admitted_at": inquiry.admitted_at,
            }
        ).data
        return Response(body)


# --- GET /api/v1/sources/{source}/stats/ -------------------------------------------------------


class SourceStatsApi(LeadApiView):
    class FilterSerializer(AllErrorsSerializer):
        def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
            return {
                "from": ReportDateField(
                    required=False,
                    help_text="First day (inclusive, facility time zone); default 29 days before `to`.",
                ),
                "to": ReportDateField(required=False, help_text="Last day (inclusive); default today."),
            }

        def cross_errors(self, values: dict[str, Any], errors: dict[str, Any]) -> list[tuple[str, str]]:
            problems: list[tuple[str, str]] = []  # each date is within 2000-2100 (ReportDateField)
            start, end = values.get("from"), values.get("to")
            if start and end and not problems:
                if start > end:
                    problems.append(("from", "`from` is after `to`."))
                elif (end - start).days >= MAX_STATS_DAYS:
                    problems.append(("to", f"Ask for at most {MAX_STATS_DAYS} days at a time."))
            return problems

    @extend_schema_serializer(component_name="SourceRef")
    class SourceSerializer(serializers.Serializer):  # type: ignore[type-arg]
        id = serializers.IntegerField()
        name = serializers.CharField()

    @extend_schema_serializer(component_name="SourceStats")
    class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
            return {
                "source": SourceStatsApi.SourceSerializer(),
                "from": serializers.DateField(),
                "to": serializers.DateField(),
                "total": serializers.IntegerField(min_value=0),
                "stages": StageCountsSerializer(help_text="Inquiries per public stage (see lead_status)."),
            }

    @extend_schema(
        operation_id="source_stats",
        summary="Counts per stage of the inquiries this source created",
        description=(
            "`source` is the key's own lead source: its numeric id or its name as a slug "
            '(e.g. "sunrise-web-forms"). Any other source is 403. Counts cover inquiries the source '
            "created (first touch) between `from` and `to` inclusive, in stages coarse enough not to "
            f"reveal clinical detail. At most {MAX_STATS_DAYS} days per request."
        ),
        parameters=[FilterSerializer],
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(ValidationErrorsSerializer, description="Invalid `from` / `to`."),
            **COMMON_ERRORS,
        },
        examples=[
            OpenApiExample(
                "Last 30 days",
                value={
                    "source": {"id": 3, "name": "Sunrise web forms"},
                    "from": "2026-10-22",
                    "to": "2026-11-20",
                    "total": 41,
                    "stages": {
                        "new": 4,
                        "contact_attempted": 3,
                        "contacted": 9,
                        "in_progress": 6,
                        "admitted": 8,
                        "nurture": 2,
                        "closed": 7,
                        "duplicate": 1,
                        "invalid": 1,
                    },
                },
                response_only=True,
            )
        ],
        tags=["sources"],
    )
    def get(self, request: Request, source_ref: str) -> Response:
        source = self.client().source
        if source_ref not in (str(source.pk), slugify(source.name)):
            self.audit_fields = ["stats:other source"]
            raise exceptions.PermissionDenied("A key reads the statistics of its own lead source only.")
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        end_day = filters.validated_data.get("to") or timezone.localdate()
        start_day = filters.validated_data.get("from") or end_day - timedelta(days=29)
        tz = timezone.get_current_timezone()
        start = datetime.combine(start_day, time.min, tzinfo=tz)
        end = datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=tz)
        counts = lead_source_stage_counts(source=source, start=start, end=end)
        self.audit_obj = source
        self.audit_fields = ["stats"]
        body = self.OutputSerializer(
            {
                "source": {"id": source.pk, "name": source.name},
                "from": start_day,
                "to": end_day,
                "total": sum(counts.values()),
                "stages": counts,
            }
        ).data
        return Response(body)
