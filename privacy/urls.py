"""Part 2 consent and disclosure pages, mounted at ``/privacy/`` by ``crm.urls``."""

from __future__ import annotations

from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("inquiries/<int:pk>/consents/new/", views.consent_new, name="consent-new"),
    path("inquiries/<int:pk>/disclose/<slug:path>/", views.disclosure_new, name="disclose"),
    path("inquiries/<int:pk>/ledger/", views.ledger, name="ledger"),
    path("consents/<int:pk>/", views.consent_detail, name="consent"),
    path("consents/<int:pk>/revoke/", views.consent_revoke_view, name="consent-revoke"),
    path("disclosures/<int:pk>/", views.disclosure_detail, name="disclosure"),
]
