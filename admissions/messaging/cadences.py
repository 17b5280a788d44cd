"""Cadence planning: turn timeline triggers into follow-ups from the ``CadenceStep`` rows, and plan
the next touch of a repeating step."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from admissions.messaging.consent import consent_active
from admissions.messaging.holds import people_held
from admissions.messaging.mediums import MEDIUMS
from admissions.messaging.models import CadencePlanMark, CadenceStep
from admissions.models import FollowUp, Inquiry, InquiryEvent
from admissions.pipeline import Stage

_STAGE_TRIGGERS = {
    Stage.NURTURE: CadenceStep.Trigger.NURTURE,
    Stage.REFERRED_OUT: CadenceStep.Trigger.REFERRED_OUT,
    Stage.ADMISSION_SCHEDULED: CadenceStep.Trigger.ADMISSION_SCHEDULED,
}
_TRIGGER_STAGE = {v: k for k, v in _STAGE_TRIGGERS.items()}


def _step_matches(step: CadenceStep, inquiry: Inquiry) -> bool:
    if step.facility_id and step.facility_id != inquiry.facility_id:
        return False
    if step.inquiry_channel and step.inquiry_channel != inquiry.channel:
        return False
    kind = inquiry.lead_source.kind if inquiry.lead_source else ""
    return not (step.lead_source_kind and step.lead_source_kind != kind)


def _step_due(step: CadenceStep, inquiry: Inquiry, event: InquiryEvent, now: datetime) -> datetime | None:
    if step.trigger != CadenceStep.Trigger.ADMISSION_SCHEDULED:
        return event.at + step.offset
    if inquiry.admission_date is None:
        return None
    import zoneinfo  # noqa: PLC0415

    anchor = datetime.combine(
        inquiry.admission_date, time(9, 0), tzinfo=zoneinfo.ZoneInfo(inquiry.facility.time_zone)
    )
    if anchor <= now:
        return None
    return max(anchor + step.offset, now)


def cadences_plan(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Turn recent triggers (new inquiries, stage changes) into follow-ups from the cadence steps."""
    now = now or timezone.now()
    since = now - timedelta(hours=settings.FOLLOWUP_PLAN_LOOKBACK_HOURS)
    events = list(
        InquiryEvent.objects.filter(
            Q(kind=InquiryEvent.Kind.CREATED)
            | Q(kind=InquiryEvent.Kind.STAGE_CHANGED, data__to__in=[str(s) for s in _STAGE_TRIGGERS]),
            at__gte=since,
        )
        .exclude(Exists(CadencePlanMark.objects.filter(event_id=OuterRef("pk"))))
        .select_related("inquiry__lead_source", "inquiry__facility", "inquiry__person")
        .order_by("at")[:limit]
    )
    if not events:
        return 0
    steps = list(CadenceStep.objects.filter(is_active=True))
    held = people_held({e.inquiry.person_id for e in events})
    rows: list[FollowUp] = []
    for event in events:
        inquiry = event.inquiry
        if event.kind == InquiryEvent.Kind.CREATED:
            trigger = CadenceStep.Trigger.NEW_INQUIRY
            current = inquiry.stage in (Stage.NEW, Stage.CONTACT_ATTEMPTED)
        else:
            trigger = _STAGE_TRIGGERS[Stage(event.data["to"])]
            current = inquiry.stage == _TRIGGER_STAGE[trigger] and inquiry.stage_changed_at <= event.at
        if not current or inquiry.has_red_flag:
            continue
        for step in steps:
            if step.trigger != trigger or not _step_matches(step, inquiry):
                continue
            if step.channel in MEDIUMS and inquiry.person_id in held:
                continue  # a crisis or an unclear reply holds automated messages
            if step.channel in MEDIUMS:
                address = MEDIUMS[step.channel].address(person=inquiry.person, inquiry=inquiry)
                if consent_active(person=inquiry.person, medium=step.channel, address=address) is None:
                    continue  # only with consent; the send-time check runs again anyway
            due = _step_due(step, inquiry, event, now)
            if due is None:
                continue
            rows.append(
                FollowUp(
                    inquiry=inquiry,
                    kind=step.kind,
                    channel=step.channel,
                    template_code=step.template_code,
                    cadence_step=step,
                    due_at=due,
                    dedupe_key=f"inquiry:{inquiry.pk}:{step.key}:{event.pk}:0",
                    created_at=now,
                )
            )
    with transaction.atomic():
        FollowUp.objects.bulk_create(rows, ignore_conflicts=True)
        CadencePlanMark.objects.bulk_create(
            [CadencePlanMark(event=e, planned_at=now) for e in events], ignore_conflicts=True
        )
    return len(rows)


def cadence_repeat(*, followup: FollowUp) -> FollowUp | None:
    """Plan the next touch of a repeating step (e.g. the monthly nurture touch)."""
    step = followup.cadence_step
    if step is None or step.repeat_every is None or not step.is_active:
        return None
    if step.max_repeats and followup.sequence >= step.max_repeats:
        return None
    stem = followup.dedupe_key.rsplit(":", 1)[0]
    next_one = FollowUp(
        inquiry_id=followup.inquiry_id,
        kind=followup.kind,
        channel=followup.channel,
        template_code=followup.template_code,
        cadence_step=step,
        sequence=followup.sequence + 1,
        due_at=followup.due_at + step.repeat_every,
        dedupe_key=f"{stem}:{followup.sequence + 1}",
        created_at=followup.created_at,  # still planned for the same stay in the stage
    )
    FollowUp.objects.bulk_create([next_one], ignore_conflicts=True)
    return next_one
