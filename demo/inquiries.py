"""Synthetic inquiries and every row that hangs off them, generated in chronological order."""

from __future__ import annotations

import bisect
import functools
import json
import math
import random
import zoneinfo
from collections import Counter
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from admissions.followup_policy import NEW_INQUIRY_CADENCE
from admissions.followups import alert_text
from admissions.models import (
    Caller,
    FollowUp,
    Inquiry,
    InsurancePolicy,
    Person,
)
from admissions.pipeline import OPEN_STAGES
from demo.bulk import BULK_MODELS, Batch, Progress, Sink, bulk_tables, next_id, sync_sequence
from demo.catalogue import (
    ALL_STAGES,
    CITIES,
    CONSENT_TEXT,
    CRISIS_NOTES,
    EMAIL_CONSENT_TEXT,
    FAMILY,
    FIRST_NAMES,
    GAPS,
    HISTORY_DAYS,
    HOUR_WEIGHTS,
    INSURANCE_LOSSES,
    INVALID_NOTES,
    LAST_NAMES,
    LOST,
    OPEN_WEIGHTS,
    PAYERS,
    REFERRED_OUT_TO,
    SETTLED_WEIGHTS,
    SPEED_AFTER_HOURS,
    SPEED_BUSINESS,
    STAMP_FIELDS,
    STAMP_SLOT,
    SUBSTANCE_WEIGHTS,
    WEB_MESSAGES,
    WEEKDAY_WEIGHTS,
    L,
    S,
    caller_phone,
    cumulative,
    person_phone,
)
from demo.reference import Reference
from programs.models import CapacityHold, Program

# --- inquiries --------------------------------------------------------------------------


# Epoch seconds to an aware UTC datetime (a C-level partial: this runs ~20 times per inquiry).
from_epoch = functools.partial(datetime.fromtimestamp, tz=UTC)


