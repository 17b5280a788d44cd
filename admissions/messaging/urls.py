from django.urls import path

from admissions.messaging import views

app_name = "messaging"

urlpatterns = [
    path("sms/inbound", views.sms_inbound, name="sms-inbound"),
    path("sms/status", views.sms_status, name="sms-status"),
    path("unsubscribe/<str:token>", views.unsubscribe, name="unsubscribe"),
]
