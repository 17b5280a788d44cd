"""REST endpoints of the pre-screen: save / read a screening, clinician sign-off, match override.

Staff only (session authentication). Roles decide what a user may do (403 otherwise);
facility scoping decides which inquiries exist for them (404 otherwise). Every read and
write lands in the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.fields import empty
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from admissions.models import Inquiry
from admissions.screening.definition import AnswersInvalid
from admissions.screening.models import Screening
from admissions.screening.services import (
    OVERRIDE_ROLES,
    SCREENING_ROLES,
    SIGNOFF_ROLES,
    ScreeningError,
    match_override,
    screening_latest,
    screening_matches,
    screening_save,
    screening_signoff,
)
from crm.audit import audit_record
from crm.masking import Sees, answers_masked, sees_for
from crm.models import AuditEvent, User
from crm.roles import Role, has_role
from crm.scoping import scope_to_user
from programs.matching import MatchResult, ProgramMatch
from programs.models import LevelOfCare, Program

# --- output shapes -----------------------------------------------------------------------


class SafetyFlagSerializer(serializers.Serializer):
    code = serializers.CharField()
    action = serializers.CharField(help_text="What to do now (911, 988, medical withdrawal...).")
    reason = serializers.CharField(help_text="Why, in plain language tied to the answers.")
    minimum_intensity = serializers.CharField(help_text="The least intensive level this flag allows.")
    withdrawal_management = serializers.BooleanField()
    route_to = serializers.CharField(help_text="The stage the inquiry goes to.")


class RatingSerializer(serializers.Serializer):
    dimension = serializers.IntegerField(min_value=1, max_value=6)
    name = serializers.CharField()
    rating = serializers.IntegerField(min_value=0, max_value=4)
    minimum_intensity = serializers.CharField(help_text="The least treatment intensity this rating allows.")
    withdrawal_minimum = serializers.CharField(
        allow_null=True,
        required=False,
        help_text="Dimension 1: the least withdrawal-management intensity its rating needs (null: none).",
    )
    reasons = serializers.ListField(child=serializers.CharField())


class NeedSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="pregnancy, opioid_medication, co_occurring or medical.")
    name = serializers.CharField(help_text="The need in words.")
    reason = serializers.CharField(help_text="The answers it follows from.")


class LevelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    edition = serializers.CharField()
    intensity = serializers.CharField()


class MatchSerializer(serializers.Serializer):
    program = serializers.IntegerField()
    program_name = serializers.CharField()
    facility = serializers.IntegerField()
    facility_name = serializers.CharField()
    level = serializers.CharField(help_text="Level code of the program.")
    level_name = serializers.CharField()
    setting = serializers.CharField()
    rank = serializers.IntegerField()
    excluded = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
    exclusion_reasons = serializers.ListField(child=serializers.CharField())
    free_now = serializers.IntegerField()
    next_free_on = serializers.DateField(allow_null=True)
    distance_km = serializers.FloatField(allow_null=True)
    distance_miles = serializers.FloatField(allow_null=True)
    provides = serializers.CharField(
        allow_blank=True,
        help_text='The part of the care it provides: "both", "withdrawal" or "treatment" ("" when excluded).',
    )


class ReferOutSerializer(serializers.Serializer):
    proposed = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)


class WithheldSerializer(serializers.Serializer):
    why = serializers.ChoiceField(
        choices=["incomplete", "emergency"],
        help_text="incomplete: a safety item is unanswered; emergency: call 911 first.",
    )
    reason = serializers.CharField()


class LevelsSerializer(serializers.Serializer):
    provisional = LevelSerializer(allow_null=True, help_text="The first placement.")
    withdrawal = LevelSerializer(allow_null=True, help_text="Withdrawal management, from dimension 1.")
    treatment = LevelSerializer(allow_null=True, help_text="The treatment level, from the highest minimum.")
    integrated = LevelSerializer(
        allow_null=True, help_text="Both in one level of the 4th edition catalogue (1.7, 2.7, 3.7, 4)."
    )


class SignoffSerializer(serializers.Serializer):
    final_level = LevelSerializer()
    signed_by = serializers.IntegerField()
    signed_at = serializers.DateTimeField()
    note = serializers.CharField(allow_blank=True)


class OverrideSerializer(serializers.Serializer):
    program = serializers.IntegerField()
    reason = serializers.CharField()
    by = serializers.IntegerField()
    at = serializers.DateTimeField()


class ScreeningOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    inquiry = serializers.IntegerField()
    form_version = serializers.IntegerField()
    complete = serializers.BooleanField(help_text="True once every safety item is answered.")
    missing_safety_items = serializers.ListField(child=serializers.CharField())
    answers = serializers.JSONField()
    ratings = RatingSerializer(many=True)
    provisional_level = LevelSerializer(
        allow_null=True, help_text="The first placement; null until every safety item is answered."
    )
    levels = LevelsSerializer(allow_null=True, help_text="null until every safety item is answered.")
    minimum_intensity = serializers.CharField(help_text="The least intensity of the first placement.")
    treatment_minimum = serializers.CharField()
    withdrawal_minimum = serializers.CharField(allow_null=True)
    withdrawal_first = serializers.BooleanField(
        help_text="Withdrawal management must come first (else it runs alongside the treatment program)."
    )
    modifiers = serializers.ListField(child=serializers.CharField())
    needs = NeedSerializer(many=True, help_text="Clinical needs that rank programs with the specialty first.")
    reasons = serializers.ListField(child=serializers.CharField())
    safety_flags = SafetyFlagSerializer(many=True)
    matches = MatchSerializer(many=True, help_text="Empty while the recommendation is withheld.")
    recommendation_withheld = WithheldSerializer(
        allow_null=True, help_text="Why no program is recommended yet (null when programs are matched)."
    )
    refer_out = ReferOutSerializer()
    signoff = SignoffSerializer(allow_null=True)
    match_override = OverrideSerializer(allow_null=True)
    saved_at = serializers.DateTimeField()
    saved_by = serializers.IntegerField(allow_null=True)


def _level(level: LevelOfCare | None) -> dict[str, Any] | None:
    if level is None:
        return None
    return {
        "id": level.pk,
        "code": level.code,
        "name": level.name,
        "edition": level.edition,
        "intensity": str(level.intensity),
    }


def _match(m: ProgramMatch) -> dict[str, Any]:
    return {
        "program": m.program_id,
        "program_name": m.program_name,
        "facility": m.facility_id,
        "facility_name": m.facility_name,
        "level": m.level_code,
        "level_name": m.level_name,
        "setting": m.setting,
        "rank": m.rank,
        "excluded": m.excluded,
        "reasons": list(m.reasons),
        "exclusion_reasons": list(m.exclusion_reasons),
        "free_now": m.free_now,
        "next_free_on": m.next_free_on,
        "distance_km": m.distance_km,
        "distance_miles": m.distance_miles,
        "provides": m.provides,
    }


def screening_payload(screening: Screening, matches: MatchResult, *, sees: Sees) -> dict[str, Any]:
    """The response body of every screening endpoint, the answers masked for the reader's role."""
    result = screening.result
    minimum = result.get("minimum_intensity", "1.0")
    return {
        "id": screening.pk,
        "inquiry": screening.inquiry_id,
        "form_version": screening.form.version,
        "complete": screening.complete,
        "missing_safety_items": result.get("missing_safety", []),
        "answers": answers_masked(screening.answers, sees),
        "ratings": result.get("ratings", []),
        "provisional_level": _level(screening.provisional_level),
        "levels": result.get("levels") if screening.complete else None,
        "minimum_intensity": minimum,
        "treatment_minimum": result.get("treatment_minimum", minimum),
        "withdrawal_minimum": result.get("withdrawal_minimum"),
        "withdrawal_first": bool(result.get("withdrawal_first", result.get("withdrawal_management", False))),
        "modifiers": result.get("modifiers", []),
        "needs": result.get("needs", []),
        "reasons": result.get("reasons", []),
        "safety_flags": result.get("safety_flags", []),
        "matches": [_match(m) for m in matches.matches],
        "recommendation_withheld": (
            {"why": matches.withheld, "reason": matches.withheld_reason} if matches.withheld else None
        ),
        "refer_out": {"proposed": matches.refer_out, "reason": matches.refer_out_reason},
        "signoff": (
            {
                "final_level": _level(screening.final_level),
                "signed_by": screening.signed_by_id,
                "signed_at": screening.signed_at,
                "note": screening.signoff_note,
            }
            if screening.signed_at
            else None
        ),
        "match_override": (
            {
                "program": screening.override_program_id,
                "reason": screening.override_reason,
                "by": screening.override_by_id,
                "at": screening.override_at,
            }
            if screening.override_program_id
            else None
        ),
        "saved_at": screening.saved_at,
        "saved_by": screening.saved_by_id,
    }


