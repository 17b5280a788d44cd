"""Pages of the pre-screen and the clinical review queue, mounted at the site root by ``crm.urls``."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "screening_ui"

urlpatterns: list[URLPattern] = []
