"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest


def csp_nonce(request: HttpRequest) -> dict[str, object]:
    """The request's CSP nonce under the name ``{% htmx_script %}`` reads (django-csp calls it CSP_NONCE).

    The nonce is lazy: it is made, and added to the header, only when a template prints it.
    """
    return {"csp_nonce": getattr(request, "csp_nonce", None)}
