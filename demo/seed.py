"""A synthetic demo center: facilities, programs, staff, attribution and inquiries.

Development and benchmark tooling, never production code. Reference data (facilities,
programs, payers, lead sources, staff) goes through the ORM and is idempotent by natural
key, so a second run tops up (``demo.reference``). Inquiries and the rows that hang off them
are generated in chunks with primary keys allocated here, so children reference parents
without round trips (``demo.inquiries``), and written with COPY (``demo.bulk``). Every name,
email (example.com / example.org), phone number (555) and IP address (192.0.2.0/24) is
synthetic. Nothing here logs personal data.
"""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from crm.models import Facility
from demo.bulk import Progress
from demo.catalogue import DEMO_LOGINS, FACILITIES
from demo.inquiries import InquiryGenerator
from demo.reference import reference_data

# --- the result -------------------------------------------------------------------------


@dataclass
class SeedResult:
    """What a run wrote (counts only) and the demo logins it set the password on."""

    password: str
    logins: list[tuple[str, str]]
    extra_coordinators: int
    counts: Counter[str]
    seconds: float
    topped_up: bool


class DemoDataError(Exception):
    """The database is not one the demo seeder may write to."""


def demo_password_generate() -> str:
    """A random password good enough for a demo login."""
    return "demo-" + secrets.token_urlsafe(12)


def seed_demo(
    *,
    inquiries: int,
    password: str,
    seed: int = 1,
    chunk_size: int = 25_000,
    now: datetime | None = None,
    bulk_threshold: int = 50_000,
    progress: Progress | None = None,
) -> SeedResult:
    """Create (or top up) the demo center and ``inquiries`` synthetic inquiries."""
    started = time.monotonic()
    now = (now or timezone.now()).replace(microsecond=0)
    demo_names = [spec.name for spec in FACILITIES]
    existing = set(Facility.objects.values_list("name", flat=True))
    if existing and not existing & set(demo_names):
        raise DemoDataError(
            "The database holds facilities that are not the demo center's; refusing to mix "
            "synthetic data into it."
        )
    topped_up = bool(existing)
    rng = random.Random(f"reference:{seed}")  # noqa: S311 - synthetic data, not security
    with transaction.atomic():
        reference = reference_data(rng=rng, password=password, now=now)
    if progress:
        progress("facilities, programs, payers, sources and staff ready")
    counts: Counter[str] = Counter()
    if inquiries > 0:
        generator = InquiryGenerator(reference=reference, seed=seed, now=now)
        bulk = inquiries >= bulk_threshold
        counts = generator.run(total=inquiries, chunk_size=chunk_size, bulk=bulk, progress=progress)
    return SeedResult(
        password=password,
        logins=[(username, role.value) for username, _f, _l, role, _d in DEMO_LOGINS],
        extra_coordinators=len(reference.extra_coordinators),
        counts=counts,
        seconds=time.monotonic() - started,
        topped_up=topped_up,
    )
