from django.urls import path

from dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.dashboard, {"report": "funnel"}, name="funnel"),
    path("speed/", views.dashboard, {"report": "speed"}, name="speed"),
    path("sources/", views.dashboard, {"report": "sources"}, name="sources"),
    path("outcomes/", views.dashboard, {"report": "outcomes"}, name="outcomes"),
    path("census/", views.dashboard, {"report": "census"}, name="census"),
    path("waitlist/", views.dashboard, {"report": "waitlist"}, name="waitlist"),
    path("coordinators/", views.dashboard, {"report": "coordinators"}, name="coordinators"),
    path("trends/", views.dashboard, {"report": "trends"}, name="trends"),
]
