"""Synthetic inquiries and every row that hangs off them, generated in chronological order."""

from __future__ import annotations

import bisect
import dataclasses
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

from admissions.followup_policy import NEW_INQUIRY_CADENCE, STOPS_AFTER_FIRST_ATTEMPT
from admissions.followups import alert_text
from admissions.messaging.models import MessagingHold
from admissions.models import (
    Caller,
    FollowUp,
    Inquiry,
    InsurancePolicy,
    Person,
)
from admissions.pipeline import OPEN_STAGES
from admissions.screening.models import Screening
from admissions.screening.rules import Flag
from demo.bulk import BULK_MODELS, Batch, Progress, Sink, bulk_tables, next_id, sync_sequence
from demo.catalogue import (
    ALL_STAGES,
    CITIES,
    CONSENT_TEXT,
    CRISIS_REFERRAL,
    CRISIS_REVIEWED_AFTER,
    EMAIL_CONSENT_TEXT,
    FAMILY,
    FIRST_NAMES,
    GAPS,
    HISTORY_DAYS,
    HOUR_WEIGHTS,
    INSURANCE_LOSSES,
    INVALID_NOTES,
    LAST_NAMES,
    LENGTH_OF_STAY_DAYS,
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
from demo.screenings import (
    CLEAR,
    CRISIS_FLAGS,
    OPIOIDS,
    SEDATIVES,
    DemoScreen,
    Screener,
    Who,
    insurance_answers,
)
from programs.models import CapacityHold, Census, LevelOfCare

# --- inquiries --------------------------------------------------------------------------


# Epoch seconds to an aware UTC datetime (a C-level partial: this runs ~20 times per inquiry).
from_epoch = functools.partial(datetime.fromtimestamp, tz=UTC)


# A primary policy: (payer id, name, self-pay, member id, group, subscriber relationship, subscriber name).
Payer = tuple[int, str, bool, str, str, str, str]


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
        self.screener = Screener(rng=random.Random(f"screens:{seed}:{self.inquiry_id}"))  # noqa: S311
        self.screening_id = next_id(Screening)
        self.messaging_hold_id = next_id(MessagingHold)
        self.crisis_held: set[int] = set(
            MessagingHold.objects.filter(reason="crisis", released_at__isnull=True).values_list(
                "person_id", flat=True
            )
        )
        self.admitted: list[tuple[int, int]] = []  # (program, epoch) of each admission, for the census
        self.levels = {lv.pk: (lv.code, lv.edition) for lv in LevelOfCare.objects.all()}
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
        self.payer_weight = {p[0]: w for p, (*_x, w) in zip(self.payers, PAYERS, strict=True)}
        self.substance_code = {pk: code for code, pk in ref.substances.items()}
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
                # A line at least every tenth of the run, so a small demo shows progress too.
                step = max(min(chunk_size, total // 10), 100)
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
                        if progress and (done % step == 0 or done == total):
                            progress(f"{done:,} / {total:,} inquiries generated")
                counts += self._flush(batch)
        if bulk:
            with connection.cursor() as cursor:
                for model in BULK_MODELS:
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        self.finish()
        return counts

    def _flush(self, batch: Batch) -> Counter[str]:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO off")
            counts = batch.write(self.sink)
            for model in (Person, Caller, CapacityHold, Inquiry, Screening, MessagingHold):
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
            contacted = last_working not in (S.NEW, S.CONTACT_ATTEMPTED) or S.CRISIS_ROUTED in path
            person_gender = gender if contacted or rand() < 0.3 else ""
            voicemail_ok = (rand() < 0.7) if contacted else None
            text_ok = (rand() < 0.8) if contacted else None
            b.persons.append(
                (
                    person_id,
                    first,
                    last,
                    dob,
                    person_gender,
                    phone,
                    email,
                    "",
                    CITIES[state_tz[0]] if rand() < 0.5 else "",
                    state_tz[0],
                    "",
                    state_tz[1],
                    "es" if rand() < 0.07 else "en",
                    voicemail_ok,
                    text_ok,
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

        picked: list[int] = []
        if stage != S.INVALID:
            n = 1 if rand() < 0.58 else 2 if rand() < 0.75 else 3
            picked = sorted(
                {self.sub_codes[bisect.bisect(self.sub_cum, rand() * self.sub_cum[-1])] for _ in range(n)}
            )

        # the pre-screen's story: a red flag routes the inquiry the moment the screen is saved
        story, complete = self._story(path, stage, gender, picked)
        snap = None
        if story not in (None, CLEAR) and complete:
            snap = path[path.index(S.PRESCREENED) + 1]

        # timestamps along the path, squeezed to end before now
        times = self._times(path, created, minute_of_day, business, lost, snap=snap)
        stamps: list[int | None] = [None] * len(STAMP_FIELDS)
        for s, t in zip(path[1:], times[1:], strict=True):
            slot = STAMP_SLOT[s]
            if stamps[slot] is None:
                stamps[slot] = t
        final_t = times[-1]

        # the pre-screen, insurance and the program, as the services leave them
        reached = set(path)
        payer = self._payer(lost, first, last)
        person = Who(
            gender=gender if state_tz is None else person_gender,
            age=age_years,
            state=state_tz[0] if state_tz is not None else "",
            ok_to_text=text_ok if state_tz is not None else None,
            ok_to_voicemail=voicemail_ok if state_tz is not None else None,
        )
        screen = None
        if story is not None:
            saved_t = times[path.index(S.PRESCREENED if complete else S.CRISIS_ROUTED)]
            screen = self._screen(story, complete, picked, person, saved_t, payer, path, times)
        approved_program = approved_level = admitted_program = None
        admission_date = None
        hold_id = hold_released = None
        scheduled = S.ADMISSION_SCHEDULED in reached
        if scheduled and screen is not None:
            current = stage == S.ADMISSION_SCHEDULED
            chosen = self._program(screen, fi, person, payer, current, names=(first, last))
            for _ in range(3):
                if chosen is not None or current:
                    break
                # Nothing at this facility fits these answers (say a co-occurring-enhanced level it
                # does not run), yet this person was admitted here: their answers were plainer.
                screen = self._screen(CLEAR, True, picked, person, screen.saved_t, payer, path, times)
                chosen = self._program(screen, fi, person, payer, current, names=(first, last))
            if chosen is None and current:  # no bed or slot free: still approved, waiting
                path, times = path[:-1], times[:-1]
                stamps[STAMP_SLOT[S.ADMISSION_SCHEDULED]] = None
                stage, final_t, scheduled = S.APPROVED, times[-1], False
            elif chosen is not None:
                screen, payer, approved_program = chosen
        if screen is not None and screen.signed_at is not None:
            approved_level = screen.judged.provisional_level_id
        if scheduled and approved_program is not None:
            at = path.index(S.ADMISSION_SCHEDULED)
            scheduled_t = times[at]
            if stage == S.ADMISSION_SCHEDULED:
                self.room[approved_program] -= 1
                admission_date = timezone.localdate(self.now_dt) + timedelta(days=int(rand() * 7))
            else:
                # Admitted, or a no-show: the step after scheduling happens on or after the day.
                hold_released = times[at + 1]
                admission_date = datetime.fromtimestamp(hold_released, zone).date()
            hold_id = self.hold_id
            self.hold_id += 1
            until = timezone.make_aware(
                datetime.combine(admission_date + timedelta(days=1), datetime.min.time())
            )
            admitted = stage == S.ADMITTED
            b.holds.append(
                (
                    hold_id,
                    approved_program,
                    f"inquiry:{iid}",
                    datetime.fromtimestamp(scheduled_t, zone).date(),
                    until,
                    from_epoch(scheduled_t),
                    from_epoch(hold_released) if hold_released is not None else None,
                    ("admitted" if admitted else "cancelled") if hold_released is not None else "",
                )
            )
            if admitted:
                admitted_program = approved_program
                if rand() < 0.08 and screen is not None:
                    # Admitted into another program than the one held (the coordinator said why).
                    other = self._program(
                        screen, fi, person, payer, False, names=(first, last), exclude=approved_program
                    )
                    if other is not None:
                        admitted_program = other[2]
                self.admitted.append((admitted_program, hold_released or final_t))
        program_of_interest = None
        if channel == "web_form" and rand() < 0.3:
            options = self.programs[fi]
            program_of_interest = options[int(rand() * len(options))][0]

        lost_reason = lost if stage == S.CLOSED else ""
        referred_out_to = (
            REFERRED_OUT_TO[int(rand() * len(REFERRED_OUT_TO))] if stage == S.REFERRED_OUT else ""
        )
        if stage == S.REFERRED_OUT and S.CRISIS_ROUTED in path:
            referred_out_to = CRISIS_REFERRAL
        close_note = screen.route_reason if screen is not None and screen.route_reason else ""
        if stage == S.INVALID:
            close_note = (
                INVALID_NOTES[1]
                if S.CONTACT_ATTEMPTED in reached
                else INVALID_NOTES[int(rand() * len(INVALID_NOTES))]
            )
        red_flag = screen is not None and bool(screen.judged.flags)
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
            if screen is not None and s == S.CRISIS_ROUTED and not screen.judged.complete:
                self._screen_event(b, iid, screen, actor)  # the partial save that raised the flag
            clinician_step = (
                previous == S.CLINICAL_REVIEW and s == S.APPROVED
            ) or previous == S.CRISIS_ROUTED
            step_actor = self.clinician if clinician_step else actor
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
                    close_note
                    if s in (S.INVALID, S.CRISIS_ROUTED) or (screen and s == screen.route_to)
                    else "",
                    lost_reason if s == S.CLOSED else "",
                    referred_out_to if s == S.REFERRED_OUT else "",
                ),
            )
            if s == S.CRISIS_ROUTED:  # however it got there, automated marketing stops
                self._crisis_hold(b, iid, person_id, actor, t)
            if screen is not None:
                if s == S.PRESCREENED and screen.judged.complete:
                    self._screen_event(b, iid, screen, actor)
                if s == screen.route_to:
                    self._red_flag_event(b, iid, screen, actor, t)
                if previous == S.CLINICAL_REVIEW and screen.signed_at is not None:
                    self._signoff_event(b, iid, screen)
            previous = s

        # insurance
        if S.PRESCREENED in reached or (channel == "web_form" and rand() < 0.25):
            self._insurance(b, iid, path, times, lost, payer)
        if screen is not None:
            b.screenings.append(
                screen.row(
                    inquiry_id=iid, form_id=self.screener.form_row.pk, saved_by=actor, signer=self.clinician
                )
            )

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

        # follow-ups: the new-inquiry cadence while nobody has reached the person, call-backs after
        if stage in (S.NEW, S.CONTACT_ATTEMPTED):
            self._followups(b, iid, created, stamps[STAMP_SLOT[S.CONTACT_ATTEMPTED]])
        elif is_open and owner is not None and rand() < 0.3:
            self._callback(b, iid, final_t, owner, zone)

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
            if age > CRISIS_REVIEWED_AFTER and forced is None:
                # A clinician has long since reviewed an older crisis and referred the person on
                # (an emergency department, a crisis unit): it no longer waits in the review queue.
                return S.REFERRED_OUT, "", S.CRISIS_ROUTED
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
        if last == S.CRISIS_ROUTED:
            return [
                *self._path(
                    S.CRISIS_ROUTED, S.CONTACTED if rand() < 0.7 else S.PRESCREENED, answered_live, lost
                ),
                stage,
            ]
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
                elif r < 0.8:
                    # A clinician signs the level off before approval (Approved needs an approved level).
                    path += [S.INSURANCE_VERIFICATION, S.CLINICAL_REVIEW, S.APPROVED]
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
        self,
        path: list[str],
        created: int,
        minute_of_day: int,
        business: bool,
        lost: str,
        *,
        snap: str | None = None,
    ) -> list[int]:
        """Epoch seconds for each stage on the path, increasing, all before now. ``snap``: the stage a
        red flag moved the inquiry to the moment the screen was saved (a second after Pre-screened)."""
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
            elif s == snap and previous == S.PRESCREENED:
                gap = 1
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

    def _story(
        self, path: list[str], stage: str, gender: str, substances: list[int]
    ) -> tuple[str | None, bool]:
        """What the pre-screen raised, if there is one, and whether it was complete when saved.

        A screen is complete from Pre-screened on. A flag that needs a clinician moves the inquiry
        to Clinical review as it is saved, so only a path that goes there next may carry one; a crisis
        flag moves it to Crisis routed, from a screen that was complete or still partial.
        """
        rand = self.rng.random
        codes = {self.substance_code[s] for s in substances}
        if S.CRISIS_ROUTED in path:
            r = rand()
            flag = (
                Flag.BACLOFEN_PUMP
                if "baclofen" in codes and r < 0.5
                else (Flag.SUICIDE_RISK if r < 0.7 else Flag.EMERGENCY_NOW)
            )
            return flag, S.PRESCREENED in path
        if S.PRESCREENED not in path:
            return None, False
        after = path.index(S.PRESCREENED) + 1
        if after < len(path) and path[after] == S.CLINICAL_REVIEW and rand() < 0.6:
            options = [Flag.SEVERE_PSYCHIATRIC]
            if codes & SEDATIVES:
                options += [Flag.SEDATIVE_WITHDRAWAL] * 3
            if gender == "female" and codes & OPIOIDS:
                options.append(Flag.PREGNANCY_WITHDRAWAL)
            return options[int(rand() * len(options))], True
        return CLEAR, True

    def _screen(
        self,
        story: str,
        complete: bool,
        substances: list[int],
        person: Who,
        saved_t: int,
        payer: Payer,
        path: list[str],
        times: list[int],
    ) -> DemoScreen:
        """A screening of the current form, judged by the rules, signed off when the path left Clinical
        review forward."""
        saved_at = from_epoch(saved_t)
        codes = [self.substance_code[s] for s in substances]
        judged = None
        for attempt in (story, CLEAR):
            answers = self.screener.answers(
                story=attempt,
                substances=codes,
                person=person,
                saved_at=saved_at,
                complete=complete,
                insurance=insurance_answers(payer),
            )
            judged = self.screener.judge(answers=answers, saved_at=saved_at)
            if complete and judged.provisional_level_id is None and story not in CRISIS_FLAGS:
                continue  # no level for these answers in the catalogue: tell a plainer story
            break
        assert judged is not None  # noqa: S101 - the loop runs at least once
        route_to = None
        if judged.flags:
            crisis = any(f in CRISIS_FLAGS for f in judged.flags)
            route_to = S.CRISIS_ROUTED if crisis else S.CLINICAL_REVIEW
            if route_to not in path:
                route_to = None  # the flag was raised later, on a stage that does not move
        signed_t = None
        if S.CLINICAL_REVIEW in path and judged.complete and judged.provisional_level_id is not None:
            at = path.index(S.CLINICAL_REVIEW)
            if at + 1 < len(path) and path[at + 1] in (S.INSURANCE_VERIFICATION, S.APPROVED):
                gap = times[at + 1] - times[at]
                signed_t = times[at + 1] - min(300, gap // 2)
        screening_id = self.screening_id
        self.screening_id += 1
        started = max(saved_t - 60 - int(self.rng.random() * 900), times[path.index(S.CONTACTED)])
        return DemoScreen(
            id=screening_id,
            judged=judged,
            created_t=min(started, saved_t),
            saved_t=saved_t,
            signed_t=signed_t,
            route_to=route_to,
            route_reason="Red flag: " + ", ".join(judged.flags) if route_to else "",
        )

    def _program(
        self,
        screen: DemoScreen,
        fi: int,
        person: Who,
        payer: Payer,
        current: bool,
        names: tuple[str, str],
        exclude: int | None = None,
    ) -> tuple[DemoScreen, Payer, int] | None:
        """The program an admission is scheduled into: the best fit among the facility's programs for
        the screen's needs, with the payer one it accepts (the person's plan, or self-pay)."""
        room = dict(self.room) if current else None
        if room is not None and exclude is not None:
            room[exclude] = 0
        program_id = self.screener.program_for(
            judged=screen.judged,
            facility_id=self.fac[fi].pk,
            person=person,
            payer_id=None,
            self_pay=False,
            room=room,
            exclude=exclude,
        )
        if program_id is None:
            return None
        accepted = self.screener.accepted_payers(program_id)
        if payer[0] not in accepted:
            choices = [p for p in self.payers if p[0] in accepted and not p[2]]
            weights = [self.payer_weight[p[0]] for p in choices]
            pick = self.rng.choices(choices, weights)[0] if choices else self.self_pay
            payer = self._payer_details(pick, *names)
            insurance = self.screener.form.clean({"insurance": insurance_answers(payer)})["insurance"]
            screen = dataclasses.replace(
                screen,
                judged=dataclasses.replace(
                    screen.judged, answers={**screen.judged.answers, "insurance": insurance}
                ),
            )
        return screen, payer, program_id

    def _payer(self, lost: str, first: str, last: str) -> Payer:
        rand = self.rng.random
        if lost == L.CANNOT_AFFORD or rand() < 0.05:
            chosen = self.self_pay
        else:
            chosen = self.payers[bisect.bisect(self.payer_cum, rand() * self.payer_cum[-1])]
        return self._payer_details(chosen, first, last)

    def _payer_details(self, chosen: tuple[int, str, bool], first: str, last: str) -> Payer:
        """(payer id, name, self-pay, member id, group, subscriber relationship, subscriber name)."""
        rand = self.rng.random
        if chosen[2]:
            return (*chosen, "", "", "", "")
        relationship = "self" if rand() < 0.7 or not last else "parent" if rand() < 0.5 else "spouse"
        name = f"{first} {last}".strip() if relationship == "self" else f"Pat {last}"
        return (*chosen, f"XD{int(rand() * 1e9):09d}", f"G{int(rand() * 1e5):05d}", relationship, name)

    def _screen_event(self, b: Batch, iid: int, screen: DemoScreen, actor: int) -> None:
        judged = screen.judged
        data = {
            "screening": screen.id,
            "form_version": self.screener.form.version,
            "complete": judged.complete,
            "provisional_level": judged.provisional_code,
            "flags": list(judged.flags),
        }
        b.events.append(
            (iid, from_epoch(screen.saved_t), "screening", actor, "", "", "", "", json.dumps(data))
        )

    def _red_flag_event(self, b: Batch, iid: int, screen: DemoScreen, actor: int, at: int) -> None:
        flags = screen.judged.result["safety_flags"]
        data = {
            "screening": screen.id,
            "flags": flags,
            "route_to": screen.route_to,
            "stage_moved": True,
            "stage_note": "",
            "alert": "clinical_reviewers",
            "followups_cancelled": 0,
        }
        body = "\n".join(f"{f['action']} Why: {f['reason']}" for f in flags)
        b.events.append((iid, from_epoch(at), "red_flag", actor, "", "", "", body, json.dumps(data)))

    def _signoff_event(self, b: Batch, iid: int, screen: DemoScreen) -> None:
        level = self.levels[screen.judged.provisional_level_id]  # type: ignore[index]
        data = {
            "screening": screen.id,
            "final_level": level[0],
            "edition": level[1],
            "provisional_level": level[0],
        }
        at = from_epoch(screen.signed_t)  # type: ignore[arg-type]
        b.events.append((iid, at, "screening_signoff", self.clinician, "", "", "", "", json.dumps(data)))

    def _crisis_hold(self, b: Batch, iid: int, person_id: int, actor: int, at: int) -> None:
        """Crisis routing stops automated marketing to the person until a clinician allows it."""
        if person_id in self.crisis_held:
            return
        self.crisis_held.add(person_id)
        hold_id = self.messaging_hold_id
        self.messaging_hold_id += 1
        b.messaging_holds.append((hold_id, person_id, iid, "crisis", from_epoch(at), actor))
        b.events.append(
            (
                iid,
                from_epoch(at),
                "note",
                None,
                "follow-up",
                "",
                "",
                "Crisis routing: automated marketing to this person stops until a clinician allows it.",
                json.dumps({"messaging_hold": hold_id, "held": True}),
            )
        )

    def _callback(self, b: Batch, iid: int, since: int, owner: int, zone: zoneinfo.ZoneInfo) -> None:
        """A call-back the owner planned for today: due later, or due already and posted."""
        rand = self.rng.random
        due = self.now + int((rand() * 9 - 3) * 3600)
        local_end = datetime.fromtimestamp(self.now, zone).replace(hour=23, minute=59, second=0)
        due = min(due, int(local_end.timestamp()))
        planned = max(since, due - 3 * 86400) + int(rand() * 600)
        if planned >= due or planned >= self.now:
            return
        followup_id = f"inquiry:{iid}:callback:{self.rng.getrandbits(64):016x}"
        posted = due <= self.now - 60
        b.followups.append(
            (
                iid,
                "callback",
                from_epoch(due),
                FollowUp.State.DONE if posted else FollowUp.State.SCHEDULED,
                followup_id,
                1 if posted else 0,
                None,
                from_epoch(planned),
                from_epoch(due + 5) if posted else None,
                "alert posted" if posted else "",
            )
        )
        when = datetime.fromtimestamp(due, zone)
        self._event(
            b,
            iid,
            planned,
            "note",
            owner,
            "",
            data=("callback", when.isoformat()),
            body=f"Call-back planned for {when:%b %-d, %-I:%M %p}.",
        )
        if posted:
            self._event(
                b, iid, due + 5, "note", None, "follow-up", data=("followup", "callback"),
                body=alert_text(kind="callback", minutes=0),
            )  # fmt: skip

    def finish(self) -> None:
        """Census after the run: occupied beds and slots cover the recent admissions, within
        capacity less the beds and slots held for scheduled admissions (as the services keep them)."""
        held = Counter(CapacityHold.objects.active(self.now_dt).values_list("program_id", flat=True))
        for programs in self.ref.programs.values():
            for program in programs:
                stay = LENGTH_OF_STAY_DAYS.get(program.setting, 30) * 86400
                recent = sum(1 for pid, at in self.admitted if pid == program.pk and at >= self.now - stay)
                census = Census.objects.filter(program=program).first()
                if census is None:
                    continue
                occupied = min(max(census.occupied, recent), max(program.capacity - held[program.pk], 0))
                if occupied != census.occupied:
                    Census.objects.filter(pk=census.pk).update(
                        occupied=occupied,
                        expected_discharges_7d=min(census.expected_discharges_7d, occupied),
                        updated_at=self.now_dt,
                    )

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
        lost: str,
        payer: Payer,
    ) -> None:
        """The primary policy the pre-screen recorded (the same payer and member id), with the VOB
        result of an inquiry that went through verification; now and then a secondary policy."""
        rand = self.rng.random
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
        b.policies.append(
            (
                iid,
                "primary",
                payer[0],
                payer[1],
                payer[3],
                payer[4],
                payer[6],
                None,
                payer[5],
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

    def _followups(self, b: Batch, iid: int, created: int, attempted: int | None) -> None:
        """The new-inquiry cadence as the dispatcher leaves it: what fell due has run (an alert note on
        the timeline), the alerts that fell due after the first attempt were cancelled by it, and the
        rest waits."""
        for kind, offset, key in NEW_INQUIRY_CADENCE:
            due = created + int(offset.total_seconds())
            row = (iid, kind, from_epoch(due))
            dedupe = f"inquiry:{iid}:{key}"
            if attempted is not None and kind in STOPS_AFTER_FIRST_ATTEMPT and due > attempted:
                b.followups.append(
                    (*row, FollowUp.State.CANCELLED, dedupe, 0, None, from_epoch(created),
                     from_epoch(attempted), f"moved to {S.CONTACT_ATTEMPTED}")
                )  # fmt: skip
            elif due <= self.now - 60:
                finished = min(due + 20, self.now - 30)
                b.followups.append(
                    (*row, FollowUp.State.DONE, dedupe, 1, None, from_epoch(created), from_epoch(finished),
                     "alert posted")
                )  # fmt: skip
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
                    (*row, FollowUp.State.SCHEDULED, dedupe, 0, None, from_epoch(created), None, "")
                )


def day_epoch(d: date) -> int:
    """Seconds from the epoch to midnight UTC of ``d``."""
    return (d.toordinal() - 719163) * 86400
