"""Coordinator pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from admissions.selectors import inquiries_open_for


@login_required
def open_inquiries(request: HttpRequest) -> HttpResponse:
    """Home: the open inquiries of the user's facilities, oldest first."""
    page = Paginator(inquiries_open_for(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "admissions/open_inquiries.html", {"page": page, "now": timezone.now()})
