"""Routes of the pre-screen API, mounted under /api/v1/ by ``crm.urls``."""

from __future__ import annotations

from django.urls import path

from admissions.screening import api

app_name = "screening"

urlpatterns = [
    path(
        "inquiries/<int:inquiry_id>/screening/", api.InquiryScreeningApi.as_view(), name="inquiry-screening"
    ),
    path(
        "inquiries/<int:inquiry_id>/screening/signoff/",
        api.ScreeningSignoffApi.as_view(),
        name="inquiry-screening-signoff",
    ),
    path(
        "inquiries/<int:inquiry_id>/screening/match-override/",
        api.ScreeningMatchOverrideApi.as_view(),
        name="inquiry-screening-match-override",
    ),
]
