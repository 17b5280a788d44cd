"""No personal or clinical value in any log line, Redis key, Redis value or broker message.

One inquiry goes from the lead API to admission the way production runs it: a marketing key posts
the lead, a coordinator opens the inquiry and logs the call, the pre-screen is saved through its
API, insurance is saved, a clinician signs the level off, the coordinator approves, holds a bed,
schedules and admits, and the worker code path delivers the lead's follow-ups (the dispatcher
publishes to the real broker; the published message is then run as the worker would run it).
Every value the person gave carries a planted marker. Meanwhile every log record (root logger at
DEBUG), everything written to stdout and stderr, and every Redis command on the suite's Redis
database (Redis MONITOR, so keys and values written and deleted again are seen too) is recorded;
at the end the database's remaining keys and values are read as well. No marker may appear.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from admissions.api.keys import lead_source_key_create
from admissions.models import FollowUp, Inquiry
from admissions.pipeline import Stage
from programs.models import Census
from tests.factories import LeadSourceFactory, LevelRef, PayerFactory, ProgramFactory
from tests.screening.builders import all_clear
from tests.signin import login_verified
from workers import tasks

pytestmark = pytest.mark.django_db(transaction=True)

# Unique strings planted in everything the person tells us. None may leave the database.
MARK = {
    "first_name": "Zorvexa",
    "last_name": "Quillbury",
    "email_local": "zqv.mailbox7731",
    "phone": "+17275550163",
    "member_id": "ZQM48213977",
    "message": "zqvmessage call after five",
    "why_now": "zqvwhynow lost the job",
    "diagnoses": "zqvdiagnosis anxiety",
    "medications": "zqvmedication sertraline",
    "call_note": "zqvcallnote spoke with mother",
    "caller_name": "Mirelda Quillbury",
    "signoff_note": "zqvsignoff agree",
}
PHONE_FORMS = ("+17275550163", "7275550163", "727-555-0163", "(727) 555-0163", "555-0163", "5550163")
CONSENT_TEXT = "I agree to receive calls, texts and emails about treatment options. Reply STOP to opt out."


def markers() -> list[str]:
    values = [v for k, v in MARK.items() if k != "phone"]
    words = {w for v in values for w in v.split() if w.startswith(("zqv", "Zorvexa", "Quillbury"))}
    return sorted({*values, *words, *PHONE_FORMS, "Zorvexa", "Quillbury", "ZQM48213977", "Mirelda"})


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    return [m for m in markers() if m.lower() in lowered]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        # the formatted line, its traceback, and the raw arguments (a handler elsewhere could print them)
        self.lines.append(self.format(record) + " " + repr(record.args) + " " + repr(record.__dict__))


@pytest.fixture
def all_logs() -> Iterator[Records]:
    """Every log record at every level, as an operator gets it with LOG_LEVEL=DEBUG.

    The root logger and every logger goes to DEBUG, except the ones the LOGGING setting pins
    higher on purpose (they would print PHI at DEBUG: see crm/settings.py).
    """
    handler = Records()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in ("", *logging.root.manager.loggerDict)}
    pinned = set(settings.LOGGING.get("loggers", {}))
    root.addHandler(handler)
    for name in saved:
        if name not in pinned:
            logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


class RedisMonitor:
    """Every command sent to our Redis database while the flow runs, through MONITOR."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.db = int(self.client.connection_pool.connection_kwargs.get("db", 0))
        self.commands: list[str] = []
        self.stop_word = f"log-scan-stop-{uuid.uuid4().hex}"
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self.ready.set()
            for command in monitor.listen():
                text = str(command.get("command", ""))
                if self.stop_word in text:
                    return
                if int(command.get("db", -1)) == self.db:
                    self.commands.append(text)

    def __enter__(self) -> RedisMonitor:
        self.thread.start()
        assert self.ready.wait(10), "Redis MONITOR did not start"
        self.client.echo("log-scan-start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.echo(self.stop_word)
        self.thread.join(10)

    def dump(self) -> list[str]:
        """Every key left in the database with its value, whatever the type."""
        out = []
        for key in self.client.scan_iter(count=1000):
            kind = self.client.type(key).decode()
            if kind == "string":
                value: object = self.client.get(key)
            elif kind == "list":
                value = self.client.lrange(key, 0, -1)
            elif kind == "hash":
                value = self.client.hgetall(key)
            elif kind == "set":
                value = self.client.smembers(key)
            elif kind == "zset":
                value = self.client.zrange(key, 0, -1, withscores=True)
            else:
                value = kind
            out.append(f"{key!r} {value!r}")
        return out


BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")


def decoded(entry: str) -> str:
    """The entry, plus every base64 token in it decoded (broker messages carry base64 bodies)."""
    text = entry
    for token in BASE64_TOKEN.findall(entry):
        try:
            text += " " + base64.b64decode(token + "=" * (-len(token) % 4)).decode("utf-8", "replace")
        except ValueError:
            continue
    return text


def act(client: Client, inquiry_id: int, name: str, data: dict[str, object]) -> None:
    response = client.post(reverse("admissions:inquiry-act", args=[inquiry_id, name]), data)
    assert response.status_code == 302, (name, response.status_code, _errors(response))


def _errors(response) -> object:  # type: ignore[no-untyped-def]
    actions = (response.context or {}).get("actions") or []
    return {name: form.errors for name, _title, form in actions if form.errors}


def test_intake_to_admission_leaves_no_marker_in_logs_or_redis(
    facility,
    coordinator,
    clinician,
    coordinator_client,
    all_logs,
    capfd,
    settings,
):  # type: ignore[no-untyped-def]
    settings.MESSAGING_QUIET_HOURS_DEFAULT = "00:00-23:59:59.999999"  # sending allowed whenever CI runs
    settings.MESSAGING_STATE_RULES = {}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    source = LeadSourceFactory(name="Sunrise Web Forms", default_facility=facility)
    _key, token = lead_source_key_create(lead_source=source, label="log scan", rate_limit_per_minute=10_000)
    payer = PayerFactory(name="Aetna")
    program = ProgramFactory(facility=facility, name="Tampa Residential", capacity=4)
    clinician_client = Client()
    login_verified(clinician_client, clinician)

    with RedisMonitor(settings.REDIS_URL) as monitor:
        # 1. the lead API, with a marketing key
        lead = {
            "first_name": MARK["first_name"],
            "last_name": MARK["last_name"],
            "phone": MARK["phone"],
            "email": f"{MARK['email_local']}@example.org",
            "date_of_birth": "1990-04-12",
            "postal_code": "33602",
            "state": "FL",
            "caller_relationship": "self",
            "message": MARK["message"],
            "insurance": {"payer": "Aetna", "member_id": MARK["member_id"]},
            "consent": {
                "sms": True,
                "email": True,
                "call": True,
                "text": CONSENT_TEXT,
                "captured_at": timezone.now().isoformat(),
                "ip": "203.0.113.24",
                "page_url": "https://www.example.org/get-help",
            },
        }
        response = Client().post(
            "/api/v1/leads/",
            data=json.dumps(lead),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        assert response.status_code == 201, response.content
        inquiry = Inquiry.objects.get(person__email__iexact=lead["email"])
        assert not leaks(response.content.decode()), "the lead API echoes what it was sent"

        # 2. the worker path: the dispatcher plans the lead's follow-ups and publishes the due ones
        # to the broker; each published message is then run as a worker runs it
        tasks.followups_dispatch()
        FollowUp.objects.filter(inquiry=inquiry).update(due_at=timezone.now() - timedelta(minutes=1))
        tasks.followups_dispatch()
        for ids in _published_runs(monitor.client, inquiry):
            tasks.followups_run(ids)
        assert FollowUp.objects.filter(inquiry=inquiry, state=FollowUp.State.DONE).exists()

        # 3. the coordinator opens the inquiry and logs the call
        assert coordinator_client.get(reverse("admissions:inquiry", args=[inquiry.pk])).status_code == 200
        act(
            coordinator_client,
            inquiry.pk,
            "call",
            {"direction": "outbound", "outcome": "connected", "note": MARK["call_note"]},
        )

        # 4. the pre-screen, through its API, with free text in several answers
        answers = all_clear()
        answers["readiness"] = {"why_now": MARK["why_now"]}
        answers["psychiatric"] = {**answers["psychiatric"], "history": True, "diagnoses": MARK["diagnoses"]}
        answers["psychiatric"]["medications"] = MARK["medications"]
        answers["insurance"] = {"member_id": MARK["member_id"], "subscriber_name": MARK["caller_name"]}
        response = coordinator_client.post(
            f"/api/v1/inquiries/{inquiry.pk}/screening/",
            data=json.dumps({"answers": answers}),
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        provisional = response.json()["provisional_level"]
        assert coordinator_client.get(reverse("screening_ui:screening", args=[inquiry.pk])).status_code == 200

        # 5. insurance, VOB requested
        act(
            coordinator_client,
            inquiry.pk,
            "insurance",
            {"payer": payer.pk, "member_id": MARK["member_id"], "vob_status": "requested"},
        )

        # 6. a clinician signs the level off; the coordinator approves, holds, schedules and admits
        level = LevelRef.get(provisional["code"]) if provisional else LevelRef.get("1")
        response = clinician_client.post(
            f"/api/v1/inquiries/{inquiry.pk}/screening/signoff/",
            data=json.dumps({"level": level.pk, "note": MARK["signoff_note"]}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        program.level_of_care = level
        program.save()
        # the VOB comes back viable: that approves the signed-off inquiry
        act(
            coordinator_client,
            inquiry.pk,
            "insurance",
            {"payer": payer.pk, "member_id": MARK["member_id"], "vob_status": "viable"},
        )
        inquiry.refresh_from_db()
        if inquiry.stage != Stage.APPROVED:
            act(coordinator_client, inquiry.pk, "stage", {"to": Stage.APPROVED, "reason": ""})
        until = (timezone.localtime() + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M")
        act(coordinator_client, inquiry.pk, "hold", {"program": program.pk, "until": until})
        today = timezone.localdate().isoformat()
        act(coordinator_client, inquiry.pk, "schedule", {"program": program.pk, "admission_date": today})
        act(coordinator_client, inquiry.pk, "admit", {"program": program.pk})
        inquiry.refresh_from_db()
        assert inquiry.stage == Stage.ADMITTED
        assert Census.objects.get(program=program).occupied == 1

    captured = capfd.readouterr()
    redis_seen = [decoded(c) for c in monitor.commands]
    redis_left = [decoded(e) for e in monitor.dump()]
    assert redis_seen, "MONITOR saw no command: the broker or cache is not this Redis"

    problems = []
    for where, lines in (
        ("log record", all_logs.lines),
        ("stdout", captured.out.splitlines()),
        ("stderr", captured.err.splitlines()),
        ("Redis command", redis_seen),
        ("Redis key or value", redis_left),
    ):
        for line in lines:
            found = leaks(line)
            if found:
                problems.append(f"{where}: {found}: {line[:400]}")
    assert not problems, "planted values leaked:\n" + "\n".join(problems)
    # The flow really did log, publish and touch Redis: an empty capture would prove nothing.
    assert any("workers.tasks.followups_run" in c for c in redis_seen), "no task was published"
    assert all_logs.lines, "nothing was logged"


def _published_runs(client: redis.Redis, inquiry: Inquiry) -> list[list[int]]:
    """The follow-up batches the dispatcher put on the broker for this inquiry, taken off the queue.

    Each message must carry follow-up ids and nothing else.
    """
    mine = set(FollowUp.objects.filter(inquiry=inquiry).values_list("pk", flat=True))
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    batches = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        if message.get("headers", {}).get("task") != "workers.tasks.followups_run":
            continue
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        assert kwargs == {}, kwargs
        assert len(args) == 1, args
        assert all(isinstance(i, int) for i in args[0]), args
        if set(args[0]) <= mine:
            batches.append(args[0])
            client.lrem(queue, 1, raw)
    assert batches, "the dispatcher published nothing for this inquiry"
    return batches
