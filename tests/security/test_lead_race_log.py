"""Concurrent leads for the same new person: one inquiry, the others merged into it, and not a
line in the PostgreSQL server's log. A refused insert logs its key (``Key (phone)=(+1...)
already exists``): PHI in the server log. The lead write never lets an insert be refused.

The race runs in a process of its own against a private PostgreSQL (``tests.workers.faultkit``)
whose log this test reads; the machine's own server is never touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers.faultkit import PrivatePostgres, PrivateRedis, manage, service_env

pytestmark = pytest.mark.faults

PEOPLE = 12  # new people per run
LEADS_PER_PERSON = 6  # leads sent at the same moment for each

RACE = """
import json, threading
from django.db import connection
from admissions.lead_write import lead_ingest
from admissions.leads import LeadData
from admissions.models import LeadSource
from crm.models import Facility

facility = Facility.objects.create(
    name="Race Test Center", neutral_sender_name="Race Health", street="1 Main St", city="Tampa",
    state="FL", postal_code="33602", time_zone="America/New_York", phone="+18135550100",
)
source = LeadSource.objects.create(name="Race web form", kind="website", default_facility=facility)
results = []
failures = []

def send(person, n, barrier):
    barrier.wait()
    try:
        # The same phone; every other lead also carries the same email.
        lead = LeadData(first_name=f"Race{person}", phone=f"(813) 555-{person:04d}",
                        email=f"race{person}@example.com" if n % 2 else "", external_id=f"r{person}-{n}")
        results.append(lead_ingest(lead=lead, source=source, actor_label="race").status)
    except Exception as exc:
        failures.append(repr(exc))
    finally:
        connection.close()

for person in range(PEOPLE):
    barrier = threading.Barrier(LEADS)
    threads = [threading.Thread(target=send, args=(person, n, barrier)) for n in range(LEADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
print(json.dumps({"results": sorted(results), "failures": failures}))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivatePostgres, dict[str, str]]]:
    pg, redis = PrivatePostgres(), PrivateRedis()
    pg.start()
    redis.start()
    try:
        env = service_env(pg=pg, redis=redis, sms=None, var=tmp_path_factory.mktemp("race"))
        manage(env, "migrate", "--skip-checks")
        yield pg, env
    finally:
        redis.kill()
        pg.stop()


def test_racing_leads_for_one_new_person_make_one_inquiry_and_log_nothing(server):  # type: ignore[no-untyped-def]
    pg, env = server
    log = Path(pg.folder) / "log"
    before = log.read_text(errors="replace")

    out = manage(env, "shell", "-c", f"PEOPLE, LEADS = {PEOPLE}, {LEADS_PER_PERSON}\n" + RACE)

    run = json.loads(out.strip().splitlines()[-1])
    assert run["failures"] == []
    assert run["results"] == sorted(["created"] * PEOPLE + ["merged"] * PEOPLE * (LEADS_PER_PERSON - 1))
    open_per_phone = pg.query(
        "SELECT phone, count(*) FROM admissions_inquiry GROUP BY phone HAVING count(*) > 1"
    )
    assert open_per_phone == []
    assert pg.query("SELECT count(*) FROM admissions_person") == [(PEOPLE,)]
    server_log = log.read_text(errors="replace")[len(before) :]
    assert "already exists" not in server_log
    assert "ERROR" not in server_log, server_log
    assert "555" not in server_log
