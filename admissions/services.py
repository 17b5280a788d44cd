"""Writes and business rules of admissions. The only place an inquiry's stage changes.

Background work is enqueued with ``transaction.on_commit`` so a worker never
sees an id whose row is not committed yet.
"""

from __future__ import annotations

import functools
import json
import time as time_module
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Any, TypeVar
from uuid import UUID

from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone
from psycopg.types.json import Json, Jsonb

from admissions.followup_policy import NEW_INQUIRY_CADENCE, STOPS_AFTER_FIRST_ATTEMPT
from admissions.models import (
    Caller,
    Campaign,
    FollowUp,
    Inquiry,
    InquiryEvent,
    LeadSource,
    Person,
    ReferralPartner,
    Substance,
    Touch,
)
from admissions.pipeline import (
    STAGE_TIMESTAMP_FIELD,
    TERMINAL_STAGES,
    Stage,
    TransitionError,
    check_transition,
)
from admissions.waitlist_offers import waitlist_entries_close
from crm.db import prepared_cursor
from crm.models import Facility, User
from crm.phones import E164, PhoneNumberField
from crm.roles import Role
from programs.models import CapacityHold, Census, Program
from programs.services import capacity_hold_create, capacity_hold_release

_M = TypeVar("_M", bound=models.Model)


def rows_insert(objs: Sequence[_M], *, ignore_conflicts: bool = False) -> list[_M]:
    """Insert unsaved instances of one model in one statement, like ``bulk_create`` (no ``save()``,
    no signals; primary keys set unless conflicts are ignored), at a fraction of its cost.

    A new inquiry writes a dozen rows; on PostgreSQL their SQL is built once per shape and cached,
    and each value goes through the field's own ``pre_save`` and ``get_db_prep_save`` as in the ORM.
    Other databases, and rows carrying an expression, take ``bulk_create`` itself."""
    if not objs:
        return list(objs)
    db = transaction.get_connection()  # the connection itself: every ``connection.x`` is a lookup
    statement = _rows_insert_statement(objs, db, ignore_conflicts=ignore_conflicts, returning=True)
    if statement is None:
        return type(objs[0])._default_manager.bulk_create(objs, ignore_conflicts=ignore_conflicts)
    sql, values = statement
    with prepared_cursor() as cursor:
        cursor.execute(sql, values)
        ids = [] if ignore_conflicts else [row[0] for row in cursor.fetchall()]
    if ids:
        attname = type(objs[0])._meta.pk.attname  # type: ignore[union-attr]
        for obj, pk in zip(objs, ids, strict=True):
            setattr(obj, attname, pk)
    return list(objs)


# The inserts ``rows_insert_later`` and ``records_insert_later`` hold back in the current
# ``rows_insert_batch``.
_BATCH: ContextVar[list[tuple[str, list[Any]]] | None] = ContextVar("rows_insert_batch", default=None)


@contextmanager
def rows_insert_batch() -> Iterator[None]:
    """Hold back the inserts of ``rows_insert_later`` and ``records_insert_later`` and send them
    together when the block ends.

    On PostgreSQL they become one statement, each insert a data-modifying ``WITH`` query of it:
    one round trip, parse and plan instead of one per table. An exception in the block drops
    them (the transaction around it rolls back). Use it inside a transaction; a nested batch
    leaves the sending to the outer one."""
    if _BATCH.get() is not None:
        yield
        return
    token = _BATCH.set([])
    try:
        yield
        held = _BATCH.get() or []
    finally:
        _BATCH.reset(token)
    if not held:
        return
    *first, (last, _) = held
    sql = last
    if first:
        sql = "WITH " + ", ".join(f"w{n} AS ({part})" for n, (part, _) in enumerate(first)) + " " + last
    with prepared_cursor() as cursor:
        cursor.execute(sql, [value for _, values in held for value in values])


def rows_insert_later(objs: Sequence[_M], *, ignore_conflicts: bool = False) -> list[_M]:
    """``rows_insert`` for rows whose new primary keys nobody reads: inside ``rows_insert_batch``
    on PostgreSQL the insert waits for the end of the batch; anywhere else it runs now."""
    batch = _BATCH.get()
    db = transaction.get_connection()
    statement = (
        _rows_insert_statement(objs, db, ignore_conflicts=ignore_conflicts, returning=False, as_json=True)
        if objs and batch is not None
        else None
    )
    if statement is None:
        return rows_insert(objs, ignore_conflicts=ignore_conflicts)
    batch.append(statement)  # type: ignore[union-attr]
    return list(objs)


