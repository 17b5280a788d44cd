"""Coordinator pages, mounted at the site root by ``crm.urls``."""

from __future__ import annotations

from django.urls import path

from admissions import export, inquiry_views, queue_pulse, views, waitlist_views

app_name = "admissions"

urlpatterns = [
    path("", views.open_inquiries, name="queue"),
    path("queue/pulse/", queue_pulse.queue_pulse, name="queue-pulse"),
    path("inquiries/new/", views.intake, name="intake"),
    path("inquiries/new/duplicates/", views.intake_duplicates, name="intake-duplicates"),
    path("duplicates/", views.cross_facility_duplicates, name="cross-duplicates"),
    path("inquiries/<int:pk>/", inquiry_views.inquiry_page, name="inquiry"),
    path("inquiries/<int:pk>/act/<slug:name>/", inquiry_views.inquiry_act, name="inquiry-act"),
    path("inquiries/<int:pk>/place/", waitlist_views.inquiry_place, name="inquiry-place"),
    path("vob/", views.vob_queue, name="vob-queue"),
    path("people/<int:pk>/export/", export.person_export_view, name="person-export"),
]
