"""The import engine: reads a job's file in batches, matches each row against the people and
open inquiries on file, and writes a batch in one transaction with the job's counts.

The rules are the lead API's and intake's: the person with the row's phone (preferred) or email
is reused, and a row never opens a second inquiry for someone with an open one; it merges into
that inquiry or is skipped, as the job says. Lookups are batched (one query per kind per batch).

Imported history is history: stage timestamps go on the inquiry and the timeline gets entries
marked ``imported``, without the state machine's side effects. No follow-up is scheduled, no
coordinator is routed (open inquiries arrive unassigned), and a consent is written only where the
row carries its wording and time.

A dry run (the job's ``check`` phase) goes through the same matching and writes nothing but the
refusals; to count a row that matches one earlier in the file as the import will, it remembers
the file's new people and open inquiries in memory (the import itself finds them in the
database, batch by batch, so its memory stays flat).
"""

from __future__ import annotations

import functools
import logging
import operator
import time as time_module
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from django.db import IntegrityError, connection, reset_queries, transaction
from django.db.models import F, Q
from django.utils import timezone

from admissions.imports.models import ImportedRow, ImportJob, ImportRefusal
from admissions.imports.readers import FileUnreadable, Row, read_ahead, rows_count, rows_open
from admissions.imports.rows import ImportRow, Reason, Refused, RowContext, row_read
from admissions.lead_write import CHANNEL_OF_KIND, inquiries_matching
from admissions.leads import LeadData
from admissions.models import (
    Caller,
    Channel,
    ContactConsent,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    LeadSource,
    Person,
    Touch,
)
from admissions.pipeline import OPEN_STAGES, STAGE_TIMESTAMP_FIELD, Stage
from crm.audit import audit_bulk_values
from crm.bulkcopy import copy_insert
from crm.models import AuditEvent

log = logging.getLogger(__name__)

BATCH_ROWS = 1000
_OPEN_STAGE_LIST = sorted(OPEN_STAGES)
# The stage a stage timestamp marks (``closed_at`` is shared by the closing stages).
_STAGE_OF_DATE = {f: s for s, f in STAGE_TIMESTAMP_FIELD.items() if f != "closed_at"}
_LOCK_CLASS = 7_021  # pg advisory lock namespace of import jobs


@dataclass
class Counts:
    new: int = 0
    merged: int = 0
    skipped: int = 0
    invalid: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"new": self.new, "merged": self.merged, "skipped": self.skipped, "invalid": self.invalid}

    def add(self, other: Counts) -> None:
        self.new += other.new
        self.merged += other.merged
        self.skipped += other.skipped
        self.invalid += other.invalid


@dataclass
class _NewInquiry:
    """An inquiry planned in this run and not yet in the database (or written by this batch)."""

    row: ImportRow
    person_id: int | None  # an existing person's, else the new person's (set when written)
    new_person: _NewPerson | None
    pk: int | None = None


@dataclass
class _NewPerson:
    row: ImportRow
    pk: int | None = None


@dataclass
class _Memory:
    """The file's rows seen so far that the database does not show yet: their keys, their new
    people and their open inquiries, by phone, email and person."""

    keys: set[str] = field(default_factory=set)
    people_by_phone: dict[str, _NewPerson] = field(default_factory=dict)
    people_by_email: dict[str, _NewPerson] = field(default_factory=dict)
    open_by_phone: dict[str, _NewInquiry] = field(default_factory=dict)
    open_by_email: dict[str, _NewInquiry] = field(default_factory=dict)
    open_by_person: dict[int, _NewInquiry] = field(default_factory=dict)
    open_by_new_person: dict[int, _NewInquiry] = field(default_factory=dict)  # id() of a _NewPerson
    external_ids: set[tuple[int | None, str]] = field(default_factory=set)


@dataclass
class _Plan:
    counts: Counts = field(default_factory=Counts)
    refused: list[Refused] = field(default_factory=list)
    new: list[_NewInquiry] = field(default_factory=list)
    new_people: list[_NewPerson] = field(default_factory=list)
    # (row, the open inquiry's id or its plan)
    merges: list[tuple[ImportRow, int | _NewInquiry]] = field(default_factory=list)
    fill_blanks: dict[int, dict[str, Any]] = field(default_factory=dict)