def _render(
    request: Request, screening: Screening, matches: MatchResult, code: int = status.HTTP_200_OK
) -> Response:
    payload = screening_payload(screening, matches, sees=sees_for(request.user))
    return Response(ScreeningOutputSerializer(payload).data, status=code)


# --- input shapes ------------------------------------------------------------------------


class ScreeningJSONParser(JSONParser):
    """DRF's JSON parser, with nesting too deep for the decoder and an unknown charset answered
    as 400 (DRF catches only ``ValueError``, so both were 500s)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except (RecursionError, LookupError) as exc:
            raise ParseError("JSON parse error - the body is nested too deeply or not UTF-8.") from exc


# DRF's defaults with the JSON parser above (a form post still gets the 400 of a missing object).
PARSERS = [ScreeningJSONParser, FormParser, MultiPartParser]


class AnswersField(serializers.DictField):
    """A JSON object. A form-encoded body is taken as it was sent (DRF would build an empty object
    out of ``answers=1`` and save an empty screen), so it is refused like any other non-object."""

    def get_value(self, dictionary: Any) -> Any:
        return dictionary.get(self.field_name, empty)


class ScreeningInputSerializer(serializers.Serializer):
    answers = AnswersField(
        help_text="Sections of answers (see docs/screening.md); partial answers are merged, null clears, "
        '"unknown" answers a safety item the caller refused or does not know.'
    )


class SignoffInputSerializer(serializers.Serializer):
    level = serializers.PrimaryKeyRelatedField(queryset=LevelOfCare.objects.filter(is_active=True))
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class OverrideInputSerializer(serializers.Serializer):
    program = serializers.PrimaryKeyRelatedField(queryset=Program.objects.filter(is_active=True))
    reason = serializers.CharField(max_length=1000)


# --- permissions and lookups -------------------------------------------------------------


class _RolePermission(BasePermission):
    roles: tuple[Role, ...] = ()
    message = "Your role cannot do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and has_role(user, *self.roles))


class CanScreen(_RolePermission):
    roles = SCREENING_ROLES
    message = "Only coordinators, clinical reviewers and managers work pre-screens."


class CanSignOff(_RolePermission):
    roles = SIGNOFF_ROLES
    message = "Only a clinical reviewer can sign off the level of care."


class CanOverride(_RolePermission):
    roles = OVERRIDE_ROLES
    message = "Only an admissions coordinator or manager can override the match."


def _inquiries(user: User) -> QuerySet[Inquiry]:
    return scope_to_user(Inquiry.objects.all(), user)


def _inquiry_id_visible(request: Request, inquiry_id: int) -> int:
    """The inquiry id if the user's facilities include it; 404 otherwise (never 403: no leak)."""
    if not _inquiries(request.user).filter(pk=inquiry_id).exists():  # type: ignore[arg-type]
        raise Http404("No such inquiry.")
    return inquiry_id


