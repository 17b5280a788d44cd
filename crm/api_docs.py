"""The API docs page (Swagger UI from drf-spectacular's sidecar, served by us)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.response import Response


class ApiDocsView(SpectacularSwaggerView):
    """drf-spectacular's Swagger UI view with the site's Cross-Origin-Opener-Policy.

    The package answers with ``unsafe-none`` so that an OAuth2 pop-up can report back; the API
    signs in with bearer keys, not OAuth2, so the page keeps the policy every other page has.
    Its template (``crm/templates/drf_spectacular/swagger_ui.html``) carries the CSP nonce.
    """

    @extend_schema(exclude=True)
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        response["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
        return response