def _rank_person(row: ImportRow) -> Callable[[Person], tuple[bool, bool, int]]:
    # ``lead_write.person_matching``'s order: the phone's person, then the email's, then the newest.
    def rank(person: Person) -> tuple[bool, bool, int]:
        return (
            bool(row.phone) and str(person.phone) == row.phone,
            bool(row.email) and person.email == row.email,
            person.pk,
        )

    return rank


_PERSON_COLUMNS = (
    "id",
    "phone",
    "email",
    "last_name",
    "date_of_birth",
    "street",
    "city",
    "state",
    "postal_code",
)
_INQUIRY_COLUMNS = (
    "id",
    "person_id",
    "stage",
    "phone",
    "email",
    "external_id",
    "lead_source_id",
    "facility_id",
)


def _merge_targets_locked(plan: _Plan) -> bool:
    """Lock the open inquiries the batch merges into; False if one has left the open stages since
    it was read (the batch is then planned again with every candidate locked)."""
    ids = sorted({t for _, t in plan.merges if isinstance(t, int)})
    if not ids:
        return True
    still_open = Inquiry.objects.select_for_update(of=("self",)).filter(
        pk__in=ids, stage__in=_OPEN_STAGE_LIST
    )
    return len(still_open.values_list("pk", flat=True)) == len(ids)


