"""Manager audit pages, mounted at ``/audit/`` by ``crm.urls``."""

from __future__ import annotations

from django.urls import path

from privacy import audit_views

app_name = "audit"

urlpatterns = [
    path("", audit_views.audit_index, name="index"),
    path("inquiries/<int:pk>/", audit_views.inquiry_audit, name="inquiry"),
    path("users/", audit_views.user_audit, name="user"),
]