def _screening_of(request: Request, inquiry_id: int) -> Screening:
    _inquiry_id_visible(request, inquiry_id)
    screening = screening_latest(inquiry_id=inquiry_id)
    if screening is None:
        raise Http404("This inquiry has no screening yet.")
    return screening


def _invalid(exc: ScreeningError) -> ValidationError:
    return ValidationError({exc.field: [str(exc)]})


def _act_on_latest(
    request: Request,
    inquiry_id: int,
    input_serializer: type[serializers.Serializer],
    action: Callable[[Screening, dict[str, Any]], Screening],
) -> Response:
    """Validate the body, run one service on the latest screening, answer with the result."""
    screening = _screening_of(request, inquiry_id)
    data = input_serializer(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        screening = action(screening, data.validated_data)
    except ScreeningError as exc:
        raise _invalid(exc) from None
    screening = screening_latest(inquiry_id=inquiry_id) or screening
    return _render(request, screening, screening_matches(screening=screening))


SCREENING_EXAMPLE_REQUEST = {
    "answers": {
        "emergency": {
            "overdose_now": False,
            "seizure_now": False,
            "chest_pain": False,
            "confused_now": False,
            "fever_rigidity": False,
        },
        "use": {"substances_30d": ["baclofen"]},
        "substances": {
            "baclofen": {
                "days_used_30": 30,
                "amount_per_day": 80,
                "unit": "mg",
                "last_use": "2026-11-23T21:00:00-05:00",
                "prescribed": True,
            }
        },
        "withdrawal": {
            "past_seizures": False,
            "past_dts": False,
            "past_hallucinations": False,
            "symptoms_now": True,
        },
        "medical": {"pregnant": "not_applicable", "baclofen_pump": False},
        "psychiatric": {"psychosis_now": False, "severe_symptoms": False},
        "suicide": {"wish_dead": False, "thoughts": False, "recent_behaviour": False},
    }
}

SCREENING_EXAMPLE_RESPONSE = {
    "id": 7,
    "inquiry": 42,
    "form_version": 1,
    "complete": True,
    "missing_safety_items": [],
    "answers": SCREENING_EXAMPLE_REQUEST["answers"],
    "ratings": [
        {
            "dimension": 1,
            "name": "Intoxication, withdrawal and addiction medications",
            "rating": 3,
            "minimum_intensity": "1.0",
            "withdrawal_minimum": "3.7",
            "reasons": ["Sedative-hypnotic withdrawal risk (see the safety flag)."],
        }
    ],
    "provisional_level": {
        "id": 12,
        "code": "3.7-WM",
        "name": "Inpatient withdrawal management, medically monitored",
        "edition": "ASAM 3",
        "intensity": "3.7",
    },
    "levels": {
        "provisional": {
            "id": 12,
            "code": "3.7-WM",
            "name": "Inpatient withdrawal management, medically monitored",
            "edition": "ASAM 3",
            "intensity": "3.7",
        },
        "withdrawal": {
            "id": 12,
            "code": "3.7-WM",
            "name": "Inpatient withdrawal management, medically monitored",
            "edition": "ASAM 3",
            "intensity": "3.7",
        },
        "treatment": {"id": 1, "code": "1", "name": "Outpatient", "edition": "ASAM 3", "intensity": "1.0"},
        "integrated": {
            "id": 22,
            "code": "3.7",
            "name": "Medically managed residential",
            "edition": "ASAM 4",
            "intensity": "3.7",
        },
    },
    "minimum_intensity": "3.7",
    "treatment_minimum": "1.0",
    "withdrawal_minimum": "3.7",
    "withdrawal_first": True,
    "modifiers": ["withdrawal_management"],
    "needs": [],
    "reasons": [
        "Minimum 3.7 set by: Safety: Daily baclofen 80 mg; stopping abruptly can cause seizures, ..."
    ],
    "safety_flags": [
        {
            "code": "sedative_withdrawal",
            "action": "Medically managed withdrawal (3.7-WM) or hospital only. ...",
            "reason": "Daily baclofen 80 mg; stopping abruptly can cause seizures, delirium, high fever "
            "and muscle breakdown.",
            "minimum_intensity": "3.7",
            "withdrawal_management": True,
            "route_to": "clinical_review",
        }
    ],
    "matches": [
        {
            "program": 3,
            "program_name": "Medical Detox",
            "facility": 1,
            "facility_name": "Harbor Point Tampa",
            "level": "3.7-WM",
            "level_name": "Inpatient withdrawal management, medically monitored",
            "setting": "withdrawal",
            "rank": 1,
            "excluded": False,
            "reasons": [
                "level 3.7-WM meets required 3.7 for withdrawal management",
                "2 beds free now",
                "accepts Aetna",
                "8 miles away",
            ],
            "exclusion_reasons": [],
            "free_now": 2,
            "next_free_on": "2026-11-24",
            "distance_km": 12.4,
            "distance_miles": 7.7,
            "provides": "withdrawal",
        },
        {
            "program": 5,
            "program_name": "Day Program",
            "facility": 1,
            "facility_name": "Harbor Point Tampa",
            "level": "2.5",
            "level_name": "Partial hospitalization",
            "setting": "php",
            "rank": 2,
            "excluded": True,
            "reasons": [],
            "exclusion_reasons": ["level 2.5 below required 3.7"],
            "free_now": 4,
            "next_free_on": "2026-11-24",
            "distance_km": 12.4,
            "distance_miles": 7.7,
            "provides": "",
        },
    ],
    "recommendation_withheld": None,
    "refer_out": {"proposed": False, "reason": ""},
    "signoff": None,
    "match_override": None,
    "saved_at": "2026-11-24T09:12:00-05:00",
    "saved_by": 4,
}


# --- views -------------------------------------------------------------------------------


class InquiryScreeningApi(APIView):
    """``GET`` the latest pre-screen of an inquiry; ``POST`` answers (partial allowed) to save it."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated, CanScreen]
    parser_classes = PARSERS

    @extend_schema(
        operation_id="inquiry_screening_read",
        summary="The latest pre-screen of an inquiry, with live program matches",
        responses={
            200: ScreeningOutputSerializer,
            403: OpenApiResponse(description="Your role does not work pre-screens."),
            404: OpenApiResponse(description="No such inquiry in your facilities, or no screening yet."),
        },
        examples=[OpenApiExample("A baclofen screen", value=SCREENING_EXAMPLE_RESPONSE, response_only=True)],
        tags=["screening"],
    )
    def get(self, request: Request, inquiry_id: int) -> Response:
        screening = _screening_of(request, inquiry_id)
        matches = screening_matches(screening=screening)
        audit_record(action=AuditEvent.Action.API_READ, obj=screening, actor=request.user, request=request)  # type: ignore[arg-type]
        return _render(request, screening, matches)

    @extend_schema(
        operation_id="inquiry_screening_save",
        summary="Save pre-screen answers (partial allowed) and get ratings, flags and matches",
        request=ScreeningInputSerializer,
        responses={
            200: ScreeningOutputSerializer,
            201: ScreeningOutputSerializer,
            400: OpenApiResponse(
                description='Field errors, e.g. {"answers": {"medical.pregnant": ["..."]}}.'
            ),
            403: OpenApiResponse(description="Your role does not work pre-screens."),
            404: OpenApiResponse(description="No such inquiry in your facilities."),
        },
        examples=[
            OpenApiExample("Baclofen 80 mg a day", value=SCREENING_EXAMPLE_REQUEST, request_only=True),
            OpenApiExample(
                "Result", value=SCREENING_EXAMPLE_RESPONSE, response_only=True, status_codes=["200"]
            ),
        ],
        tags=["screening"],
    )
    def post(self, request: Request, inquiry_id: int) -> Response:
        _inquiry_id_visible(request, inquiry_id)
        data = ScreeningInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        had_open = Screening.objects.filter(inquiry_id=inquiry_id, signed_at__isnull=True).exists()
        try:
            saved = screening_save(
                inquiry_id=inquiry_id,
                answers=data.validated_data["answers"],
                actor=request.user,  # type: ignore[arg-type]
                request=request._request,
            )
        except AnswersInvalid as exc:
            raise ValidationError({"answers": exc.errors}) from None
        code = status.HTTP_200_OK if had_open else status.HTTP_201_CREATED
        return _render(request, saved.screening, saved.matches, code)


class ScreeningSignoffApi(APIView):
    """A clinical reviewer signs off the final level of the latest screening."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated, CanSignOff]
    parser_classes = PARSERS

    @extend_schema(
        operation_id="inquiry_screening_signoff",
        summary="Sign off the final level of care (clinical reviewers)",
        request=SignoffInputSerializer,
        responses={
            200: ScreeningOutputSerializer,
            400: OpenApiResponse(
                description="Refused: below a safety flag's minimum, incomplete, or signed."
            ),
            403: OpenApiResponse(description="Only clinical reviewers sign off."),
            404: OpenApiResponse(description="No such inquiry in your facilities, or no screening yet."),
        },
        examples=[OpenApiExample("Sign off", value={"level": 12, "note": "Agree."}, request_only=True)],
        tags=["screening"],
    )
    def post(self, request: Request, inquiry_id: int) -> Response:
        return _act_on_latest(
            request,
            inquiry_id,
            SignoffInputSerializer,
            lambda screening, data: screening_signoff(
                screening=screening,
                level=data["level"],
                note=data["note"],
                actor=request.user,  # type: ignore[arg-type]
                request=request._request,
            ),
        )


class ScreeningMatchOverrideApi(APIView):
    """A coordinator or manager picks a program other than the top match, with a reason."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated, CanOverride]
    parser_classes = PARSERS

    @extend_schema(
        operation_id="inquiry_screening_match_override",
        summary="Override the program match (coordinators and managers; a reason is required)",
        request=OverrideInputSerializer,
        responses={
            200: ScreeningOutputSerializer,
            400: OpenApiResponse(description="No reason, or the program is below what the screen requires."),
            403: OpenApiResponse(description="Only coordinators and managers override the match."),
            404: OpenApiResponse(description="No such inquiry in your facilities, or no screening yet."),
        },
        examples=[
            OpenApiExample(
                "Closer to family",
                value={"program": 9, "reason": "Closer to her children; same level, bed free today."},
                request_only=True,
            )
        ],
        tags=["screening"],
    )
    def post(self, request: Request, inquiry_id: int) -> Response:
        return _act_on_latest(
            request,
            inquiry_id,
            OverrideInputSerializer,
            lambda screening, data: match_override(
                screening=screening,
                program=data["program"],
                reason=data["reason"],
                actor=request.user,  # type: ignore[arg-type]
                request=request._request,
            ),
        )
