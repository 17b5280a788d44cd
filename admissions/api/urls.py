"""Routes of the lead API, mounted under /api/ by ``crm.urls``."""

from __future__ import annotations

import os

from django.urls import path

from admissions.api import views

app_name = "lead_api"

urlpatterns = [
    path("v1/leads/", views.LeadCreateApi.as_view(), name="lead-create"),
    # str, not int: a malformed id must get the API's JSON 404, not the site's HTML one.
    path("v1/leads/<str:lead_id>/", views.LeadStatusApi.as_view(), name="lead-status"),
    path("v1/sources/<str:source_ref>/stats/", views.SourceStatsApi.as_view(), name="source-stats"),
]

# The benchmark's reference endpoint exists only where the environment asks for it.
if os.environ.get("CRM_BENCH_ENDPOINTS") == "1":
    from admissions.api.bench import BenchReferenceApi

    urlpatterns.append(path("v1/bench/reference/", BenchReferenceApi.as_view(), name="bench-reference"))