class _Batch:
    """Matching one batch of rows against the database and the run's memory."""

    def __init__(self, *, job: ImportJob, rows: list[ImportRow], memory: _Memory, lock: bool) -> None:
        self.job, self.rows, self.memory = job, rows, memory
        keys = [r.key for r in rows]
        self.imported = set(
            ImportedRow.objects.filter(
                facility_id=job.facility_id, origin=job.origin, key__in=keys
            ).values_list("key", flat=True)
        )
        fresh = [r for r in rows if r.key not in self.imported]  # rows imported before need no lookup
        phones = {r.phone for r in fresh if r.phone}
        emails = {r.email for r in fresh if r.email}
        people = (
            list(
                Person.objects.filter(Q(phone__in=sorted(phones)) | Q(email__in=sorted(emails))).only(
                    *_PERSON_COLUMNS
                )
            )
            if phones or emails
            else []
        )
        self.people_by_phone: dict[str, list[Person]] = {}
        self.people_by_email: dict[str, list[Person]] = {}
        for p in people:
            if p.phone:
                self.people_by_phone.setdefault(str(p.phone), []).append(p)
            if p.email:
                self.people_by_email.setdefault(p.email, []).append(p)
        all_phones = sorted(phones | {str(p.phone) for p in people if p.phone})
        all_emails = sorted(emails | {p.email for p in people if p.email})
        # Each arm spells out the predicate of a partial unique index (open stages, a contact point
        # given), so PostgreSQL serves it from that index, as the lead path's lookup does.
        open_ = Q(stage__in=_OPEN_STAGE_LIST)
        arms = [open_ & ~Q(phone="") & Q(phone__in=all_phones)] if all_phones else []
        if all_emails:
            arms.append(open_ & ~Q(email="") & Q(email__in=all_emails))
        if people:
            arms.append(open_ & Q(person_id__in=[p.pk for p in people]))
        found = (
            Inquiry.objects.filter(functools.reduce(operator.or_, arms)).only(*_INQUIRY_COLUMNS)
            if arms
            else Inquiry.objects.none()
        )
        if lock:
            found = found.select_for_update(of=("self",))
        self.open_by_phone: dict[str, list[Inquiry]] = {}
        self.open_by_email: dict[str, list[Inquiry]] = {}
        self.open_by_person: dict[int, list[Inquiry]] = {}
        for i in found.order_by("pk"):
            if i.phone:
                self.open_by_phone.setdefault(str(i.phone), []).append(i)
            if i.email:
                self.open_by_email.setdefault(i.email, []).append(i)
            self.open_by_person.setdefault(i.person_id, []).append(i)
        wanted = [(r.lead_source_id, r.external_id) for r in fresh if r.external_id and r.lead_source_id]
        self.external_taken: set[tuple[int | None, str]] = set()
        if wanted:
            self.external_taken = set(
                Inquiry.objects.filter(
                    lead_source_id__in={s for s, _ in wanted}, external_id__in={e for _, e in wanted}
                ).values_list("lead_source_id", "external_id")
            )

    def plan(self) -> _Plan:
        plan = _Plan()
        memory = self.memory
        for row in self.rows:
            if row.key in self.imported or row.key in memory.keys:
                plan.counts.skipped += 1
                continue
            person: Person | None = None
            candidates = {
                p.pk: p
                for p in (*self.people_by_phone.get(row.phone, ()), *self.people_by_email.get(row.email, ()))
            }
            if candidates:
                person = max(candidates.values(), key=_rank_person(row))
            new_person = None
            if person is None:
                new_person = memory.people_by_phone.get(row.phone) if row.phone else None
                if new_person is None and row.email:
                    new_person = memory.people_by_email.get(row.email)
            # A row of a past, closed episode is history of its own, never a second open inquiry.
            match = self._open_match(row, person, new_person) if row.is_open else None
            if isinstance(match, Inquiry) and match.facility_id != self.job.facility_id:
                where = "phone" if row.phone else "email"
                plan.refused.append(Refused(row.number, [{"field": where, "message": Reason.OPEN_ELSEWHERE}]))
                plan.counts.invalid += 1
                continue
            memory.keys.add(row.key)
            if match is not None:
                if self.job.on_duplicate == ImportJob.OnDuplicate.SKIP:
                    plan.counts.skipped += 1
                    memory.keys.discard(row.key)  # merged later if the rule changes
                    continue
                plan.merges.append((row, match.pk if isinstance(match, Inquiry) else match))
                plan.counts.merged += 1
                if person is not None:
                    self._fill_blanks(plan, person, row)
                continue
            if person is None and new_person is None:
                new_person = _NewPerson(row)
                plan.new_people.append(new_person)
                if row.phone:
                    memory.people_by_phone.setdefault(row.phone, new_person)
                if row.email:
                    memory.people_by_email.setdefault(row.email, new_person)
            elif person is not None:
                self._fill_blanks(plan, person, row)
            planned = _NewInquiry(row, person.pk if person else None, new_person)
            if row.external_id:
                pair = (row.lead_source_id, row.external_id)
                if pair in self.external_taken or pair in memory.external_ids:
                    row.external_id = ""  # the source's id is on another inquiry already
                else:
                    memory.external_ids.add(pair)
            if row.is_open:
                if row.phone:
                    memory.open_by_phone[row.phone] = planned
                if row.email:
                    memory.open_by_email[row.email] = planned
                if person is not None:
                    memory.open_by_person[person.pk] = planned
                elif new_person is not None:
                    memory.open_by_new_person[id(new_person)] = planned
            plan.new.append(planned)
            plan.counts.new += 1
        return plan

    def _open_match(
        self, row: ImportRow, person: Person | None, new_person: _NewPerson | None
    ) -> Inquiry | _NewInquiry | None:
        """The open inquiry the row joins: the lead path's choice among those on file
        (``leads.inquiries_matching``), else one opened earlier in this run."""
        found: dict[int, Inquiry] = {}
        for i in (*self.open_by_phone.get(row.phone, ()), *self.open_by_email.get(row.email, ())):
            found[i.pk] = i
        if person is not None:
            for i in self.open_by_person.get(person.pk, ()):
                found[i.pk] = i
            for i in (
                *self.open_by_phone.get(str(person.phone), ()),
                *self.open_by_email.get(person.email, ()),
            ):
                found[i.pk] = i
        if found:
            lead = LeadData(
                first_name=row.first_name, phone=row.phone, email=row.email, external_id=row.external_id
            )
            source = LeadSource(pk=row.lead_source_id)
            best, _ = inquiries_matching(lead=lead, source=source, candidates=list(found.values()))
            if best is not None:
                return best
        memory = self.memory
        planned = (row.phone and memory.open_by_phone.get(row.phone)) or (
            row.email and memory.open_by_email.get(row.email)
        )
        if not planned and person is not None:
            planned = memory.open_by_person.get(person.pk)
        if not planned and new_person is not None:
            planned = memory.open_by_new_person.get(id(new_person))
        return planned or None

    @staticmethod
    def _fill_blanks(plan: _Plan, person: Person, row: ImportRow) -> None:
        """What the row knows and the person record lacks; never overwrite (as the lead path)."""
        changes = plan.fill_blanks.setdefault(person.pk, {})
        for name in (
            "phone",
            "email",
            "last_name",
            "date_of_birth",
            "street",
            "city",
            "state",
            "postal_code",
        ):
            value = getattr(row, name)
            if value and not getattr(person, name) and name not in changes:
                changes[name] = value
                setattr(person, name, value)


