"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from crm.masking import sees_for


def csp_nonce(request: HttpRequest) -> dict[str, object]:
    """The request's CSP nonce under the name ``{% htmx_script %}`` reads (django-csp calls it CSP_NONCE).

    The nonce is lazy: it is made, and added to the header, only when a template prints it.
    """
    return {"csp_nonce": getattr(request, "csp_nonce", None)}


def masking(request: HttpRequest) -> dict[str, object]:
    """``sees``: the categories of values the user may see (``crm.masking``), worked out on first use."""
    return {"sees": SimpleLazyObject(lambda: sees_for(request.user))}
