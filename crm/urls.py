from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path

from admissions import views as admissions_views
from admissions import waitlist_views
from admissions.board import capacity_board_page
from crm import views
from crm.api_docs import ApiDocsView, ApiSchemaView
from crm.auth import mfa
from crm.roles import user_roles
from dashboards.access import can_see_dashboards

handler403 = "crm.views.permission_denied"
handler404 = "crm.views.page_not_found"
handler500 = "crm.views.server_error"

admin.site.site_header = "Admissions CRM administration"
admin.site.site_title = "Admissions CRM"


def home(request: HttpRequest) -> HttpResponse:
    """The start page: the work queue; for a role that works no inquiries, the first page it may
    open (as the error pages' way back: the dashboards, the administration, or the lead API's
    documentation for marketing), not a 403 right after signing in."""
    user = request.user
    if request.method != "GET" or not user.is_authenticated or user.has_perm("admissions.view_inquiry"):
        return admissions_views.open_inquiries(request)
    if not (user.is_staff or user_roles(user)):  # no role yet: the queue's 403 says so
        return admissions_views.open_inquiries(request)
    if can_see_dashboards(user):
        return redirect("dashboards:funnel")
    return redirect("admin:index" if user.is_staff else "api-docs")


urlpatterns = [
    path("", home, name="home"),
    path("", include("admissions.urls")),
    path("board/", capacity_board_page, name="capacity-board"),
    path("waitlist/", waitlist_views.waitlist_page, name="waitlist"),
    path("waitlist/<int:pk>/<slug:name>/", waitlist_views.waitlist_entry_act, name="waitlist-act"),
    path("", include("programs.urls")),
    path("", include("admissions.screening.ui_urls")),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("mfa/", mfa.verify, name="mfa-verify"),
    path("mfa/setup/", mfa.setup, name="mfa-setup"),
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    path("healthz", views.healthz, name="healthz"),
    path("messaging/", include("admissions.messaging.urls")),
    path("imports/", include("admissions.imports.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", ApiSchemaView.as_view(), name="api-schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("admissions.api.urls")),
    path("api/v1/calls/", include("admissions.calls.urls")),
    path("api/v1/", include("admissions.screening.urls")),
    path("dashboards/", include("dashboards.urls")),
    path("privacy/", include("privacy.urls")),
    path("audit/", include("privacy.audit_urls")),
    path("", include("crm.bench_urls")),  # routes nothing unless CRM_BENCH_ENDPOINTS=1
]