def _ids_take(model: type[Any], n: int) -> list[int]:
    """``n`` primary keys from the model's sequence, so rows and those that point at them go in
    one statement."""
    if n == 0:
        return []
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, column, n]
        )
        return [row[0] for row in cursor.fetchall()]


def _channel(kind: str | None) -> str:
    return CHANNEL_OF_KIND.get(kind or "", Channel.PHONE)


def _write(*, job: ImportJob, plan: _Plan, ctx: RowContext) -> None:
    """Write a planned batch (inside the batch's transaction)."""
    label = f"import #{job.pk}"
    now = timezone.now()
    for person_pk, pk in zip(plan.new_people, _ids_take(Person, len(plan.new_people)), strict=True):
        person_pk.pk = pk
    for planned, pk in zip(plan.new, _ids_take(Inquiry, len(plan.new)), strict=True):
        planned.pk = pk
    callers = [p for p in plan.new if p.row.caller_relationship]
    caller_ids = dict(zip((id(p) for p in callers), _ids_take(Caller, len(callers)), strict=True))
    kinds = ctx.source_kinds
    names = ctx.source_names
    copy_insert(
        Person,
        [
            {
                "id": p.pk,
                "first_name": p.row.first_name,
                "last_name": p.row.last_name,
                "date_of_birth": p.row.date_of_birth,
                "gender": p.row.gender,
                "phone": p.row.phone,
                "email": p.row.email,
                "street": p.row.street,
                "city": p.row.city,
                "state": p.row.state,
                "postal_code": p.row.postal_code,
                "preferred_language": p.row.preferred_language or "en",
                "created_at": p.row.created_at,
            }
            for p in plan.new_people
        ],
    )
    copy_insert(
        Caller,
        [
            {
                "id": caller_ids[id(p)],
                "relationship": p.row.caller_relationship,
                "name": p.row.caller_name,
                "phone": p.row.caller_phone,
            }
            for p in callers
        ],
    )
    inquiries: list[dict[str, Any]] = []
    touches: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    policies: list[dict[str, Any]] = []
    for planned in plan.new:
        row = planned.row
        person_id = _person_of(planned)
        channel = _channel(kinds.get(row.lead_source_id))
        dates = dict(row.stage_dates)
        stage_at = dates.get(STAGE_TIMESTAMP_FIELD.get(row.stage, ""), max([row.created_at, *dates.values()]))
        inquiries.append(
            {
                "id": planned.pk,
                "person_id": person_id,
                "caller_id": caller_ids.get(id(planned)),
                "facility_id": job.facility_id,
                "channel": channel,
                "lead_source_id": row.lead_source_id,
                "campaign_id": row.campaign_id,
                "external_id": row.external_id,
                "phone": row.phone,
                "email": row.email,
                "message": row.notes,
                "stage": row.stage,
                "stage_changed_at": stage_at,
                "created_at": row.created_at,
                "lost_reason": row.lost_reason,
                "referred_out_to": row.referred_out_to,
                **dates,
            }
        )
        touches.append(_touch(planned.pk, row, channel))  # type: ignore[arg-type]
        events.append(
            {
                "inquiry_id": planned.pk,
                "kind": InquiryEvent.Kind.CREATED,
                "actor_label": label,
                "at": row.created_at,
                "data": {
                    "channel": channel,
                    "source": names.get(row.lead_source_id, ""),
                    "imported": job.pk,
                    "row": row.number,
                },
            }
        )
        previous = Stage.NEW.value
        for name, at in sorted(dates.items(), key=lambda item: item[1]):
            to = _STAGE_OF_DATE.get(name) or row.stage
            events.append(
                {
                    "inquiry_id": planned.pk,
                    "kind": InquiryEvent.Kind.STAGE_CHANGED,
                    "actor_label": label,
                    "at": at,
                    "data": {"from": previous, "to": to, "imported": job.pk},
                }
            )
            previous = to
        if row.insurance_payer or row.insurance_member_id or row.insurance_group:
            policies.append(_policy(planned.pk, row))  # type: ignore[arg-type]
    copy_insert(Inquiry, inquiries)
    merged_ids: list[int] = []
    for row, target in plan.merges:
        inquiry_id = target if isinstance(target, int) else target.pk
        assert inquiry_id is not None  # noqa: S101 - planned inquiries got their keys above
        merged_ids.append(inquiry_id)
        channel = _channel(kinds.get(row.lead_source_id))
        touches.append(_touch(inquiry_id, row, channel))
        events.append(
            {
                "inquiry_id": inquiry_id,
                "kind": InquiryEvent.Kind.TOUCH,
                "actor_label": label,
                "at": row.created_at,
                "body": row.notes,
                "data": {
                    "source": names.get(row.lead_source_id, ""),
                    "channel": channel,
                    "imported": job.pk,
                    "row": row.number,
                },
            }
        )
        if row.insurance_payer or row.insurance_member_id or row.insurance_group:
            policies.append(_policy(inquiry_id, row))
    _insert(Touch, touches)
    _insert(InquiryEvent, events)
    # One primary policy per inquiry: a merged row never overwrites what a coordinator has.
    _insert(InsurancePolicy, policies, ignore_conflicts=True)
    consents = []
    for planned in plan.new:
        consents += _consents(_person_of(planned), planned.row, label)
    for row, target in plan.merges:
        if row.consent is not None:
            consents += _consents(_merge_person(target), row, label)
    # An active consent for the same address and medium is already on file: keep it.
    _insert(ContactConsent, consents, ignore_conflicts=True)
    _insert(
        ImportedRow,
        [
            {
                "facility_id": job.facility_id,
                "origin": job.origin,
                "key": p.row.key,
                "job_id": job.pk,
                "inquiry_id": p.pk,
                "outcome": ImportedRow.Outcome.NEW,
            }
            for p in plan.new
        ]
        + [
            {
                "facility_id": job.facility_id,
                "origin": job.origin,
                "key": row.key,
                "job_id": job.pk,
                "inquiry_id": inquiry_id,
                "outcome": ImportedRow.Outcome.MERGED,
            }
            for (row, _), inquiry_id in zip(plan.merges, merged_ids, strict=True)
        ],
    )
    _refusals_insert(job, ImportJob.Phase.IMPORT, plan.refused)
    audits = []
    given = sorted({name for p in plan.new for name in p.row.fields_given})
    if plan.new:
        audits.append(
            audit_bulk_values(
                action=AuditEvent.Action.CREATE,
                model=Inquiry,
                ids=[p.pk for p in plan.new if p.pk is not None],
                actor=job.created_by,
                actor_label=job.actor_label or label,
                what=f"import:{job.pk}",
                fields=given,
            )
        )
    if merged_ids:
        audits.append(
            audit_bulk_values(
                action=AuditEvent.Action.UPDATE,
                model=Inquiry,
                ids=merged_ids,
                actor=job.created_by,
                actor_label=job.actor_label or label,
                what=f"import:{job.pk}",
                fields=sorted({name for r, _ in plan.merges for name in r.fields_given}),
            )
        )
    _insert(AuditEvent, audits)
    for person_id, changes in plan.fill_blanks.items():
        if changes:
            Person.objects.filter(pk=person_id).update(**changes)
    del now


