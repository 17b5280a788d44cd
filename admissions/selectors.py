"""Reads for pages and APIs; joins and scoping are decided here, once."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.db.models import (
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from admissions.leads import PublicStage, public_stage
from admissions.models import FollowUp, Inquiry, InquiryEvent, LeadSource, Person, working_stage_rank
from admissions.pipeline import OPEN_STAGES, Stage
from crm import phones
from crm.models import User
from crm.scoping import scope_to_user


def inquiries_visible_to(user: User | AnonymousUser) -> QuerySet[Inquiry]:
    """Every inquiry of the user's facilities."""
    return scope_to_user(Inquiry.objects.all(), user)


# --- the work queue ----------------------------------------------------------------------

UNCONTACTED_STAGES: tuple[str, ...] = (Stage.NEW, Stage.CONTACT_ATTEMPTED)
SPEED_TO_LEAD_TARGET_MINUTES = 5
# Staff follow-ups that ask a person to pick up the phone.
CALL_KINDS = (FollowUp.Kind.CALL_TASK, FollowUp.Kind.CALLBACK, FollowUp.Kind.NURTURE_TOUCH)
DUE_KINDS = (*CALL_KINDS, FollowUp.Kind.HANDOFF)
_ROW_FIELDS = (
    "id",
    "stage",
    "created_at",
    "stage_changed_at",
    "first_attempt_at",
    "channel",
    "has_red_flag",
    "facility_id",
    # what the row's next step is decided from (admissions.next_step)
    "approved_level",
    "capacity_hold",
    "admission_date",
    "crisis_routed_at",
    "person__first_name",
    "person__last_name",
    "facility__name",
    "lead_source__name",
    "assigned_to__username",
    "assigned_to__first_name",
    "assigned_to__last_name",
)


class QueueTab(models.TextChoices):
    NEW = "new", "New and uncontacted"
    DUE = "due", "Follow-ups due"
    MINE = "mine", "My open inquiries"
    UNASSIGNED = "unassigned", "Unassigned"
    OPEN = "open", "All open"


def queue_rows(base: QuerySet[Inquiry]) -> QuerySet[Inquiry]:
    """What a queue row shows, in one query."""
    return base.select_related("person", "facility", "lead_source", "assigned_to").only(*_ROW_FIELDS)


def queue_tab(base: QuerySet[Inquiry], *, tab: str, user: User) -> QuerySet[Inquiry]:
    """The inquiries of one tab of the work queue, in the order they should be worked."""
    if tab == QueueTab.NEW:
        # One stage list, not two: the planner then reads the open-arrival index in order.
        return queue_rows(base.filter(stage__in=UNCONTACTED_STAGES)).order_by("created_at", "pk")
    open_ = base.filter(stage__in=sorted(OPEN_STAGES))
    if tab == QueueTab.MINE:
        return queue_rows(open_.filter(assigned_to=user)).order_by(working_stage_rank(), "created_at", "pk")
    if tab == QueueTab.UNASSIGNED:
        return queue_rows(open_.filter(assigned_to__isnull=True)).order_by("created_at", "pk")
    return queue_rows(open_).order_by("created_at", "pk")


def followups_due_for(user: User, *, base: QuerySet[Inquiry], now: datetime) -> QuerySet[FollowUp]:
    """Call tasks, call-backs and hand-offs on the user's open inquiries, due by the end of today,
    with no call logged since they fell due (nor, for a hand-off, a stage change: the step was
    taken); hand-offs first (the next step is the user's now), then the most overdue. Rows only:
    page them, then ``followup_rows``."""
    end_of_day = timezone.localtime(now).replace(hour=23, minute=59, second=59)
    called_since = InquiryEvent.objects.filter(
        inquiry_id=OuterRef("inquiry_id"), kind=InquiryEvent.Kind.CALL, at__gte=OuterRef("due_at")
    )
    handed_on = Q(kind=FollowUp.Kind.HANDOFF, inquiry__stage_changed_at__gt=F("due_at"))
    return (
        FollowUp.objects.filter(
            inquiry__in=base.filter(assigned_to=user, stage__in=sorted(OPEN_STAGES)).values("pk"),
            channel=FollowUp.Channel.TASK,
            kind__in=DUE_KINDS,
            state__in=[FollowUp.State.SCHEDULED, FollowUp.State.QUEUED, FollowUp.State.DONE],
            due_at__lte=end_of_day,
        )
        .exclude(Exists(called_since))
        .exclude(handed_on)
        .order_by(Case(When(kind=FollowUp.Kind.HANDOFF, then=0), default=1), "due_at", "pk")
    )


def followup_rows(ids: list[int]) -> list[FollowUp]:
    """What a due follow-up row shows, for one page of ids, in the order given.

    The page's ids are chosen first, on the follow-ups alone: joined first, the planner fetched
    the person and facility of every due follow-up (a heavy caseload has over a thousand) before
    keeping fifty.
    """
    rows = (
        FollowUp.objects.filter(pk__in=ids)
        .select_related("inquiry__person", "inquiry__facility")
        .only(
            "id",
            "kind",
            "due_at",
            "state",
            "inquiry__id",
            "inquiry__stage",
            "inquiry__has_red_flag",
            "inquiry__person__first_name",
            "inquiry__person__last_name",
            "inquiry__facility__name",
            "outcome",
        )
    )
    return _in_order(rows, ids)


# The due tab's badge stops counting here and shows "99+": a heavy caseload has over a thousand
# calls due, and counting them all on every refresh of the queue was its slowest query.
DUE_COUNT_CAP = 99
# The due tab lists this many (ten pages: hand-offs, then the most overdue) and says when more are
# due: nobody works past the tenth page of one day's calls, and the page then holds this many ids
# at most, not a whole caseload's thousands. The statement still weighs every due call to sort
# them (44 ms for the demo coordinator's 7,201 at a million inquiries).
DUE_LIST_CAP = 500