def records_insert_later(
    model: type[models.Model], records: Sequence[dict[str, Any]], *, ignore_conflicts: bool = False
) -> None:
    """``rows_insert_later`` for rows given as values by attribute name (``inquiry_id``, not
    ``inquiry``), every other field at its default, for rows nobody reads back.

    Inside ``rows_insert_batch`` on PostgreSQL no model instance is built: each record travels
    as its given values and the defaults computed per row (``timezone.now``, ``dict``, and
    ``auto_now`` times, which win over a given value as in ``save()``), and the constant defaults
    fill in from a base record in SQL. A new lead writes some fifteen such rows; building them
    as instances took a fifth of the lead's Python time. Records carry no primary key (their
    column default takes one). Anywhere else the instances are built and inserted at once."""
    if not records:
        return
    batch = _BATCH.get()
    db = transaction.get_connection()
    if batch is None:
        rows_insert([model(**record) for record in records], ignore_conflicts=ignore_conflicts)
        return
    plan = _record_plan(model)
    rows = []
    for record in records:
        row = {}
        for attname, value in record.items():
            column, plain, f = plan.given[attname]
            prepared = _json_plain(value, plain)
            row[column] = f.get_db_prep_save(value, db) if prepared is _ABSENT else prepared
        for attname, column, factory, always, f in plan.per_row:
            if always or attname not in record:
                row[column] = f.get_db_prep_save(factory(), db)
        rows.append(row)
    payload = json.dumps(rows, default=_json_value, allow_nan=False)
    sql = _rows_insert_json_sql(model, False, ignore_conflicts, with_base=True)
    batch.append((sql, [plan.base, payload]))


@dataclass(frozen=True)
class _RecordPlan:
    """How ``records_insert_later`` writes a model's rows."""

    # attname: (column, the Python type its field passes through unchanged or None, field)
    given: dict[str, tuple[str, type | None, models.Field]]  # type: ignore[type-arg]
    # (attname, column, factory, always, field) of the values computed per row: callable
    # defaults, and ``auto_now`` times (``always``: set whatever the record says)
    per_row: list[tuple[str, str, Any, bool, models.Field]]  # type: ignore[type-arg]
    base: str  # the constant defaults by column, as JSON: the base record of every row


@functools.cache
def _record_plan(model: type[models.Model]) -> _RecordPlan:
    given = {}
    per_row = []
    base = {}
    for f, attname, column, plain in _json_plan(model, False):
        if type(f).pre_save is not models.Field.pre_save and not isinstance(f, models.DateField):
            raise TypeError(f"{model.__name__}.{f.name} needs its instance to be saved; insert instances")
        given[attname] = (column, plain, f)
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            per_row.append((attname, column, timezone.now, True, f))
        elif f.has_default() and callable(f.default):
            per_row.append((attname, column, f.default, False, f))
        else:
            value = f.get_db_prep_save(f.get_default(), connection)
            plain_json = value is None or isinstance(value, str | int | bool)
            base[column] = value if plain_json else _json_value(value)
    return _RecordPlan(given, per_row, json.dumps(base))


