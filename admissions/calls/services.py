"""Receiving a call event: the inquiry found or opened, the call on its timeline, a call-back
for a missed call. One transaction per event, serialised per call by the call's row lock."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from admissions.calls.adapters import CallEventData
from admissions.calls.models import CallEvent, CallTrackingSource, TrackedCall, TrackingNumber
from admissions.lead_write import lead_ingest
from admissions.leads import LeadData
from admissions.models import Campaign, Channel, FollowUp, Inquiry, InquiryEvent, LeadSource, Touch
from admissions.pipeline import OPEN_STAGES
from admissions.services import dispatcher_kick, inquiry_event
from crm.audit import audit_record
from crm.models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

    from crm.models import User


@dataclass(frozen=True)
class CallReceipt:
    """What receiving an event did: ``created`` or ``merged`` (the inquiry of a call's first
    event), ``recorded`` (a later event of the call), ``duplicate`` (received before: nothing
    written), ``ignored`` (an outbound call: nothing written)."""

    status: str
    inquiry_id: int | None = None


def call_actor_label(source: CallTrackingSource) -> str:
    return f"call tracking: {source.get_provider_display()} {source.ref}"


@transaction.atomic
def call_event_receive(
    *, source: CallTrackingSource, data: CallEventData, request: HttpRequest | None = None
) -> CallReceipt:
    """Receive one event of a tracked call, exactly once per (source, call, kind), in any order."""
    if data.direction != "inbound":
        # A coordinator's own outbound call is logged on the inquiry page; the service's copy of it
        # names no inquiry to attach it to safely.
        return CallReceipt("ignored")
    call = _call_locked(source=source, call_id=data.call_id)
    if CallEvent.objects.filter(call=call, kind=data.kind).exists():
        return CallReceipt("duplicate", call.inquiry_id)
    status = "recorded"
    if call.inquiry_id is None:
        # The call's first event, start or end, whichever came first, finds or opens the inquiry.
        status = _inquiry_for_call(call=call, source=source, data=data, request=request)
    timeline = None
    if data.kind == CallEvent.Kind.END:
        timeline = _call_end_record(call=call, source=source, data=data, request=request)
    CallEvent.objects.create(call=call, kind=data.kind, occurred_at=data.occurred_at, timeline_event=timeline)
    return CallReceipt(status, call.inquiry_id)


def _call_locked(*, source: CallTrackingSource, call_id: str) -> TrackedCall:
    """The call's row, inserted if new (ON CONFLICT DO NOTHING: a concurrent delivery of the same
    call may insert it first) and locked until the transaction ends."""
    TrackedCall.objects.bulk_create([TrackedCall(source=source, call_id=call_id)], ignore_conflicts=True)
    return TrackedCall.objects.select_for_update().get(source=source, call_id=call_id)


def _attribution(*, source: CallTrackingSource, data: CallEventData) -> tuple[LeadSource, Campaign | None]:
    """The tracking number's lead source and campaign; the account's lead source for a number
    not on file."""
    if data.tracking_number:
        number = (
            TrackingNumber.objects.select_related("lead_source__default_facility", "campaign")
            .filter(number=data.tracking_number)
            .first()
        )
        if number is not None and number.lead_source.is_active:
            return number.lead_source, number.campaign
    return source.lead_source, None


def _inquiry_for_call(
    *, call: TrackedCall, source: CallTrackingSource, data: CallEventData, request: HttpRequest | None
) -> str:
    """Find or open the caller's inquiry through the lead write path (its normalisation,
    deduplication against open inquiries, routing and audit) and tie the call to it."""
    lead_source, campaign = _attribution(source=source, data=data)
    first, _, last = (data.caller_name or "Unknown caller").partition(" ")
    attribution = {"call_tracking_id": data.call_id, "utm_source": data.service_source[:120]}
    if campaign is not None and campaign.utm_campaign:
        attribution["utm_campaign"] = campaign.utm_campaign
    result = lead_ingest(
        lead=LeadData(
            first_name=first,
            last_name=last,
            phone=data.caller_number,
            attribution=attribution,
            contact_checked=True,
        ),
        source=lead_source,
        actor_label=call_actor_label(source),
        request=request,
    )
    if result.created:
        _first_touch_as_call(inquiry_id=result.inquiry.pk, call_id=data.call_id, campaign=campaign)
    call.inquiry_id = result.inquiry.pk
    call.started_at = data.started_at
    call.save(update_fields=["inquiry", "started_at"])
    return result.status


def _first_touch_as_call(*, inquiry_id: int, call_id: str, campaign: Campaign | None) -> None:
    """A call opened the inquiry: its channel is the phone whatever kind of source the number
    advertises (a directory listing, a website), and its campaign is the tracking number's even
    when the campaign has no UTM name to be found by."""
    changes: dict[str, object] = {"channel": Channel.PHONE}
    if campaign is not None:
        changes["campaign"] = campaign
    Inquiry.objects.filter(pk=inquiry_id).update(**changes)
    Touch.objects.filter(inquiry_id=inquiry_id, call_tracking_id=call_id).update(**changes)


def _call_end_record(
    *, call: TrackedCall, source: CallTrackingSource, data: CallEventData, request: HttpRequest | None
) -> InquiryEvent:
    """The call on the timeline (duration, answered or missed, recording, the service's id); a
    missed call on an open inquiry gets a call-back task due now, the speed-to-lead clock still
    running (no attempt is recorded)."""
    assert call.inquiry_id is not None  # noqa: S101 - the call's first event tied it to one
    inquiry = Inquiry.objects.only("id", "stage").get(pk=call.inquiry_id)
    now = timezone.now()
    # Before the call-back falls due: the due list hides a call-back with a call logged since.
    at = min(data.occurred_at, now - timedelta(microseconds=1))
    if data.answered:
        outcome = InquiryEvent.CallOutcome.CONNECTED
    elif data.voicemail:
        outcome = InquiryEvent.CallOutcome.VOICEMAIL
    else:
        outcome = InquiryEvent.CallOutcome.NO_ANSWER
    event = inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.CALL,
        actor_label=call_actor_label(source),
        at=at,
        data={
            "provider": source.provider,
            "call_id": data.call_id,
            "duration_seconds": data.duration_seconds or 0,
            "answered": bool(data.answered),
            "voicemail": data.voicemail,
            "recording_url": data.recording_url,
            "started_at": data.started_at.isoformat(),
        },
        call_direction=InquiryEvent.CallDirection.INBOUND,
        call_outcome=outcome,
    )
    fields = ["call:end", "call.duration", "call.answered", "call.id"]
    if data.recording_url:
        fields.append("call.recording")
    if data.missed and inquiry.stage in OPEN_STAGES:
        _callback_open(inquiry=inquiry, call=call, due_at=now)
        fields.append("followup:callback")
    audit_record(
        action=AuditEvent.Action.API_WRITE,
        obj=inquiry,
        actor_label=call_actor_label(source),
        fields=fields,
        request=request,
    )
    return event


def _callback_open(*, inquiry: Inquiry, call: TrackedCall, due_at: datetime) -> None:
    """A call-back task for a missed call, due at once (one per call)."""
    FollowUp.objects.bulk_create(
        [
            FollowUp(
                inquiry=inquiry,
                kind=FollowUp.Kind.CALLBACK,
                channel=FollowUp.Channel.TASK,
                due_at=due_at,
                dedupe_key=f"call:{call.pk}:callback",
            )
        ],
        ignore_conflicts=True,
    )
    dispatcher_kick()


# --- sources -----------------------------------------------------------------------------

REF_PREFIX = "cts_"


def call_tracking_source_create(
    *,
    lead_source: LeadSource,
    provider: str,
    secret: str,
    label: str = "",
    created_by: User | None = None,
) -> CallTrackingSource:
    """Register an account at a call-tracking service; its webhook URLs name the new ``ref``."""
    if provider not in CallTrackingSource.Provider.values:
        raise ValueError(f"Unknown provider {provider!r}.")
    if not secret.strip():
        raise ValueError("The service's signing secret is required.")
    return CallTrackingSource.objects.create(
        lead_source=lead_source,
        provider=provider,
        label=label,
        ref=REF_PREFIX + secrets.token_hex(6),
        secret=secret.strip(),
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )


def call_tracking_source_secret_set(*, source: CallTrackingSource, secret: str) -> None:
    """Replace the signing secret (the service rotated it)."""
    if not secret.strip():
        raise ValueError("The service's signing secret is required.")
    source.secret = secret.strip()
    source.save(update_fields=["secret"])


def call_tracking_source_revoke(*, source: CallTrackingSource) -> None:
    """Refuse the source's webhooks from now on (401)."""
    CallTrackingSource.objects.filter(pk=source.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