def queue_counts(
    base: QuerySet[Inquiry], *, user: User, now: datetime, due: int | None = None
) -> dict[str, int]:
    """The number on each tab: one aggregate over the open inquiries and one count of due calls
    (at most ``DUE_COUNT_CAP`` + 1), unless the caller has counted those (``due``)."""
    counts = base.filter(stage__in=sorted(OPEN_STAGES)).aggregate(
        new=Count("pk", filter=Q(stage__in=UNCONTACTED_STAGES)),
        mine=Count("pk", filter=Q(assigned_to=user)),
        unassigned=Count("pk", filter=Q(assigned_to__isnull=True)),
        open=Count("pk"),
    )
    if due is None:
        due = followups_due_for(user, base=base, now=now).order_by()[: DUE_COUNT_CAP + 1].count()
    counts["due"] = due
    return counts


# --- search ------------------------------------------------------------------------------

_HAS_LETTER = re.compile(r"[^\W\d_]")
# A name prefix matching more people than this is narrowed by typing more of it.
SEARCH_PEOPLE_LIMIT = 500


def search_condition(text: str) -> Q | None:
    """Turn what a coordinator typed into a lookup: an inquiry number, a phone in any format,
    an email, or names. Every arm is served by an index; ``None`` if there is nothing to find."""
    text = " ".join(text.split())[:100]
    if not text:
        return None
    if re.fullmatch(r"#?\d{1,9}", text) and len(text.lstrip("#")) < 7:
        return Q(pk=int(text.lstrip("#")))
    if "@" in text:
        email = text.lower()
        by_email = _people_ids(Person.objects.filter(email=email))
        return Q(stage__in=sorted(OPEN_STAGES), email=email) | Q(person_id__in=by_email)
    if not _HAS_LETTER.search(text):
        e164 = phones.phone_e164_or_blank(text)
        if not e164:
            return Q(pk__in=[])
        by_phone = _people_ids(Person.objects.filter(phone=e164))
        return Q(stage__in=sorted(OPEN_STAGES), phone=e164) | Q(person_id__in=by_phone)
    words = [w.strip(",") for w in text.split(" ") if w.strip(",")][:3]
    if len(words) == 1:
        people = Person.objects.filter(
            Q(last_name__istartswith=words[0]) | Q(first_name__istartswith=words[0])
        )
    else:
        first, last = words[0], words[-1]
        people = Person.objects.filter(
            Q(first_name__istartswith=first, last_name__istartswith=last)
            | Q(first_name__istartswith=last, last_name__istartswith=first)
        )
    return Q(person_id__in=_people_ids(people))


def _people_ids(people: QuerySet[Person]) -> list[int]:
    """The matching people's ids, read first: with a literal list the planner joins through the
    person index instead of walking every inquiry in date order looking for them."""
    return list(people.order_by().values_list("pk", flat=True)[:SEARCH_PEOPLE_LIMIT])


def inquiries_search(base: QuerySet[Inquiry], text: str) -> list[int]:
    """The ids of every inquiry (open or not) in ``base`` matching ``text``, newest first.

    Ids only, to be paged and then read with ``inquiry_rows``: a common surname matches hundreds
    of inquiries, and sorting them before joining their person, facility, source and owner is
    cheaper than joining all of them to keep fifty.
    """
    condition = search_condition(text)
    if condition is None:
        return []
    # Sorted on an expression, not the column: the matches are few and found through the person
    # and contact indexes, and a plain ORDER BY created_at tempts the planner to walk the whole
    # arrival index backwards looking for them.
    arrival = ExpressionWrapper(F("created_at") + Value(timedelta(0)), output_field=models.DateTimeField())
    return list(base.filter(condition).order_by(arrival.desc(), "-pk").values_list("pk", flat=True))


def inquiry_rows(ids: list[int]) -> list[Inquiry]:
    """What a queue row shows (``queue_rows``) for one page of ids, in the order given."""
    return _in_order(queue_rows(Inquiry.objects.filter(pk__in=ids)), ids)


def _in_order(rows: QuerySet[Any], ids: list[int]) -> list[Any]:
    by_id = {row.pk: row for row in rows}
    return [by_id[pk] for pk in ids if pk in by_id]


# --- the lead API ---------------------------------------------------------------


def lead_for_source(*, source: LeadSource, inquiry_id: int) -> Inquiry | None:
    """An inquiry the source created (first touch), with only the fields the API shows."""
    return (
        Inquiry.objects.filter(pk=inquiry_id, lead_source=source)
        .only("id", "stage", "created_at", "first_attempt_at", "contacted_at", "admitted_at")
        .first()
    )


def lead_first_contact_at(inquiry: Inquiry) -> datetime | None:
    """The first outbound attempt, or the first conversation if that came earlier."""
    times = [t for t in (inquiry.first_attempt_at, inquiry.contacted_at) if t is not None]
    return min(times) if times else None


def lead_source_stage_counts(*, source: LeadSource, start: datetime, end: datetime) -> dict[str, int]:
    """Inquiries the source created in [start, end), counted per public stage (zeros included)."""
    counts = dict.fromkeys(PublicStage.values, 0)
    rows = (
        Inquiry.objects.filter(lead_source=source, created_at__gte=start, created_at__lt=end)
        .order_by()
        .values_list("stage")
        .annotate(n=Count("pk"))
    )
    for stage, n in rows:
        counts[public_stage(stage)] += n
    return counts
