"""Create an API key for a lead source and print it once: only its hash is stored."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from admissions.api.keys import lead_source_key_create
from admissions.models import LeadSource


class Command(BaseCommand):
    help = 'Create an API key for a lead source: create_lead_source_key "<source name>".'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="The lead source's exact name (or its numeric id).")
        parser.add_argument("--label", default="", help='What the key is for, e.g. "web form".')
        parser.add_argument("--days", type=int, default=365, help="Days until the key expires (default 365).")
        parser.add_argument(
            "--rate", type=int, default=120, help="Requests per minute before 429 (default 120)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ref: str = options["source"]
        source = LeadSource.objects.filter(name=ref).first()
        if source is None and ref.isdigit():
            source = LeadSource.objects.filter(pk=int(ref)).first()
        if source is None:
            raise CommandError(f"No lead source named {ref!r}. Create it in the admin first.")
        if not 1 <= options["days"] <= 3650:
            raise CommandError("--days must be between 1 and 3650.")
        if options["rate"] < 1:
            raise CommandError("--rate must be at least 1.")
        key, token = lead_source_key_create(
            lead_source=source,
            label=options["label"],
            valid_days=options["days"],
            rate_limit_per_minute=options["rate"],
        )
        self.stderr.write(
            f"Created API key {key.prefix} for {source.name!r}, expiring {key.expires_at:%Y-%m-%d}, "
            f"{key.rate_limit_per_minute} requests per minute.\n"
            "Copy the key now: it is shown once and only its hash is stored."
        )
        self.stdout.write(token)