def _rows_insert_statement(
    objs: Sequence[models.Model], db: Any, *, ignore_conflicts: bool, returning: bool, as_json: bool = False
) -> tuple[str, list[Any]] | None:
    """SQL and values inserting ``objs`` on PostgreSQL; None elsewhere or for a row carrying an
    expression (``bulk_create`` handles those). Marks the instances saved.

    ``as_json``: the rows travel as one JSON parameter that ``jsonb_populate_recordset`` turns
    into rows of the table, each value through its column type's input as a parameter would be.
    For the long statements of a batch this is much cheaper on the client than a parameter per
    value (psycopg parses and caches no statement over 4 kB or 50 parameters). Rows whose values
    JSON cannot carry as such (bytes, durations) fall back to ``VALUES``."""
    model = type(objs[0])
    pk: models.Field = model._meta.pk  # type: ignore[type-arg,assignment]
    include_pk = getattr(objs[0], pk.attname) is not None
    statement: tuple[str, list[Any]] | None = None
    if as_json:
        try:
            rows = _json_rows(objs, db, include_pk)
            payload = None if rows is None else json.dumps(rows, default=_json_value, allow_nan=False)
        except (TypeError, ValueError):
            payload = None
        if payload is not None:
            statement = _rows_insert_json_sql(model, include_pk, ignore_conflicts), [payload]
    if statement is None:
        values = _rows_values(objs, db, include_pk)
        if values is None:
            return None
        returns = returning and not ignore_conflicts
        statement = _rows_insert_sql(model, include_pk, len(objs), ignore_conflicts, returns), values
    for obj in objs:
        obj._state.adding = False
        obj._state.db = db.alias
    return statement


def _rows_values(objs: Sequence[models.Model], db: Any, include_pk: bool) -> list[Any] | None:
    """Every row's values, in order, each through its field's ``pre_save`` and ``get_db_prep_save``;
    None when one is an expression."""
    fields = _rows_insert_fields(type(objs[0]), include_pk)
    # Rows of one insert mostly share their values (the inquiry, the source, the defaults):
    # a value equal to the first row's reuses its prepared form.
    first = [f.pre_save(objs[0], True) for f in fields]
    prepared = [f.get_db_prep_save(v, db) for f, v in zip(fields, first, strict=True)]
    values = list(prepared)
    for obj in objs[1:]:
        for f, v0, p0 in zip(fields, first, prepared, strict=True):
            v = f.pre_save(obj, True)
            values.append(p0 if v is v0 or (type(v) is type(v0) and v == v0) else f.get_db_prep_save(v, db))
    if any(hasattr(v, "resolve_expression") for v in values):
        return None
    return values


_ABSENT = object()


def _json_rows(objs: Sequence[models.Model], db: Any, include_pk: bool) -> list[dict[str, Any]] | None:
    """The rows as JSON objects by column; None when a value is an expression.

    A value that its field would pass through unchanged (a str for a plain text column, an int for
    an integer or a key to an integer id, a bool, None, an aware datetime, which JSON carries in
    ISO form) is taken as it is; any other goes through ``pre_save`` and ``get_db_prep_save``."""
    rows = []
    for obj in objs:
        values = obj.__dict__
        row = {}
        for f, attname, column, plain in _json_plan(type(obj), include_pk):
            value = _json_plain(values.get(attname, _ABSENT) if plain is not None else _ABSENT, plain)
            if value is _ABSENT:
                value = f.get_db_prep_save(f.pre_save(obj, True), db)
                if hasattr(value, "resolve_expression"):
                    return None
            row[column] = value
        rows.append(row)
    return rows


def _json_plain(value: Any, plain: type | None) -> Any:
    """``value`` as a JSON row carries it where its field would pass it through unchanged (its
    type is ``plain``; None; an aware datetime, in ISO form), else ``_ABSENT``: the field prepares it."""
    if value is None or (type(value) is plain and plain is not datetime):
        return value
    if type(value) is datetime and plain is datetime and value.tzinfo is not None:
        return value.isoformat()
    return _ABSENT


# Field types whose pre_save and get_db_prep_save return a value of this Python type unchanged
# (exact types: subclasses such as the encrypted text or the phone number prepare their values).
_PLAIN_TYPES: dict[type[models.Field], type] = {  # type: ignore[type-arg]
    models.CharField: str,
    models.TextField: str,
    models.EmailField: str,
    models.URLField: str,
    models.SlugField: str,
    models.BooleanField: bool,
    models.IntegerField: int,
    models.SmallIntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.AutoField: int,
    models.BigAutoField: int,
    models.DateTimeField: datetime,
    PhoneNumberField: E164,  # a number normalised once, stored as its text (``crm.phones``)
}


_JsonPlan = list[tuple[models.Field, str, str, type | None]]  # type: ignore[type-arg]


