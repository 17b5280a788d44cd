"""Public endpoints: the SMS provider's webhooks, inbound email replies, email unsubscribe; and
the coordinator's one action on a messaging hold.

The public ones have no session: webhooks prove themselves with the provider's signature (or
the email relay's HMAC), unsubscribe links with a signed token. Pages say nothing about
treatment and nothing about the person.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from admissions.messaging.delivery_status import sms_status_update
from admissions.messaging.holds import HoldReleaseError, messaging_hold_release
from admissions.messaging.inbound import DuplicateInbound, email_inbound_receive, sms_inbound_receive
from admissions.messaging.models import MessagingHold
from admissions.messaging.replies import email_html_text
from admissions.messaging.unsubscribe import email_unsubscribe, unsubscribe_consent
from admissions.messaging.webhooks import (
    webhook_signature_claim,
    webhook_signature_forget,
    webhook_signature_valid,
    webhook_timestamp_problem,
)
from admissions.selectors import inquiries_visible_to
from crm.models import User

_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _signed(request: HttpRequest) -> bool:
    url = f"{settings.CRM_PUBLIC_URL}{request.get_full_path()}"
    params = {key: request.POST.get(key, "") for key in request.POST}
    return webhook_signature_valid(
        url=url,
        params=params,
        auth_token=settings.SMS_WEBHOOK_AUTH_TOKEN,
        signature=request.headers.get("X-Twilio-Signature", ""),
    )


def _text(body: str, status: int) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain")


def _webhook(handle: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Signature, timestamp window and replay checks shared by the provider's webhooks."""

    @wraps(handle)
    def view(request: HttpRequest) -> HttpResponse:
        if not _signed(request):
            return _text("invalid signature", 403)
        params = {key: request.POST.get(key, "") for key in request.POST}
        problem = webhook_timestamp_problem(params, now=timezone.now())
        if problem:
            return _text(problem, 403)
        signature = request.headers.get("X-Twilio-Signature", "")
        if not webhook_signature_claim(signature):
            return _text("replayed request", 409)
        try:
            response = handle(request)
        except Exception:
            webhook_signature_forget(signature)  # the provider retries a failed request: let it in
            raise
        if response.status_code >= 500:
            webhook_signature_forget(signature)
        return response

    return view


@csrf_exempt
@require_POST
@_webhook
def sms_inbound(request: HttpRequest) -> HttpResponse:
    """Inbound text from the provider: signature, time window and replays checked, then handled."""
    sid = request.POST.get("MessageSid", "") or request.POST.get("SmsSid", "")
    if not sid:
        return _text("missing MessageSid", 400)
    try:
        sms_inbound_receive(
            provider_message_id=sid,
            from_number=request.POST.get("From", ""),
            to_number=request.POST.get("To", ""),
            body=request.POST.get("Body", ""),
        )
    except DuplicateInbound:
        return _text("duplicate MessageSid", 409)
    # Replies (HELP text, opt-out and re-subscribe confirmations) go out through the outbound queue.
    return HttpResponse(_EMPTY_TWIML, content_type="application/xml")


@csrf_exempt
@require_POST
@_webhook
def sms_status(request: HttpRequest) -> HttpResponse:
    """Delivery status callback from the provider."""
    sms_status_update(
        provider_message_id=request.POST.get("MessageSid", ""),
        provider_status=request.POST.get("MessageStatus", "") or request.POST.get("SmsStatus", ""),
    )
    return HttpResponse(status=204)


_PAGE = Template(
    """{% load static %}<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Email preferences</title><link rel="stylesheet" href="{% static 'crm/app.css' %}"></head>
<body><main class="card narrow">
{% if state == "ask" %}<h1>Stop these emails?</h1>
<p>Confirm and we will not send automated emails to this address again.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit" class="primary">Unsubscribe</button></form>
{% elif state == "done" %}<h1>You are unsubscribed</h1>
<p>We will not send automated emails to this address.</p>
{% else %}<h1>This link is not valid</h1><p>It may be incomplete. Reply to the email to reach us instead.</p>
{% endif %}</main></body></html>"""
)


@csrf_exempt  # RFC 8058: mail providers POST without any session or token of ours
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation page; POST (one-click, RFC 8058) revokes email consent."""
    consent = unsubscribe_consent(token)
    if consent is None:
        return HttpResponse(_PAGE.render(Context({"state": "invalid"})), status=404)
    if request.method == "GET":
        response = HttpResponse(_PAGE.render(Context({"state": "ask"})))
    else:
        email_unsubscribe(consent=consent, source="email unsubscribe link")
        response = HttpResponse(_PAGE.render(Context({"state": "done"})))
    response["Cache-Control"] = "no-store"
    return response


def email_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """``X-Webhook-Signature`` of an inbound email: hex HMAC-SHA256 of "<timestamp>." + raw body."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@csrf_exempt
@require_POST
def email_inbound(request: HttpRequest) -> HttpResponse:
    """An email reply relayed as JSON (message_id, from, to, subject, text or html), signed with
    ``EMAIL_WEBHOOK_SECRET`` over its timestamp and body; stale or replayed requests are refused."""
    secret = settings.EMAIL_WEBHOOK_SECRET
    stamp = request.headers.get("X-Webhook-Timestamp", "")
    given = request.headers.get("X-Webhook-Signature", "").removeprefix("sha256=")
    expected = email_signature(secret=secret, timestamp=stamp, body=request.body) if secret else ""
    if not secret or not given or not hmac.compare_digest(expected, given):
        return _text("invalid signature", 403)
    problem = webhook_timestamp_problem({"Timestamp": stamp}, now=timezone.now())
    if problem:
        return _text(problem, 403)
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _text("body must be a JSON object", 400)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k, ""), str) for k in ("message_id", "from")
    ):
        return _text("body must be a JSON object", 400)
    if not data.get("message_id") or not data.get("from"):
        return _text("message_id and from are required", 400)
    try:
        email_inbound_receive(
            provider_message_id=data["message_id"],
            from_address=data["from"],
            to_address=str(data.get("to", "")),
            subject=str(data.get("subject", "")),
            text=str(data.get("text") or "") or email_html_text(str(data.get("html") or "")),
        )
    except DuplicateInbound:
        return _text("duplicate message_id", 409)
    return HttpResponse(status=204)


@login_required
@permission_required("admissions.view_inquiry", raise_exception=True)
@require_POST
def hold_release(request: HttpRequest, pk: int) -> HttpResponse:
    """Allow automated messages again (a clinician after a crisis; a coordinator after asking)."""
    user: User = request.user  # type: ignore[assignment]
    visible = inquiries_visible_to(user).values("person_id")
    hold = get_object_or_404(MessagingHold.objects.filter(person_id__in=visible), pk=pk)
    inquiry_id = (
        hold.inquiry_id or visible.filter(person_id=hold.person_id).values_list("pk", flat=True).first()
    )
    try:
        messaging_hold_release(hold=hold, actor=user, note=request.POST.get("note", ""))
    except HoldReleaseError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Automated messages are allowed again.")
    return HttpResponseRedirect(reverse("admissions:inquiry", args=[inquiry_id]) + "#messaging")
