from django.urls import path

from admissions.messaging import views

app_name = "messaging"

urlpatterns = [
    path("sms/inbound", views.sms_inbound, name="sms-inbound"),
    path("sms/status", views.sms_status, name="sms-status"),
    path("email/inbound", views.email_inbound, name="email-inbound"),
    path("unsubscribe/<str:token>", views.unsubscribe, name="unsubscribe"),
    path("holds/<int:pk>/release", views.hold_release, name="hold-release"),
]