def _insert(model: type[Any], records: list[dict[str, Any]], *, ignore_conflicts: bool = False) -> None:
    """Rows given as values by attribute name, in one statement per model: COPY, or
    ``bulk_create`` for rows that may meet one already on file (``ignore_conflicts``)."""
    if not records:
        return
    if ignore_conflicts:
        model.objects.bulk_create([model(**r) for r in records], ignore_conflicts=True)
    else:
        copy_insert(model, records)


def _person_of(planned: _NewInquiry) -> int:
    person_id = planned.person_id if planned.person_id is not None else planned.new_person.pk  # type: ignore[union-attr]
    assert person_id is not None  # noqa: S101 - new people get their keys before their inquiries
    return person_id


def _merge_person(target: int | _NewInquiry) -> int | None:
    if isinstance(target, _NewInquiry):
        return _person_of(target)
    return Inquiry.objects.filter(pk=target).values_list("person_id", flat=True).first()


def _touch(inquiry_id: int, row: ImportRow, channel: str) -> dict[str, Any]:
    return {
        "inquiry_id": inquiry_id,
        "at": row.created_at,
        "channel": channel,
        "lead_source_id": row.lead_source_id,
        "campaign_id": row.campaign_id,
    }


def _policy(inquiry_id: int, row: ImportRow) -> dict[str, Any]:
    return {
        "inquiry_id": inquiry_id,
        "rank": InsurancePolicy.Rank.PRIMARY,
        "payer_name": row.insurance_payer,
        "member_id": row.insurance_member_id,
        "group_number": row.insurance_group,
    }


