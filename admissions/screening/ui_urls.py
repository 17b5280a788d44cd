"""Pages of the pre-screen and the clinical review queue, mounted at the site root by ``crm.urls``."""

from __future__ import annotations

from django.urls import path

from admissions.screening import views

app_name = "screening_ui"

urlpatterns = [
    path("inquiries/<int:inquiry_id>/screening/", views.screening_page, name="screening"),
    path("inquiries/<int:inquiry_id>/screening/signoff/", views.signoff_page, name="signoff"),
    path(
        "inquiries/<int:inquiry_id>/screening/override/",
        views.match_override_page,
        name="match-override",
    ),
    path("review/", views.review_queue, name="review-queue"),
]
