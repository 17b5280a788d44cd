"""A URL conf with a view that fails, for the 500 page test: the site's URLs plus one broken page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from crm.urls import handler403, handler404, handler500
from crm.urls import urlpatterns as site_urlpatterns

__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


urlpatterns = [path("broken/", broken), *site_urlpatterns]
