"""``manage.py seed_demo``: fill the database with a synthetic demo center."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.models import Facility
from demo.seed import DemoDataError, demo_password_generate, seed_demo


class Command(BaseCommand):
    help = (
        "Seed a synthetic demo center: facilities in FL, NC and AZ, 37 programs across every "
        "setting, payers, lead sources, campaigns, referral partners, staff for every role "
        "(logins coordinator, clinician, vob, manager, marketing, admin) and N inquiries over "
        "the last 18 months. All data is synthetic (example.com emails, 555 numbers). "
        "Running it again on a demo database tops up: reference data is reused, N more "
        "inquiries are added and the demo logins get the (new) password. It refuses a "
        "database whose facilities are not the demo center's. With --if-empty it does nothing "
        "when any facility exists."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--inquiries", type=int, default=2000, help="inquiries to create (default 2000)")
        parser.add_argument(
            "--password",
            default="",
            help="password of every demo login (default: a random one, printed at the end)",
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="random seed; same seed, same data (default 1)"
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the database already has a facility",
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=25_000,
            help="inquiries written per transaction (default 25000)",
        )

    def _progress(self, line: str) -> None:
        self.stdout.write(f"  {time.monotonic() - self._started:7.1f} s  {line}")

    def handle(self, *args: Any, **options: Any) -> None:
        self._started = time.monotonic()
        if options["if_empty"] and Facility.objects.exists():
            self.stdout.write("seed_demo: the database already has facilities; nothing to do.")
            return
        if options["inquiries"] < 0 or options["chunk_size"] < 1:
            raise CommandError("--inquiries must be >= 0 and --chunk-size >= 1.")
        password = options["password"] or demo_password_generate()
        verbose = options["verbosity"] >= 1
        try:
            result = seed_demo(
                inquiries=options["inquiries"],
                password=password,
                seed=options["seed"],
                chunk_size=options["chunk_size"],
                progress=self._progress if verbose else None,
            )
        except DemoDataError as exc:
            raise CommandError(str(exc)) from exc
        what = "Topped up the demo center" if result.topped_up else "Seeded the demo center"
        self.stdout.write(self.style.SUCCESS(f"{what} in {result.seconds:.1f} s."))
        for label, count in result.counts.items():
            self.stdout.write(f"  {label:<20} {count:>10,}")
        self.stdout.write("")
        self.stdout.write(f"  {'username':<12} role")
        for username, role in result.logins:
            self.stdout.write(f"  {username:<12} {role}")
        self.stdout.write(f"  (and {result.extra_coordinators} more coordinators named coord.<city><n>)")
        self.stdout.write(f"  password: {result.password}")
