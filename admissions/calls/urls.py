"""The call-tracking webhook, mounted under /api/v1/calls/ by ``crm.urls``."""

from __future__ import annotations

from django.urls import re_path

from admissions.calls.api import CallWebhookApi

app_name = "calls"

urlpatterns = [
    re_path(r"^(?P<ref>[^/]+)/(?P<event>[^/]+)/$", CallWebhookApi.as_view(), name="webhook"),
]