def _consents(person_id: int | None, row: ImportRow, label: str) -> list[dict[str, Any]]:
    consent = row.consent
    if consent is None or person_id is None:
        return []
    wanted = [
        (ContactConsent.Medium.SMS, consent.sms, row.phone),
        (ContactConsent.Medium.CALL, consent.call, row.phone),
        (ContactConsent.Medium.EMAIL, consent.email, row.email),
    ]
    return [
        {
            "person_id": person_id,
            "medium": medium,
            "address": address,
            "source": label[:60],
            "consent_text": consent.text,
            "captured_at": consent.at,
        }
        for medium, given, address in wanted
        if given and address
    ]


def _refusals_insert(job: ImportJob, phase: str, refused: list[Refused]) -> None:
    _insert(
        ImportRefusal,
        [{"job_id": job.pk, "phase": phase, "row_number": r.number, "errors": r.errors} for r in refused],
        ignore_conflicts=True,  # a batch done again after a crash
    )


# --- running a job -------------------------------------------------------------------------


@contextmanager
def job_lock(job_id: int) -> Iterator[bool]:
    """A session lock on the job, so only one process works it; released if the process dies."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, job_id])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, job_id])


def _path(job: ImportJob) -> Path:
    return Path(job.file.path)


def _parsed(job: ImportJob, rows: Iterator[Row], ctx: RowContext) -> Iterator[ImportRow | Refused]:
    for number, raw in rows:
        yield row_read(number, raw, columns=job.columns, ctx=ctx, origin=job.origin)


def _context(job: ImportJob) -> RowContext:
    return RowContext(
        facility_time_zone=job.facility.time_zone, default_source=job.lead_source, now=timezone.now()
    )


Progress = Callable[[ImportJob], None]


def import_job_work(*, job_id: int, deadline: float | None = None, progress: Progress | None = None) -> str:
    """Work on a job until it is done, cancelled or ``deadline`` (a ``time.monotonic()``) passes;
    returns the job's state, or ``"more"`` when time ran out with rows left, or ``"busy"`` when
    another process holds the job."""
    with job_lock(job_id) as held:
        if not held:
            return "busy"
        jobs = ImportJob.objects.select_related("facility", "lead_source", "created_by")
        job = jobs.filter(pk=job_id).first()
        if job is None:
            return "missing"
        if job.state not in (ImportJob.State.CHECKING, ImportJob.State.QUEUED, ImportJob.State.RUNNING):
            return job.state
        try:
            if job.state == ImportJob.State.CHECKING:
                return _check(job, progress)
            return _import(job, deadline, progress)
        except FileUnreadable as exc:
            ImportJob.objects.filter(pk=job.pk).update(
                state=ImportJob.State.FAILED,
                error=str(exc)[:300],
                updated_at=timezone.now(),
                finished_at=timezone.now(),
            )
            return ImportJob.State.FAILED


def _batches(items: Iterator[ImportRow | Refused], size: int) -> Iterator[list[ImportRow | Refused]]:
    while batch := list(islice(items, size)):
        yield batch


_SPENT: Any = None  # a dry run's plans once counted


def _check(job: ImportJob, progress: Progress | None) -> str:
    """The dry run: every row checked and matched, counts and refusals stored, nothing else written."""
    ImportRefusal.objects.filter(job=job, phase=ImportJob.Phase.CHECK).delete()
    job.total_rows = rows_count(_path(job), job.file_format)
    ImportJob.objects.filter(pk=job.pk).update(total_rows=job.total_rows)
    ctx = _context(job)
    memory = _Memory()
    total = Counts()
    done = 0
    started = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        rows_done=0, phase_started_at=started, rows_at_phase_start=0, updated_at=started
    )
    job.phase_started_at, job.rows_at_phase_start = started, 0
    with (
        rows_open(_path(job), job.file_format) as (_, rows),
        read_ahead(_batches(_parsed(job, rows, ctx), BATCH_ROWS)) as batches,
    ):
        for batch in batches:
            if ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
                ImportJob.objects.filter(pk=job.pk).update(
                    state=ImportJob.State.UPLOADED,
                    cancel_requested=False,
                    rows_done=0,
                    updated_at=timezone.now(),
                )
                return ImportJob.State.UPLOADED
            good = [r for r in batch if isinstance(r, ImportRow)]
            refused = [r for r in batch if isinstance(r, Refused)]
            plan = _Batch(job=job, rows=good, memory=memory, lock=False).plan()
            for planned in plan.new:  # the memory needs the plans, not the rows they came from
                planned.row = _SPENT
            for new_person in plan.new_people:
                new_person.row = _SPENT
            plan.counts.invalid += len(refused)
            plan.refused += refused
            total.add(plan.counts)
            done += len(batch)
            with transaction.atomic():
                _refusals_insert(job, ImportJob.Phase.CHECK, plan.refused)
            ImportJob.objects.filter(pk=job.pk).update(
                rows_done=done, check_counts=total.as_dict(), updated_at=timezone.now()
            )
            reset_queries()
            if progress:
                job.rows_done, job.check_counts = done, total.as_dict()
                progress(job)
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportJob.State.CHECKED,
        total_rows=done,
        rows_done=0,
        check_counts=total.as_dict(),
        updated_at=timezone.now(),
    )
    job.state, job.total_rows, job.check_counts = ImportJob.State.CHECKED, done, total.as_dict()
    return ImportJob.State.CHECKED


def _import(job: ImportJob, deadline: float | None, progress: Progress | None) -> str:
    path = _path(job)
    if job.total_rows is None:
        job.total_rows = rows_count(path, job.file_format)
        ImportJob.objects.filter(pk=job.pk).update(total_rows=job.total_rows)
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportJob.State.RUNNING,
        phase=ImportJob.Phase.IMPORT,
        phase_started_at=now,
        rows_at_phase_start=job.rows_done,
        updated_at=now,
    )
    job.phase_started_at, job.rows_at_phase_start = now, job.rows_done
    ctx = _context(job)
    refresh_at = STATISTICS_FIRST_REFRESH
    written = 0
    with (
        rows_open(path, job.file_format) as (_, rows),
        # committed batches are not read again
        read_ahead(_batches(_parsed(job, islice(rows, job.rows_done, None), ctx), BATCH_ROWS)) as batches,
    ):
        for batch in batches:
            before = job.new + job.merged
            state = _import_batch(job, batch, ctx)
            reset_queries()  # with DEBUG on, the statement log would grow with the file
            written += job.new + job.merged - before
            if written >= refresh_at:
                _statistics_refresh()
                refresh_at *= 2
            if state != ImportJob.State.RUNNING:
                return state
            if progress:
                progress(job)
            if deadline is not None and time_module.monotonic() > deadline:
                return "more"
    finished = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportJob.State.DONE, finished_at=finished, updated_at=finished, total_rows=job.rows_done
    )
    job.total_rows = job.rows_done
    job.state = ImportJob.State.DONE
    if job.file:
        job.file.delete(save=False)  # the uploaded file holds health information: gone once imported
        ImportJob.objects.filter(pk=job.pk).update(file="")
    return ImportJob.State.DONE


# The batch lookups are planned from the tables' statistics. An import grows the people and
# inquiry tables faster than autovacuum samples them (and where autovacuum is off, they are never
# sampled): with statistics of a small table, PostgreSQL read every open inquiry for each batch
# (a cost growing with the table; bench/import.py) instead of probing the partial unique indexes.
# So the import samples them itself as it doubles what it has written.
STATISTICS_FIRST_REFRESH = 5_000


def _statistics_refresh() -> None:
    """ANALYZE the tables an import grows (a role that does not own them gets a warning from
    PostgreSQL and nothing else; autovacuum keeps them sampled there)."""
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in (Person, Inquiry, ImportedRow))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


def _import_batch(job: ImportJob, batch: list[ImportRow | Refused], ctx: RowContext) -> str:
    """One batch in one transaction with the job's counts and position; done again from scratch if a
    live lead raced it (a partial unique index refused a second open inquiry)."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                locked = (
                    ImportJob.objects.select_for_update().only("cancel_requested", "rows_done").get(pk=job.pk)
                )
                if locked.cancel_requested:
                    ImportJob.objects.filter(pk=job.pk).update(
                        state=ImportJob.State.CANCELLED, cancel_requested=False, updated_at=timezone.now()
                    )
                    job.state = ImportJob.State.CANCELLED
                    return ImportJob.State.CANCELLED
                good = [_fresh(r) for r in batch if isinstance(r, ImportRow)]
                refused = [r for r in batch if isinstance(r, Refused)]
                plan = _Batch(job=job, rows=good, memory=_Memory(), lock=False).plan()
                if not _merge_targets_locked(plan):
                    plan = _Batch(job=job, rows=[_fresh(r) for r in good], memory=_Memory(), lock=True).plan()
                plan.counts.invalid += len(refused)
                plan.refused += refused
                _write(job=job, plan=plan, ctx=ctx)
                c = plan.counts
                ImportJob.objects.filter(pk=job.pk).update(
                    rows_done=F("rows_done") + len(batch),
                    new=F("new") + c.new,
                    merged=F("merged") + c.merged,
                    skipped=F("skipped") + c.skipped,
                    invalid=F("invalid") + c.invalid,
                    updated_at=timezone.now(),
                )
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("import %s: a batch met a concurrent write; doing it again", job.pk)
            continue
        job.rows_done += len(batch)
        job.new, job.merged, job.skipped, job.invalid = (
            job.new + c.new,
            job.merged + c.merged,
            job.skipped + c.skipped,
            job.invalid + c.invalid,
        )
        return ImportJob.State.RUNNING
    raise AssertionError("unreachable")


def _fresh(row: ImportRow) -> ImportRow:
    """A row as read (planning blanks an external id already taken; a retry plans again)."""
    if not hasattr(row, "_external_id"):
        row._external_id = row.external_id  # type: ignore[attr-defined]
    row.external_id = row._external_id  # type: ignore[attr-defined]
    return row


def job_rate(job: ImportJob, now: datetime | None = None) -> tuple[float | None, float | None]:
    """Rows per second since the phase (re)started, and seconds left at that rate."""
    if job.phase_started_at is None:
        return None, None
    elapsed = ((now or timezone.now()) - job.phase_started_at).total_seconds()
    done = job.rows_done - job.rows_at_phase_start
    if elapsed <= 0 or done <= 0:
        return None, None
    rate = done / elapsed
    left = None
    if job.total_rows:
        left = max(job.total_rows - job.rows_done, 0) / rate
    return rate, left
