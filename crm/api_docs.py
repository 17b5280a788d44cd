"""The API docs page (Swagger UI from drf-spectacular's sidecar, served by us) and the schema.

Both describe the API, never data. ``API_DOCS_PUBLIC`` (default: on in development, off in
production) says whether anyone may read them, or only a signed-in staff session.
"""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response


def _docs_permissions() -> list[BasePermission]:
    return [AllowAny()] if settings.API_DOCS_PUBLIC else [IsAuthenticated()]


class ApiSchemaView(SpectacularAPIView):
    """The OpenAPI document: open to anyone when ``API_DOCS_PUBLIC``, else to signed-in staff."""

    def get_permissions(self) -> list[BasePermission]:
        return _docs_permissions()


# Swagger UI draws some of its icons as data: images; only this page allows them.
DOCS_POLICY_UPDATE = {"img-src": ["data:"]}


@method_decorator(csp_update(DOCS_POLICY_UPDATE), name="dispatch")
class ApiDocsView(SpectacularSwaggerView):
    """drf-spectacular's Swagger UI view with the site's Cross-Origin-Opener-Policy.

    The package answers with ``unsafe-none`` so that an OAuth2 pop-up can report back; the API
    signs in with bearer keys, not OAuth2, so the page keeps the policy every other page has.
    Its template (``crm/templates/drf_spectacular/swagger_ui.html``) carries the CSP nonce.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.API_DOCS_PUBLIC and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(exclude=True)
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        response["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
        return response
