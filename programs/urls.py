"""Discharge pages and the EHR's discharge API, mounted by ``crm.urls``."""

from __future__ import annotations

from django.urls import path

from programs import views

urlpatterns = [
    path("board/discharges/", views.discharges_page, name="discharges"),
    path("board/discharges/<int:pk>/", views.discharge_change_view, name="discharge-change"),
    path("api/v1/discharges/", views.DischargeImportApi.as_view(), name="discharge-import"),
]
