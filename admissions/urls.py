"""Coordinator pages, mounted at the site root by ``crm.urls``."""

from __future__ import annotations

from django.urls import path

from admissions import views

app_name = "admissions"

urlpatterns = [
    path("", views.open_inquiries, name="queue"),
]