@functools.cache
def _json_plan(model: type[models.Model], include_pk: bool) -> _JsonPlan:
    """(field, attribute, column, the Python type it passes through unchanged, or None)."""
    plan = []
    for f in _rows_insert_fields(model, include_pk):
        target = f.target_field if isinstance(f, models.ForeignKey) else f
        plain = _PLAIN_TYPES.get(type(target))
        if plain is datetime and (f.auto_now or f.auto_now_add):  # type: ignore[attr-defined]
            plain = None  # pre_save sets these
        plan.append((f, f.attname, f.column, plain))
    return plan


def _json_value(value: Any) -> Any:
    """A prepared database value JSON cannot hold as such, in the text its column type reads."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID | IPv4Address | IPv6Address):
        return str(value)
    if isinstance(value, Json | Jsonb):  # a JSON column's value, encoded as its field encodes it
        return json.loads((value.dumps or json.dumps)(value.obj))
    raise TypeError(type(value).__name__)


@functools.cache
def _rows_insert_fields(model: type[models.Model], include_pk: bool) -> list[models.Field]:  # type: ignore[type-arg]
    return [f for f in model._meta.concrete_fields if include_pk or f is not model._meta.pk]


@functools.cache
def _rows_insert_json_sql(
    model: type[models.Model], include_pk: bool, ignore_conflicts: bool, with_base: bool = False
) -> str:
    """``with_base``: a first parameter, a JSON object, holds the values of columns the rows leave out."""
    meta, quote = model._meta, connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _rows_insert_fields(model, include_pk))
    table = quote(meta.db_table)
    base = f"jsonb_populate_record(NULL::{table}, %s::jsonb)" if with_base else f"NULL::{table}"
    # Names come from the model; the rows are the one parameter.
    rows = f"jsonb_populate_recordset({base}, %s::jsonb)"
    sql = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {rows}"  # noqa: S608
    return sql + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")


@functools.cache
def _rows_insert_sql(
    model: type[models.Model], include_pk: bool, count: int, ignore_conflicts: bool, returning: bool
) -> str:
    meta, quote = model._meta, connection.ops.quote_name
    fields = _rows_insert_fields(model, include_pk)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    columns = ", ".join(quote(f.column) for f in fields)
    # Names come from the model and every value is a parameter.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {', '.join([row] * count)}"  # noqa: S608
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        # VALUES rows come back in order; RETURNING follows them.
        sql += f" RETURNING {quote(meta.pk.column)}"  # type: ignore[union-attr]
    return sql


def inquiry_event(
    *,
    inquiry: Inquiry,
    kind: InquiryEvent.Kind | str,
    actor: User | None = None,
    actor_label: str = "",
    body: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    **extra: str,
) -> InquiryEvent:
    """Append one entry to an inquiry's timeline (in a ``rows_insert_batch``, with the batch: its
    primary key is then unset)."""
    event = InquiryEvent(
        inquiry=inquiry,
        kind=kind,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor_label,
        body=body,
        data=data or {},
        at=at or timezone.now(),
        **extra,
    )
    return rows_insert_later([event])[0]


@dataclass(frozen=True)
class TouchData:
    """Attribution of one touch, as it arrived."""

    channel: str
    lead_source: LeadSource | None = None
    campaign: Campaign | None = None
    referral_partner: ReferralPartner | None = None
    utm: dict[str, str] = field(default_factory=dict)


TOUCH_ATTRIBUTION_FIELDS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "landing_page",
    "referrer",
    "call_tracking_id",
)


def touch_add(*, inquiry: Inquiry, touch: TouchData, at: datetime | None = None) -> Touch:
    """Record a marketing or referral touch on an inquiry."""
    return rows_insert([Touch(**_touch_record(inquiry_id=inquiry.pk, touch=touch, at=at))])[0]


def _touch_record(*, inquiry_id: int, touch: TouchData, at: datetime | None) -> dict[str, Any]:
    return {
        "inquiry_id": inquiry_id,
        "at": at or timezone.now(),
        "channel": touch.channel,
        "lead_source_id": touch.lead_source.pk if touch.lead_source else None,
        "campaign_id": touch.campaign.pk if touch.campaign else None,
        "referral_partner_id": touch.referral_partner.pk if touch.referral_partner else None,
        **{k: v for k, v in touch.utm.items() if k in TOUCH_ATTRIBUTION_FIELDS and v},
    }


def coordinator_next_on_duty(*, facility: Facility) -> User | None:
    """Round robin: the on-duty coordinator at the facility who was given a lead longest ago.

    Only the coordinator's own row is locked (``of=("self",)``): locking the joined group and
    facility rows too would make every concurrent lead skip every coordinator."""
    return (
        User.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            is_active=True,
            is_on_duty=True,
            facilities=facility,
            groups__name=Role.COORDINATOR.value,
        )
        .order_by(F("last_lead_assigned_at").asc(nulls_first=True), "pk")
        .first()
    )


def followups_schedule_for_new(*, inquiry: Inquiry) -> None:
    """Write the new-inquiry cadence for an inquiry (idempotent by dedupe key; in a
    ``rows_insert_batch``, with the batch)."""
    records = [
        {
            "inquiry_id": inquiry.pk,
            "kind": kind,
            "due_at": inquiry.created_at + offset,
            "dedupe_key": f"inquiry:{inquiry.pk}:{key}",
        }
        for kind, offset, key in NEW_INQUIRY_CADENCE
    ]
    records_insert_later(FollowUp, records, ignore_conflicts=True)


def followups_cancel(*, inquiry: Inquiry, kinds: Iterable[str] | None = None, reason: str) -> int:
    """Cancel follow-ups that have not run yet."""
    pending = FollowUp.objects.filter(
        inquiry=inquiry, state__in=[FollowUp.State.SCHEDULED, FollowUp.State.QUEUED]
    )
    if kinds is not None:
        pending = pending.filter(kind__in=list(kinds))
    return pending.update(state=FollowUp.State.CANCELLED, finished_at=timezone.now(), outcome=reason[:120])


@dataclass(frozen=True)
class Routed:
    """Routing a caller did itself: the coordinator taken (and stamped), or None for nobody on duty."""

    owner_id: int | None


@transaction.atomic(savepoint=False)
def inquiry_create(
    *,
    person: Person,
    facility: Facility,
    touch: TouchData,
    caller: Caller | None = None,
    actor: User | None = None,
    actor_label: str = "",
    phone: str = "",
    email: str = "",
    message: str = "",
    external_id: str = "",
    substances: Iterable[Substance] = (),
    created_at: datetime | None = None,
    assign_to: User | None = None,
    pk: int | None = None,
    routed: Routed | None = None,
) -> Inquiry:
    """Open a new inquiry as New, route it, record its first touch and schedule its follow-ups.

    Inside another transaction it sets no savepoint of its own: a caller that carries on after an
    ``IntegrityError`` (a partial unique index refusing a second open inquiry) wraps the call in
    its own ``transaction.atomic()``, as ``intake_create`` does. In a ``rows_insert_batch`` the
    touch, the timeline entries and the follow-ups go with the batch, and so does the inquiry itself
    when its key was taken beforehand (``pk``, from its sequence). ``routed``: the caller routed
    the inquiry in a statement of its own (``coordinator_take_sql``)."""
    now = created_at or timezone.now()
    owner_id: int | None
    if assign_to is not None:
        owner_id = assign_to.pk
        User.objects.filter(pk=assign_to.pk).update(last_lead_assigned_at=now)
    elif routed is not None:
        owner_id = routed.owner_id
    else:
        owner_id = _coordinator_take_next(facility=facility, at=now)
    inquiry = Inquiry(
        pk=pk,
        person=person,
        caller=caller,
        facility=facility,
        channel=touch.channel,
        lead_source=touch.lead_source,
        campaign=touch.campaign,
        referral_partner=touch.referral_partner,
        phone=phone or person.phone,
        email=email or person.email,
        message=message,
        external_id=external_id,
        created_at=now,
        stage_changed_at=now,
        assigned_to_id=owner_id,
        assigned_at=now if owner_id else None,
    )
    (rows_insert_later if pk is not None else rows_insert)([inquiry])
    if assign_to is not None:
        inquiry.assigned_to = assign_to  # the caller's instance, as before
    if substances:
        inquiry.substances.set(substances)
    records_insert_later(Touch, [_touch_record(inquiry_id=inquiry.pk, touch=touch, at=now)])
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    events = [
        {
            "inquiry_id": inquiry.pk,
            "kind": InquiryEvent.Kind.CREATED,
            "actor_id": actor_id,
            "actor_label": actor_label,
            "data": {"channel": touch.channel, "source": touch.lead_source.name if touch.lead_source else ""},
            "at": now,
        }
    ]
    if owner_id is not None:
        events.append(
            {
                "inquiry_id": inquiry.pk,
                "kind": InquiryEvent.Kind.ASSIGNED,
                "actor_id": actor_id,
                "actor_label": actor_label or "routing",
                "data": {"to": owner_id, "how": "direct" if assign_to else "round robin"},
                "at": now,
            }
        )
    records_insert_later(InquiryEvent, events)  # the timeline's first entries, in one statement
    followups_schedule_for_new(inquiry=inquiry)
    dispatcher_kick()
    return inquiry


def _coordinator_take_next(*, facility: Facility, at: datetime) -> int | None:
    """Route a new inquiry: ``coordinator_next_on_duty`` and the owner's stamp, in one statement on
    PostgreSQL (``coordinator_take_sql``)."""
    with prepared_cursor() as cursor:
        cursor.execute(coordinator_take_sql(), coordinator_take_params(facility=facility, at=at))
        row = cursor.fetchone()
    return int(row[0]) if row else None


@functools.cache
def coordinator_take_sql(when: str = "true") -> str:
    """PostgreSQL: ``UPDATE ... RETURNING id`` taking the next on-duty coordinator at a facility
    (round robin, as ``coordinator_next_on_duty``) and stamping them, with the parameters
    ``route_at``, ``route_facility`` and ``route_role``. ``when``: SQL of a condition without
    which nobody is taken (it is tested before any row is read or locked).

    Only the coordinator's own row is locked (``FOR UPDATE OF``): a lock on the shared group and
    membership rows would make every concurrent lead skip every coordinator."""
    user = User._meta
    in_facility = User.facilities.through._meta
    in_group = User.groups.through._meta
    return f"""
        UPDATE {user.db_table} SET last_lead_assigned_at = %(route_at)s
        WHERE id = (
            SELECT u.id FROM {user.db_table} AS u
            WHERE ({when}) AND u.is_active AND u.is_on_duty
              AND EXISTS (SELECT 1 FROM {in_facility.db_table} AS uf
                          WHERE uf.user_id = u.id AND uf.facility_id = %(route_facility)s)
              AND EXISTS (SELECT 1 FROM {in_group.db_table} AS ug
                          JOIN {Group._meta.db_table} AS g ON g.id = ug.group_id
                          WHERE ug.user_id = u.id AND g.name = %(route_role)s)
            ORDER BY u.last_lead_assigned_at ASC NULLS FIRST, u.id
            LIMIT 1
            FOR UPDATE OF u SKIP LOCKED
        )
        RETURNING id
    """  # noqa: S608 - table names from the models and a condition from code are interpolated


def coordinator_take_params(*, facility: Facility, at: datetime) -> dict[str, Any]:
    """The parameters of ``coordinator_take_sql``."""
    return {"route_at": at, "route_facility": facility.pk, "route_role": Role.COORDINATOR.value}


DISPATCH_KICK_KEY = "followups:dispatch-kick"
DISPATCH_KICK_SECONDS = 1
# The clock second this process last kicked in (or found kicked): see ``dispatcher_kick``.
_kicked_second: int | None = None


def dispatcher_kick() -> None:
    """After commit, ask a worker to sweep due follow-ups now instead of at the next beat tick.

    One kick per clock second reaches the broker: the first write of second S publishes a sweep
    due at S + 1, when the second is over, and that sweep takes every row committed meanwhile, so
    the writes that follow within S need no kick of their own. The cache key names the second,
    so a process that has kicked, or found the key taken, in second S knows the sweep at S + 1 is
    on its way and asks neither the cache nor the broker again until S is over. Without the
    cache every process kicks once a second (never fewer sweeps than writes need).
    """
    from celery import current_app  # noqa: PLC0415 - by task name: admissions never imports workers

    def kick() -> None:
        global _kicked_second  # noqa: PLW0603 - per process, as the cache key is per second
        now = time_module.time()
        second = int(now)
        if second == _kicked_second:
            return
        try:
            first = cache.add(f"{DISPATCH_KICK_KEY}:{second}", 1, timeout=DISPATCH_KICK_SECONDS + 2)
        except Exception:  # noqa: BLE001 - a cache outage must not cost a sweep
            first = True
        if first:
            current_app.send_task(
                "workers.tasks.followups_dispatch", countdown=second + DISPATCH_KICK_SECONDS - now
            )
        _kicked_second = second

    transaction.on_commit(kick)


@transaction.atomic
def inquiry_advance(
    *,
    inquiry: Inquiry,
    to: Stage | str,
    actor: User | None,
    reason: str = "",
    lost_reason: str = "",
    destination: str = "",
    duplicate_of: Inquiry | None = None,
    at: datetime | None = None,
) -> Inquiry:
    """Move an inquiry along the pipeline; the only place stage rules are applied."""
    inquiry = Inquiry.objects.select_for_update().get(pk=inquiry.pk)
    check_transition(
        inquiry.stage,
        to,
        provided={
            "reason": reason,
            "lost_reason": lost_reason,
            "destination": destination,
            "duplicate_of": duplicate_of,
        },
    )
    if duplicate_of is not None and duplicate_of.pk == inquiry.pk:
        raise TransitionError("An inquiry cannot be a duplicate of itself.", field="duplicate_of")
    now = at or timezone.now()
    previous = inquiry.stage
    inquiry.stage = to
    inquiry.stage_changed_at = now
    changed = ["stage", "stage_changed_at"]
    stamp = STAGE_TIMESTAMP_FIELD.get(to)
    if stamp and getattr(inquiry, stamp) is None:
        setattr(inquiry, stamp, now)
        changed.append(stamp)
    if to == Stage.CLOSED:
        inquiry.lost_reason = lost_reason
        changed.append("lost_reason")
    if to == Stage.REFERRED_OUT:
        inquiry.referred_out_to = destination[:160]
        changed.append("referred_out_to")
    if to == Stage.DUPLICATE:
        inquiry.duplicate_of = duplicate_of
        changed.append("duplicate_of")
    if reason:
        inquiry.close_note = reason[:300]
        changed.append("close_note")
    inquiry.save(update_fields=changed)
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.STAGE_CHANGED,
        actor=actor,
        data={
            "from": previous,
            "to": str(to),
            "reason": reason,
            "lost_reason": lost_reason,
            "destination": destination,
        },
        at=now,
    )
    if to == Stage.CRISIS_ROUTED:  # however it was routed: marketing stops until a clinician allows it
        from admissions.messaging.holds import crisis_hold_start  # noqa: PLC0415 - it imports this module

        crisis_hold_start(inquiry=inquiry, actor=actor, at=now)
    if to != Stage.NEW:
        followups_cancel(inquiry=inquiry, kinds=STOPS_AFTER_FIRST_ATTEMPT, reason=f"moved to {to}")
    if to in TERMINAL_STAGES or to == Stage.NURTURE:
        followups_cancel(inquiry=inquiry, reason=f"moved to {to}")
        waitlist_entries_close(inquiry_id=inquiry.pk)
        if inquiry.capacity_hold_id and to != Stage.ADMITTED:
            capacity_hold_release(
                hold=CapacityHold.objects.get(pk=inquiry.capacity_hold_id),
                reason=CapacityHold.ReleaseReason.CANCELLED,
            )
    return inquiry


@transaction.atomic
def inquiry_assign(*, inquiry: Inquiry, to: User | None, actor: User | None) -> Inquiry:
    """Give an inquiry to a coordinator (or back to the unassigned queue)."""
    now = timezone.now()
    Inquiry.objects.filter(pk=inquiry.pk).update(assigned_to=to, assigned_at=now if to else None)
    inquiry.assigned_to, inquiry.assigned_at = to, now if to else None
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.ASSIGNED,
        actor=actor,
        data={"to": to.pk if to else None, "how": "manual"},
        at=now,
    )
    return inquiry


@transaction.atomic
def call_log(
    *,
    inquiry: Inquiry,
    actor: User,
    direction: InquiryEvent.CallDirection,
    outcome: InquiryEvent.CallOutcome,
    note: str = "",
) -> InquiryEvent:
    """Record a call; an outbound attempt or a conversation moves a New inquiry on."""
    event = inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.CALL,
        actor=actor,
        body=note,
        call_direction=direction,
        call_outcome=outcome,
    )
    if outcome == InquiryEvent.CallOutcome.CONNECTED and inquiry.stage in (
        Stage.NEW,
        Stage.CONTACT_ATTEMPTED,
    ):
        if inquiry.first_attempt_at is None and direction == InquiryEvent.CallDirection.OUTBOUND:
            Inquiry.objects.filter(pk=inquiry.pk).update(first_attempt_at=event.at)
        inquiry_advance(inquiry=inquiry, to=Stage.CONTACTED, actor=actor)
    elif direction == InquiryEvent.CallDirection.OUTBOUND and inquiry.stage == Stage.NEW:
        inquiry_advance(inquiry=inquiry, to=Stage.CONTACT_ATTEMPTED, actor=actor)
    return event


@transaction.atomic
def inquiry_hold_capacity(
    *, inquiry: Inquiry, program: Program, until: datetime, actor: User
) -> CapacityHold:
    """Hold a bed or slot in a program for this inquiry, replacing any earlier hold."""
    if inquiry.capacity_hold_id:
        earlier = CapacityHold.objects.select_related("program").get(pk=inquiry.capacity_hold_id)
        if earlier.released_at is None:
            capacity_hold_release(hold=earlier, reason=CapacityHold.ReleaseReason.CANCELLED)
            inquiry_event(
                inquiry=inquiry,
                kind=InquiryEvent.Kind.CAPACITY_RELEASED,
                actor=actor,
                body=f"Released the hold in {earlier.program.name}; a new hold replaces it.",
                data={"program": earlier.program_id, "hold": earlier.pk},
            )
    hold = capacity_hold_create(program=program, reference=f"inquiry:{inquiry.pk}", held_until=until)
    Inquiry.objects.filter(pk=inquiry.pk).update(capacity_hold=hold)
    inquiry.capacity_hold = hold
    unit = "Bed" if program.capacity_kind == Program.CapacityKind.BEDS else "Slot"
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.CAPACITY_HELD,
        actor=actor,
        body=f"{unit} held in {program.name} until {timezone.localtime(until):%b %-d, %-I:%M %p}.",
        data={"program": program.pk, "until": until.isoformat(), "hold": hold.pk},
    )
    return hold


@transaction.atomic
def inquiry_schedule_admission(
    *, inquiry: Inquiry, program: Program, admission_date: date, actor: User, hold_days: int = 1
) -> Inquiry:
    """Schedule the admission and hold the bed or slot until the day after it."""
    until = timezone.make_aware(
        datetime.combine(admission_date + timedelta(days=hold_days), datetime.min.time())
    )
    inquiry_hold_capacity(inquiry=inquiry, program=program, until=until, actor=actor)
    Inquiry.objects.filter(pk=inquiry.pk).update(admission_date=admission_date, approved_program=program)
    inquiry.admission_date, inquiry.approved_program = admission_date, program
    return inquiry_advance(inquiry=inquiry, to=Stage.ADMISSION_SCHEDULED, actor=actor)


@transaction.atomic
def inquiry_admit(*, inquiry: Inquiry, actor: User, program: Program | None = None) -> Inquiry:
    """Mark the person admitted; the hold turns into an occupied bed or slot."""
    program = program or inquiry.approved_program
    if program is None:
        raise TransitionError("Choose the program the person is admitted to.", field="program")
    inquiry = inquiry_advance(inquiry=inquiry, to=Stage.ADMITTED, actor=actor)
    Inquiry.objects.filter(pk=inquiry.pk).update(admitted_program=program)
    inquiry.admitted_program = program
    if inquiry.capacity_hold_id:
        capacity_hold_release(
            hold=CapacityHold.objects.get(pk=inquiry.capacity_hold_id),
            reason=CapacityHold.ReleaseReason.ADMITTED,
        )
    census, _ = Census.objects.select_for_update().get_or_create(program=program)
    Census.objects.filter(pk=census.pk).update(occupied=F("occupied") + 1, updated_at=timezone.now())
    return inquiry
