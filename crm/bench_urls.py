"""Benchmark-only pages, included by ``crm.urls``; empty unless ``CRM_BENCH_ENDPOINTS=1``."""

from __future__ import annotations

import os

from django.urls import URLPattern, path

urlpatterns: list[URLPattern] = []

if os.environ.get("CRM_BENCH_ENDPOINTS") == "1":
    from crm.bench_views import empty_page

    urlpatterns.append(path("bench/empty/", empty_page, name="bench-empty"))