class InquiryGenerator:
    """Generates inquiries in chronological order and writes them chunk by chunk."""

    def __init__(self, *, reference: Reference, seed: int, now: datetime) -> None:
        self.ref = reference
        self.now = int(now.timestamp())
        self.now_dt = now
        self.sink = Sink()
        self.person_id = next_id(Person)
        self.caller_id = next_id(Caller)
        self.inquiry_id = next_id(Inquiry)
        self.hold_id = next_id(CapacityHold)
        # Seeded by where the ids start, so a top-up run does not repeat the first one.
        self.rng = random.Random(f"inquiries:{seed}:{self.inquiry_id}")  # noqa: S311
        self.json_cache: dict[Any, str] = {}
        self.stages: Counter[str] = Counter()
        open_rows = Inquiry.objects.filter(stage__in=sorted(OPEN_STAGES))
        self.open_phones = {p for p in open_rows.values_list("phone", flat=True) if p}
        self.open_emails = {e for e in open_rows.values_list("email", flat=True) if e}
        self.recent: list[tuple[int, int, int, str, str, int, int]] = []  # for duplicates
        self.repeat_pool: list[tuple[int, str, str, str, str, str]] = []  # settled people
        self.consented: set[tuple[int, str]] = set()
        self.room = self._program_room()
        # Ages at inquiry, skewed to the late twenties and thirties; sampled by index below.
        self.ages = [18 + int(self.rng.betavariate(1.6, 3.2) * 55) for _ in range(2000)]
        self._prepare_tables()

    # -- lookups built once

    def _program_room(self) -> dict[int, int]:
        """Free beds or slots per program, so scheduled inquiries hold real capacity."""
        room = {}
        held = Counter(CapacityHold.objects.active(self.now_dt).values_list("program_id", flat=True))
        for programs in self.ref.programs.values():
            for p in programs:
                occupied = p.census.occupied if hasattr(p, "census") else 0
                room[p.pk] = max(p.capacity - occupied - held[p.pk], 0)
        return room

    def _prepare_tables(self) -> None:
        ref = self.ref
        self.fac = ref.facilities
        self.fac_cum = cumulative(ref.specs[f.pk].weight for f in self.fac)
        self.fac_zone = [zoneinfo.ZoneInfo(f.time_zone) for f in self.fac]
        self.fac_admit_line = [ref.sources[f"Admit line {f.city}"].pk for f in self.fac]
        self.fac_walk_in = [ref.sources[f"Walk-in {f.city}"].pk for f in self.fac]
        self.fac_sender = [f.neutral_sender_name for f in self.fac]
        self.coordinators = [ref.coordinators[f.pk] or [ref.users["coordinator"].pk] for f in self.fac]
        self.clinician = ref.users["clinician"].pk
        self.vob_user = ref.users["vob"].pk
        self.manager = ref.users["manager"].pk
        self.source_name = {s.pk: name for name, s in ref.sources.items()}
        src = ref.sources
        # (source id or None, channel, weight, external id prefix, touch style)
        plans: list[tuple[int | None, str, float, str, str]] = [
            (src["Website form"].pk, "web_form", 24, "wf", "web"),
            (src["Website chat"].pk, "chat", 8, "chat", "web"),
            (src["Paid search calls"].pk, "phone", 14, "ct", "paid_call"),
            (src["Organic search calls"].pk, "phone", 5, "ct", "call"),
            (src["Directory listing: CareFinder (example)"].pk, "phone", 5, "dir", "directory"),
            (src["Directory listing: CareFinder (example)"].pk, "web_form", 3, "dir", "directory"),
            (-1, "phone", 17, "", ""),  # the facility's admit line
            (src["Referral intake"].pk, "referral", 15, "", ""),
            (-2, "walk_in", 2, "", ""),  # walk-in at the facility
            (None, "phone", 3, "", ""),  # untracked call
        ]
        self.plans = plans
        self.plan_cum = cumulative(p[2] for p in plans)
        self.campaigns: dict[int, list[tuple[int, str, int, int]]] = {}
        for source_id, rows in ref.campaigns.items():
            self.campaigns[source_id] = [
                (
                    c.pk,
                    c.utm_campaign,
                    day_epoch(c.starts_on) if c.starts_on else 0,
                    day_epoch(c.ends_on) + 86400 if c.ends_on else 1 << 40,
                )
                for c in rows
            ]
        self.partners = [(p.pk, p.organisation, p.contact_name) for p in ref.partners]
        self.payers = [(p.pk, p.name, p.is_self_pay) for p in ref.payers]
        self.payer_cum = cumulative(w for *_x, w in PAYERS)
        self.self_pay = next(p for p in self.payers if p[2])
        self.sub_codes = [ref.substances[c] for c, _w in SUBSTANCE_WEIGHTS if c in ref.substances]
        self.sub_cum = cumulative(w for c, w in SUBSTANCE_WEIGHTS if c in ref.substances)
        self.open_cum = cumulative(w for _s, w in OPEN_WEIGHTS)
        self.settled_cum = cumulative(w for _s, w in SETTLED_WEIGHTS)
        self.lost_cum = cumulative(w for _r, w, _s in LOST)
        self.hour_cum = cumulative(HOUR_WEIGHTS)
        self.programs: list[list[tuple[int, int, str, int, int, str]]] = [
            [
                (p.pk, p.level_of_care_id, p.gender, p.min_age, p.max_age or 200, p.setting)
                for p in ref.programs[f.pk]
            ]
            for f in self.fac
        ]
        self.fit_cache: dict[tuple[int, str, int], list[tuple[int, int, str, int, int, str]]] = {}

    # -- main loop

    def run(self, *, total: int, chunk_size: int, bulk: bool, progress: Progress | None) -> Counter[str]:
        """Generate ``total`` inquiries, writing every ``chunk_size`` of them.

        In ``bulk`` mode (PostgreSQL) everything is one transaction during which the bulk
        tables have no foreign keys or secondary indexes; they are rebuilt at the end.
        """
        counts: Counter[str] = Counter()
        with transaction.atomic() if bulk else nullcontext():
            with bulk_tables(progress) if bulk else nullcontext():
                batch = Batch()
                done = 0
                for day_times in self._arrivals(total):
                    for arrival in day_times:
                        forced = None
                        if total - done <= len(ALL_STAGES) and done:
                            # Small runs still show every stage: the last arrivals fill the gaps.
                            missing = [s for s in ALL_STAGES if not self.stages[s]]
                            if len(missing) >= total - done:
                                forced = missing[0]
                        self._inquiry(batch, arrival, forced)
                        done += 1
                        if len(batch.inquiries) >= chunk_size:
                            counts += self._flush(batch)
                            batch = Batch()
                            if progress:
                                progress(f"{done:,} / {total:,} inquiries")
                counts += self._flush(batch)
        if bulk:
            with connection.cursor() as cursor:
                for model in BULK_MODELS:
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        return counts

    def _flush(self, batch: Batch) -> Counter[str]:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO off")
            counts = batch.write(self.sink)
            for model in (Person, Caller, CapacityHold, Inquiry):
                sync_sequence(model)
        return counts

    def _arrivals(self, total: int) -> Iterable[list[tuple[int, int, int, int]]]:
        """Per day, sorted (epoch, facility index, local minute of day, local weekday)."""
        rng = self.rng
        rand = rng.random
        today = timezone.localdate(self.now_dt)
        days = [today - timedelta(days=HISTORY_DAYS - 1 - i) for i in range(HISTORY_DAYS)]
        weights = [(0.6 + 0.4 * i / HISTORY_DAYS) * WEEKDAY_WEIGHTS[d.weekday()] for i, d in enumerate(days)]
        cum = cumulative(weights)
        per_day = [0] * HISTORY_DAYS
        for _ in range(total):
            per_day[bisect.bisect(cum, rng.random() * cum[-1])] += 1
        offsets: dict[tuple[int, date], int] = {}
        latest = self.now - 90
        for d, n in zip(days, per_day, strict=True):
            arrivals = []
            for _ in range(n):
                fi = bisect.bisect(self.fac_cum, rng.random() * self.fac_cum[-1])
                key = (fi, d)
                if key not in offsets:
                    noon = datetime(d.year, d.month, d.day, 12, tzinfo=self.fac_zone[fi])
                    offsets[key] = day_epoch(d) - int(noon.utcoffset().total_seconds())  # type: ignore[union-attr]
                hour = bisect.bisect(self.hour_cum, rng.random() * self.hour_cum[-1])
                minute_of_day = hour * 60 + int(rand() * 60)
                epoch = offsets[key] + minute_of_day * 60 + int(rand() * 60)
                if epoch > latest:
                    epoch = latest - int(rand() * 4 * 3600)
                    local = datetime.fromtimestamp(epoch, self.fac_zone[fi])
                    minute_of_day = local.hour * 60 + local.minute
                arrivals.append((epoch, fi, minute_of_day, d.weekday()))
            arrivals.sort()
            yield arrivals

    # -- one inquiry

    def _inquiry(self, b: Batch, arrival: tuple[int, int, int, int], forced: str | None) -> None:
        """One inquiry and its rows; one linear story reads better than ten small helpers."""
        rng = self.rng
        rand = rng.random
        created, fi, minute_of_day, weekday = arrival
        facility_id = self.fac[fi].pk
        iid = self.inquiry_id
        self.inquiry_id += 1
        age = self.now - created

        # attribution
        source_id, channel, _w, prefix, style = self.plans[
            bisect.bisect(self.plan_cum, rand() * self.plan_cum[-1])
        ]
        if source_id == -1:
            source_id = self.fac_admit_line[fi]
        elif source_id == -2:
            source_id = self.fac_walk_in[fi]
        campaign_id, utm_campaign = None, ""
        if source_id in self.campaigns and rand() < 0.75:
            live = [c for c in self.campaigns[source_id] if c[2] <= created < c[3]]
            if live:
                campaign_id, utm_campaign = live[int(rand() * len(live))][:2]
        partner = self.partners[int(rand() * len(self.partners))] if channel == "referral" else None

        # outcome
        business = weekday < 5 and 8 * 60 <= minute_of_day < 19 * 60
        answered_live = channel == "walk_in" or (channel == "phone" and rand() < (0.75 if business else 0.45))
        stage, lost, last_working = self._outcome(age, forced)
        if stage == S.DUPLICATE and not self.recent:
            stage, lost, last_working = S.INVALID, "", S.NEW
        if lost == L.UNREACHABLE:
            answered_live = False
        path = self._path(stage, last_working, answered_live, lost)

        # who
        duplicate_of = None
        repeat = None
        if stage == S.DUPLICATE:
            original = self.recent[-1 - int(rand() * min(len(self.recent), 50))]
            duplicate_of = original[0]
            person_id, phone, email = original[1], original[3], original[4]
            state_tz = None
            first = last = ""
            gender = ""
        elif self.repeat_pool and rand() < 0.06:
            repeat = self.repeat_pool.pop(int(rand() * len(self.repeat_pool)))
            person_id, phone, email, first, last, gender = repeat
            state_tz = None
        else:
            person_id = self.person_id
            self.person_id += 1
            first = FIRST_NAMES[int(rand() * len(FIRST_NAMES))]
            last = LAST_NAMES[int(rand() * len(LAST_NAMES))]
            phone, state, tz = person_phone(person_id)
            email = f"{first}.{last}.{person_id}@example.com".lower()
            state_tz = (state, tz)
            r = rand()
            gender = "female" if r < 0.44 else "male" if r < 0.97 else "nonbinary"
        is_open = stage in OPEN_STAGES
        inquiry_phone = phone if rand() < 0.96 or channel == "phone" else ""
        inquiry_email = email if (channel in ("web_form", "chat") and rand() < 0.9) or rand() < 0.3 else ""
        if is_open:
            if inquiry_phone in self.open_phones:
                inquiry_phone = ""
            if inquiry_email in self.open_emails:
                inquiry_email = ""
            if inquiry_phone:
                self.open_phones.add(inquiry_phone)
            if inquiry_email:
                self.open_emails.add(inquiry_email)

        age_years = self.ages[int(rand() * len(self.ages))]
        zone = self.fac_zone[fi]
        if state_tz is not None:
            dob = None
            if rand() < 0.7:
                dob = from_epoch(created - age_years * 31_557_600 - int(rand() * 31_000_000)).date()
            contacted = last_working not in (S.NEW, S.CONTACT_ATTEMPTED) or stage in (S.CRISIS_ROUTED,)
            b.persons.append(
                (
                    person_id,
                    first,
                    last,
                    dob,
                    gender if contacted or rand() < 0.3 else "",
                    phone,
                    email,
                    "",
                    CITIES[state_tz[0]] if rand() < 0.5 else "",
                    state_tz[0],
                    "",
                    state_tz[1],
                    "es" if rand() < 0.07 else "en",
                    (rand() < 0.7) if contacted else None,
                    (rand() < 0.8) if contacted else None,
                    from_epoch(created),
                )
            )

        # caller
        caller_id = None
        if partner is not None and rand() < 0.8:
            caller_id = self._caller(b, "professional", "referral coordinator", partner[2], partner[1])
        elif channel in ("phone", "walk_in", "chat") and rand() < 0.3:
            detail = FAMILY[int(rand() * len(FAMILY))]
            name = f"{FIRST_NAMES[int(rand() * len(FIRST_NAMES))]} {last or 'Family'}"
            caller_id = self._caller(b, "family", detail, name, "")

        owner = None
        coordinators = self.coordinators[fi]
        if stage not in (S.NEW, S.INVALID, S.DUPLICATE) or rand() < 0.9:
            owner = coordinators[int(rand() * len(coordinators))]

        # timestamps along the path, squeezed to end before now
        times = self._times(path, created, minute_of_day, business, lost)
        stamps: list[int | None] = [None] * len(STAMP_FIELDS)
        for s, t in zip(path[1:], times[1:], strict=True):
            slot = STAMP_SLOT[s]
            if stamps[slot] is None:
                stamps[slot] = t
        final_t = times[-1]

        # programs
        approved_program = approved_level = admitted_program = None
        admission_date = None
        hold_id = None
        reached = set(path)
        if S.APPROVED in reached:
            fit = self._fitting(fi, gender, age_years)
            prog = fit[int(rand() * len(fit))]
            if stage == S.ADMISSION_SCHEDULED:
                roomy = [p for p in fit if self.room[p[0]] > 0]
                if roomy:
                    prog = roomy[int(rand() * len(roomy))]
                    self.room[prog[0]] -= 1
                    hold_id = self.hold_id
                    self.hold_id += 1
                    today = timezone.localdate(self.now_dt)
                    admission_date = today + timedelta(days=int(rand() * 7))
                    until = timezone.make_aware(
                        datetime.combine(admission_date + timedelta(days=1), datetime.min.time())
                    )
                    b.holds.append(
                        (
                            hold_id,
                            prog[0],
                            f"inquiry:{iid}",
                            datetime.fromtimestamp(final_t, zone).date(),
                            until,
                            from_epoch(final_t),
                            None,
                            "",
                        )
                    )
                else:  # no bed or slot free: still approved, waiting
                    path = path[:-1]
                    times = times[:-1]
                    stamps[STAMP_SLOT[S.ADMISSION_SCHEDULED]] = None
                    stage = S.APPROVED
                    final_t = times[-1]
            approved_program, approved_level = prog[0], prog[1]
            if S.ADMISSION_SCHEDULED in path and admission_date is None:
                # Admitted, or a no-show: the step after scheduling happens on or after the day.
                after = times[path.index(S.ADMISSION_SCHEDULED) + 1]
                admission_date = datetime.fromtimestamp(after, zone).date()
            if stage == S.ADMITTED:
                admitted_program = approved_program
                if rand() < 0.08 and len(fit) > 1:
                    admitted_program = fit[int(rand() * len(fit))][0]
        program_of_interest = None
        if channel == "web_form" and rand() < 0.3:
            options = self.programs[fi]
            program_of_interest = options[int(rand() * len(options))][0]

        lost_reason = lost if stage == S.CLOSED else ""
        referred_out_to = (
            REFERRED_OUT_TO[int(rand() * len(REFERRED_OUT_TO))] if stage == S.REFERRED_OUT else ""
        )
        close_note = ""
        if stage == S.INVALID:
            close_note = (
                INVALID_NOTES[1]
                if S.CONTACT_ATTEMPTED in reached
                else INVALID_NOTES[int(rand() * len(INVALID_NOTES))]
            )
        elif stage == S.CRISIS_ROUTED:
            close_note = CRISIS_NOTES[int(rand() * len(CRISIS_NOTES))]
        red_flag = stage == S.CRISIS_ROUTED or (lost == L.NEEDS_OTHER_LEVEL and rand() < 0.5) or rand() < 0.02
        external_id = f"{prefix}-{iid:08d}" if prefix else ""
        message = WEB_MESSAGES[int(rand() * len(WEB_MESSAGES))] if channel in ("web_form", "chat") else ""

        b.inquiries.append(
            (
                iid,
                person_id,
                caller_id,
                facility_id,
                channel,
                source_id,
                campaign_id,
                partner[0] if partner else None,
                external_id,
                inquiry_phone,
                inquiry_email,
                message,
                program_of_interest,
                owner,
                from_epoch(created) if owner else None,
                stage,
                from_epoch(final_t),
                from_epoch(created),
                *[from_epoch(t) if t is not None else None for t in stamps],
                approved_level,
                approved_program,
                admission_date,
                hold_id,
                admitted_program,
                lost_reason,
                referred_out_to,
                close_note,
                duplicate_of,
                red_flag,
            )
        )
        self.stages[stage] += 1

        # substances
        if stage != S.INVALID:
            n = 1 if rand() < 0.58 else 2 if rand() < 0.75 else 3
            picked = {
                self.sub_codes[bisect.bisect(self.sub_cum, rand() * self.sub_cum[-1])] for _ in range(n)
            }
            b.substances.extend((iid, s) for s in picked)

        # touches
        source_label = self.source_name.get(source_id, "") if source_id else ""
        b.touches.append(
            self._touch(iid, created, channel, source_id, campaign_id, partner, style, utm_campaign)
        )
        logged_by = owner if channel in ("phone", "walk_in") else None
        self._event(
            b,
            iid,
            created,
            "created",
            logged_by,
            "lead api" if style == "web" else "",
            data=("created", channel, source_label),
        )
        if owner:
            self._event(b, iid, created, "assigned", None, "routing", data=("assigned", owner))
        if rand() < 0.2 and final_t - created > 600:
            extra = 1 if rand() < 0.75 else 2
            for k in range(extra):
                at = created + int((final_t - created) * (k + 1 + rand()) / (extra + 2))
                plan = self.plans[int(rand() * 6)]
                b.touches.append(self._touch(iid, at, plan[1], plan[0], None, None, plan[4], ""))
                self._event(
                    b,
                    iid,
                    at,
                    "touch",
                    None,
                    "lead api",
                    data=("touch", plan[1], self.source_name.get(plan[0] or 0, "")),
                )

        # the path: calls and stage changes
        actor = owner or self.manager
        previous = S.NEW
        for s, t in zip(path[1:], times[1:], strict=True):
            if s == S.CONTACT_ATTEMPTED:
                self._call(b, iid, t, actor, "outbound", "voicemail" if rand() < 0.5 else "no_answer")
            elif s == S.CONTACTED:
                direction = "inbound" if previous == S.NEW else "outbound"
                self._call(b, iid, t, actor, direction, "connected")
            elif s == S.INVALID and previous == S.CONTACT_ATTEMPTED:
                self._call(b, iid, t, actor, "outbound", "wrong_number")
            elif s == S.CLOSED and lost == L.UNREACHABLE:
                start = times[path.index(S.CONTACT_ATTEMPTED)]
                for k in range(1 + int(rand() * 2)):
                    at = start + (t - start) * (k + 1) // 4
                    self._call(b, iid, at, actor, "outbound", "no_answer")
            elif s == S.ADMISSION_SCHEDULED and hold_id is not None:
                self._event(b, iid, t, "capacity_held", actor, "", data=("held", approved_program, hold_id))
            step_actor = self.clinician if previous == S.CLINICAL_REVIEW and s == S.APPROVED else actor
            self._event(
                b,
                iid,
                t,
                "stage_changed",
                step_actor,
                "",
                data=(
                    "stage",
                    str(previous),
                    str(s),
                    close_note if s in (S.INVALID, S.CRISIS_ROUTED) else "",
                    lost_reason if s == S.CLOSED else "",
                    referred_out_to if s == S.REFERRED_OUT else "",
                ),
            )
            previous = s

        # insurance
        if S.PRESCREENED in reached or (channel == "web_form" and rand() < 0.25):
            self._insurance(b, iid, path, times, stamps, lost, first, last, created)

        # consent
        if phone and (
            (channel == "web_form" and rand() < 0.55)
            or stage == S.NURTURE
            or (channel == "phone" and S.CONTACTED in reached and rand() < 0.25)
        ):
            key = (person_id, "sms")
            if key not in self.consented:
                self.consented.add(key)
                web = channel == "web_form"
                captured = created if web else (stamps[STAMP_SLOT[S.CONTACTED]] or created)
                revoked = captured + int(rand() * 30 * 86400) if rand() < 0.05 else None
                if revoked is not None and revoked >= self.now:
                    revoked = None
                if revoked is not None:
                    self.consented.discard(key)
                b.consents.append(
                    (
                        person_id,
                        "sms",
                        phone,
                        "web form" if web else "admit line call",
                        CONSENT_TEXT.format(sender=self.fac_sender[fi]),
                        from_epoch(captured),
                        None if web else actor,
                        f"192.0.2.{1 + int(rand() * 250)}" if web else None,
                        "https://www.example.org/contact" if web else "",
                        from_epoch(revoked) if revoked else None,
                        "STOP reply" if revoked else "",
                    )
                )
            if (
                email
                and channel == "web_form"
                and rand() < 0.3
                and (person_id, "email") not in self.consented
            ):
                self.consented.add((person_id, "email"))
                b.consents.append(
                    (
                        person_id,
                        "email",
                        email,
                        "web form",
                        EMAIL_CONSENT_TEXT.format(sender=self.fac_sender[fi]),
                        from_epoch(created),
                        None,
                        f"192.0.2.{1 + int(rand() * 250)}",
                        "https://www.example.org/contact",
                        None,
                        "",
                    )
                )

        # follow-ups for inquiries nobody has tried yet
        if stage == S.NEW:
            self._followups(b, iid, created)

        # bookkeeping for duplicates and returning people
        if stage != S.DUPLICATE:
            self.recent.append(
                (iid, person_id, created, inquiry_phone or phone, inquiry_email or email, fi, 0)
            )
            if len(self.recent) > 200:
                del self.recent[:100]
        if not is_open and stage not in (S.DUPLICATE, S.INVALID, S.ADMITTED) and first:
            entry = (person_id, phone, email, first, last, gender)
            if len(self.repeat_pool) < 5000:
                self.repeat_pool.append(entry)
            else:
                self.repeat_pool[int(rand() * 5000)] = entry
        elif repeat is not None and not is_open:
            self.repeat_pool.append(repeat)

    def _outcome(self, age: int, forced: str | None) -> tuple[str, str, str]:
        """Final stage, lost reason and the last working stage before an exit."""
        rand = self.rng.random
        if forced is not None:
            stage = forced
        else:
            days = age / 86400
            p_open = 0.9 if days < 1 else 0.75 * math.exp(-(days - 1) / 10) + 0.02 * (days < 60)
            if rand() < p_open:
                stage = OPEN_WEIGHTS[bisect.bisect(self.open_cum, rand() * self.open_cum[-1])][0]
            else:
                stage = SETTLED_WEIGHTS[bisect.bisect(self.settled_cum, rand() * self.settled_cum[-1])][0]
        if stage in OPEN_STAGES or stage == S.ADMITTED:
            return stage, "", stage
        if stage == S.CLOSED:
            reason, _w, froms = LOST[bisect.bisect(self.lost_cum, rand() * self.lost_cum[-1])]
            return stage, reason, froms[int(rand() * len(froms))]
        if stage == S.DUPLICATE:
            return stage, "", S.NEW
        if stage == S.INVALID:
            return stage, "", S.CONTACT_ATTEMPTED if rand() < 0.3 else S.NEW
        if stage == S.CRISIS_ROUTED:
            return stage, "", S.CONTACTED if rand() < 0.7 else S.PRESCREENED
        if stage == S.NURTURE:
            return stage, "", S.CONTACTED if rand() < 0.6 else S.PRESCREENED
        # referred out
        froms = (
            S.CONTACTED,
            S.PRESCREENED,
            S.PRESCREENED,
            S.INSURANCE_VERIFICATION,
            S.CLINICAL_REVIEW,
        )
        return stage, "", froms[int(rand() * len(froms))]

    def _path(self, stage: str, last: str, answered_live: bool, lost: str) -> list[str]:
        """The stages visited, in order, following the legal transitions."""
        rand = self.rng.random
        path = [S.NEW]
        target = S.ADMITTED if stage == S.ADMITTED else last
        order = (
            S.CONTACT_ATTEMPTED,
            S.CONTACTED,
            S.PRESCREENED,
            S.INSURANCE_VERIFICATION,
            S.CLINICAL_REVIEW,
            S.APPROVED,
            S.ADMISSION_SCHEDULED,
            S.ADMITTED,
        )
        depth = order.index(target) if target != S.NEW else -1
        if depth >= 0:
            if not answered_live or target == S.CONTACT_ATTEMPTED:
                path.append(S.CONTACT_ATTEMPTED)
            if depth >= 1:
                path.append(S.CONTACTED)
            if depth >= 2:
                path.append(S.PRESCREENED)
            if depth >= 3:
                r = rand()
                if target == S.INSURANCE_VERIFICATION:
                    path += (
                        [S.CLINICAL_REVIEW, S.INSURANCE_VERIFICATION]
                        if r < 0.15
                        else [S.INSURANCE_VERIFICATION]
                    )
                elif target == S.CLINICAL_REVIEW:
                    path += [S.INSURANCE_VERIFICATION, S.CLINICAL_REVIEW] if r < 0.7 else [S.CLINICAL_REVIEW]
                elif r < 0.55:
                    path += [S.INSURANCE_VERIFICATION, S.CLINICAL_REVIEW, S.APPROVED]
                elif r < 0.85:
                    path += [S.INSURANCE_VERIFICATION, S.APPROVED]
                else:
                    path += [S.CLINICAL_REVIEW, S.INSURANCE_VERIFICATION, S.APPROVED]
            if depth >= 6:
                path.append(S.ADMISSION_SCHEDULED)
            if depth >= 7:
                path.append(S.ADMITTED)
        if stage != target:
            path.append(stage)
        return path

    def _times(
        self, path: list[str], created: int, minute_of_day: int, business: bool, lost: str
    ) -> list[int]:
        """Epoch seconds for each stage on the path, increasing, all before now."""
        rng = self.rng
        rand = rng.random
        gaps: list[int] = []
        previous = S.NEW
        for s in path[1:]:
            if s == S.CONTACT_ATTEMPTED:
                r = rand()
                speeds = SPEED_BUSINESS if business else SPEED_AFTER_HOURS
                _share, low, high = next(b for b in speeds if r < b[0])
                if high:
                    gap = low + int(rand() * (high - low))
                else:  # nobody picked it up overnight: next morning, once the shift starts
                    gap = ((8 * 60 - minute_of_day) % 1440) * 60 + int(rand() * 5400)
            elif s == S.CONTACTED and previous == S.NEW:
                gap = 15 + int(rand() * 225)
            elif s == S.CLOSED and lost == L.UNREACHABLE:
                gap = 3 * 86400 + int(rand() * 11 * 86400)
            else:
                median, sigma, floor, cap = GAPS[s]
                if s == S.CLINICAL_REVIEW and previous == S.PRESCREENED:
                    median = 30
                gap = int(math.exp(math.log(median * 60) + sigma * rng.gauss(0.0, 1.0)))
                if s in (S.CLINICAL_REVIEW, S.APPROVED) and previous == S.INSURANCE_VERIFICATION:
                    weekday = ((created + sum(gaps)) // 86400 + 3) % 7
                    gap = int(gap * (1.8 if weekday >= 5 else 1.0))
                gap = min(max(gap, floor), cap)
            gaps.append(gap)
            previous = s
        total = sum(gaps)
        room = self.now - 60 - created
        if total > room:
            # Squeeze the story into the time that has passed, keeping every step >= 1 s.
            factor = max(room - len(gaps), 0) / total
            gaps = [1 + int(g * factor) for g in gaps]
        times = [created]
        for g in gaps:
            times.append(times[-1] + g)
        return times

    def _fitting(self, fi: int, gender: str, age: int) -> list[tuple[int, int, str, int, int, str]]:
        key = (fi, gender, age)
        found = self.fit_cache.get(key)
        if found is None:
            who = {"female": Program.Gender.WOMEN, "male": Program.Gender.MEN}.get(gender, "")
            found = [
                p
                for p in self.programs[fi]
                if p[3] <= age <= p[4] and (p[2] == Program.Gender.ANY or p[2] == who)
            ] or self.programs[fi]
            self.fit_cache[key] = found
        return found

    def _caller(self, b: Batch, relationship: str, detail: str, name: str, organisation: str) -> int:
        caller_id = self.caller_id
        self.caller_id += 1
        email = f"caller{caller_id}@example.org" if self.rng.random() < 0.4 else ""
        b.callers.append(
            (caller_id, relationship, detail, name, caller_phone(caller_id), email, organisation)
        )
        return caller_id

    def _touch(
        self,
        iid: int,
        at: int,
        channel: str,
        source_id: int | None,
        campaign_id: int | None,
        partner: tuple[int, str, str] | None,
        style: str,
        utm_campaign: str,
    ) -> tuple[Any, ...]:
        rand = self.rng.random
        utm_source = utm_medium = gclid = landing = referrer = tracking = ""
        if style == "web":
            paid = campaign_id is not None
            utm_source = "search-engine" if paid else ""
            utm_medium = "cpc" if paid else ""
            gclid = f"demo-{iid:x}-{int(rand() * 1e9):x}" if paid and rand() < 0.8 else ""
            landing = "https://www.example.org/" + ("insurance" if rand() < 0.3 else "contact")
            referrer = "https://search.example.com/" if rand() < 0.6 else ""
        elif style in ("paid_call", "call", "directory"):
            tracking = f"CT{iid:09d}"
            utm_source = "directory" if style == "directory" else "search-engine"
            utm_medium = "cpc" if style == "paid_call" else "organic" if style == "call" else "listing"
        return (
            iid,
            from_epoch(at),
            channel,
            source_id,
            campaign_id,
            partner[0] if partner else None,
            utm_source,
            utm_medium,
            utm_campaign if campaign_id else "",
            "",
            "",
            gclid,
            landing,
            referrer,
            tracking,
        )

    def _json(self, key: tuple[Any, ...]) -> str:
        found = self.json_cache.get(key)
        if found is None:
            kind = key[0]
            if kind == "created" or kind == "touch":
                value: dict[str, Any] = {"channel": key[1], "source": key[2]}
            elif kind == "assigned":
                value = {"to": key[1], "how": "round robin"}
            elif kind == "held":
                value = {"program": key[1], "hold": key[2]}
            elif kind == "stage":
                value = {
                    "from": key[1],
                    "to": key[2],
                    "reason": key[3],
                    "lost_reason": key[4],
                    "destination": key[5],
                }
            elif kind == "insurance":
                value = {"vob_status": key[1]}
            elif kind == "followup":
                value = {"kind": key[1], "alert": True}
            else:
                value = {}
            found = json.dumps(value)
            if len(self.json_cache) < 10_000:
                self.json_cache[key] = found
        return found

    def _event(
        self,
        b: Batch,
        iid: int,
        at: int,
        kind: str,
        actor: int | None,
        label: str,
        *,
        data: tuple[Any, ...] = ("",),
        body: str = "",
    ) -> None:
        b.events.append((iid, from_epoch(at), kind, actor, label, "", "", body, self._json(data)))

    def _call(self, b: Batch, iid: int, at: int, actor: int, direction: str, outcome: str) -> None:
        b.events.append((iid, from_epoch(at), "call", actor, "", direction, outcome, "", "{}"))

    def _insurance(
        self,
        b: Batch,
        iid: int,
        path: list[str],
        times: list[int],
        stamps: list[int | None],
        lost: str,
        first: str,
        last: str,
        created: int,
    ) -> None:
        rng = self.rng
        rand = rng.random
        if lost == L.CANNOT_AFFORD or rand() < 0.05:
            payer = self.self_pay
        else:
            payer = self.payers[bisect.bisect(self.payer_cum, rand() * self.payer_cum[-1])]
        self_pay = payer[2]
        status = InsurancePolicy.VobStatus.NOT_REQUESTED
        requested = completed = None
        in_network = authorization = None
        deductible = oop = None
        notes = ""
        if S.INSURANCE_VERIFICATION in path:
            at = path.index(S.INSURANCE_VERIFICATION)
            requested = times[at]
            if at == len(path) - 1:  # waiting in the VOB queue now
                status = (
                    InsurancePolicy.VobStatus.REQUESTED
                    if rand() < 0.6
                    else InsurancePolicy.VobStatus.IN_PROGRESS
                )
            else:
                completed = times[at + 1] - min(600, (times[at + 1] - times[at]) // 2)
                if self_pay:
                    status = InsurancePolicy.VobStatus.SELF_PAY
                elif lost in INSURANCE_LOSSES:
                    status = InsurancePolicy.VobStatus.NOT_VIABLE
                    in_network = lost != L.OUT_OF_NETWORK and rand() < 0.5
                    notes = "Verification complete."
                else:
                    status = InsurancePolicy.VobStatus.VIABLE
                    in_network = rand() < 0.85
                    authorization = rand() < 0.6
                    deductible = f"{int(rand() * 60) * 100}.00"
                    oop = f"{int(rand() * 90) * 100}.00"
                    notes = "Verification complete."
                self._event(
                    b,
                    iid,
                    completed,
                    "insurance",
                    self.vob_user,
                    "",
                    data=("insurance", str(status)),
                )
        member = "" if self_pay else f"XD{int(rand() * 1e9):09d}"
        group = "" if self_pay else f"G{int(rand() * 1e5):05d}"
        subscriber_self = rand() < 0.7
        b.policies.append(
            (
                iid,
                "primary",
                payer[0],
                payer[1],
                member,
                group,
                ""
                if self_pay
                else (f"{first} {last}".strip() if subscriber_self or not last else f"Pat {last}"),
                None,
                "" if self_pay else ("self" if subscriber_self else "parent" if rand() < 0.5 else "spouse"),
                status,
                from_epoch(requested) if requested else None,
                from_epoch(completed) if completed else None,
                in_network,
                deductible,
                oop,
                authorization,
                notes,
            )
        )
        if not self_pay and rand() < 0.04:
            other = self.payers[int(rand() * (len(self.payers) - 1))]
            if other[0] != payer[0] and not other[2]:
                b.policies.append(
                    (
                        iid,
                        "secondary",
                        other[0],
                        other[1],
                        f"XD{int(rand() * 1e9):09d}",
                        "",
                        "",
                        None,
                        "spouse",
                        InsurancePolicy.VobStatus.NOT_REQUESTED,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        "",
                    )
                )

    def _followups(self, b: Batch, iid: int, created: int) -> None:
        for kind, offset, key in NEW_INQUIRY_CADENCE:
            due = created + int(offset.total_seconds())
            if due <= self.now - 60:
                # The dispatcher already ran it: an alert note on the timeline, the row done.
                finished = min(due + 20, self.now - 30)
                b.followups.append(
                    (
                        iid,
                        kind,
                        from_epoch(due),
                        FollowUp.State.DONE,
                        f"inquiry:{iid}:{key}",
                        1,
                        None,
                        from_epoch(created),
                        from_epoch(finished),
                        "alert posted",
                    )
                )
                self._event(
                    b,
                    iid,
                    finished,
                    "note",
                    None,
                    "follow-up",
                    data=("followup", str(kind)),
                    body=alert_text(kind=kind, minutes=(finished - created) // 60),
                )
            else:
                b.followups.append(
                    (
                        iid,
                        kind,
                        from_epoch(due),
                        FollowUp.State.SCHEDULED,
                        f"inquiry:{iid}:{key}",
                        0,
                        None,
                        from_epoch(created),
                        None,
                        "",
                    )
                )


def day_epoch(d: date) -> int:
    """Seconds from the epoch to midnight UTC of ``d``."""
    return (d.toordinal() - 719163) * 86400
