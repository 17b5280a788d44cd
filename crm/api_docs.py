"""The API docs page (Swagger UI from drf-spectacular's sidecar, served by us)."""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from django.conf import settings
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.response import Response

# Swagger UI draws some of its icons as data: images; only this page allows them.
DOCS_POLICY_UPDATE = {"img-src": ["data:"]}


@method_decorator(csp_update(DOCS_POLICY_UPDATE), name="dispatch")
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
