"""The pages benchmark's reference: an empty page on the site's base template.

Routed only when the environment sets ``CRM_BENCH_ENDPOINTS=1`` (see ``crm/bench_urls.py``).
``bench/pages.py`` measures the coordinator pages side by side with it on the same server:
same middleware, session, sign-in check and base template (top bar, menu), no page content.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def empty_page(request: HttpRequest) -> HttpResponse:
    return render(request, "bench/empty.html")
