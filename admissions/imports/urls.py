"""Import pages, mounted at /imports/ by ``crm.urls``."""

from __future__ import annotations

from django.urls import path

from admissions.imports import views

app_name = "imports"

urlpatterns = [
    path("", views.imports_list, name="list"),
    path("<int:pk>/", views.import_detail, name="detail"),
    path("<int:pk>/map/", views.import_map, name="map"),
    path("<int:pk>/progress/", views.import_progress, name="progress"),
    path("<int:pk>/report.csv", views.import_report, name="report"),
    path("<int:pk>/<slug:action>/", views.import_act, name="act"),
]
