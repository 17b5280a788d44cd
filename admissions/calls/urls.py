"""The call-tracking webhook, mounted under /api/v1/calls/ by ``crm.urls``."""

from __future__ import annotations

from django.urls import path

from admissions.calls.api import CallWebhookApi

app_name = "calls"

urlpatterns = [
    # str, not a pattern of start|end: an unknown event gets the API's JSON 404, not the site's page
    path("<str:ref>/<str:event>/", CallWebhookApi.as_view(), name="webhook"),
]
