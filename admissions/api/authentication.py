"""Bearer API keys of lead sources: authentication, the one permission, and their schema.

``request.user`` becomes a ``LeadSourceClient`` (never a staff user) and
``request.auth`` the ``LeadSourceKey`` row, with its source and facility loaded.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from admissions.api.keys import lead_source_key_hash, lead_source_key_prefix
from admissions.models import LeadSource, LeadSourceKey
from crm.audit import client_ip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeadSourceClient:
    """The caller behind an API key: a lead source, not a person."""

    key: LeadSourceKey

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def source(self) -> LeadSource:
        return self.key.lead_source

    @property
    def label(self) -> str:
        """How audit rows and timeline entries name this caller."""
        return f"api key {self.key.prefix} / {self.key.lead_source.name}"


class LeadSourceKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer lsk_xxxxxxxx.<secret>``; revoked or expired keys are refused."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[LeadSourceClient, LeadSourceKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self._refuse(request, "Send the API key as: Authorization: Bearer <key>.", "")
        prefix = lead_source_key_prefix(token)
        key = None
        if prefix is not None:
            key = (
                LeadSourceKey.objects.select_related("lead_source", "lead_source__default_facility")
                .filter(prefix=prefix)
                .first()
            )
        if key is None or not hmac.compare_digest(key.key_hash, lead_source_key_hash(token)):
            raise self._refuse(request, "Invalid API key.", prefix or "")
        # Only the holder of a real key learns whether it was revoked or has expired.
        if key.revoked_at is not None:
            raise self._refuse(request, "This API key has been revoked.", key.prefix)
        if key.expires_at <= timezone.now():
            raise self._refuse(request, "This API key has expired.", key.prefix)
        return LeadSourceClient(key=key), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

    @staticmethod
    def _refuse(request: HttpRequest, message: str, prefix: str) -> exceptions.AuthenticationFailed:
        # Refusals are logged, not written to the audit table: no key means no one to audit,
        # and an unauthenticated flood must not turn into database writes. No PHI here.
        log.info("api key refused: %s prefix=%s ip=%s", message, prefix or "-", client_ip(request))
        return exceptions.AuthenticationFailed(message)


class IsLeadSourceKey(BasePermission):
    """A lead source key of an active source; its scope is the views that use this class."""

    message = "This API key's lead source is inactive."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not isinstance(request.auth, LeadSourceKey):
            # No credentials at all: DRF turns this into 401 because the
            # authenticator declares a WWW-Authenticate header.
            raise exceptions.NotAuthenticated("Send an API key: Authorization: Bearer <key>.")
        return request.auth.lead_source.is_active


class LeadSourceKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "admissions.api.authentication.LeadSourceKeyAuthentication"
    name = "leadSourceKey"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API key of a lead source (`lsk_xxxxxxxx.<secret>`), created in the admin or "
                'with `manage.py create_lead_source_key "<source name>"`. Keys expire and can be revoked.'
            ),
        }
