"""Export everything recorded about one person as JSON, as a named user, audited as an export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from admissions.export import EXPORT_PERMISSION, person_export, person_export_json
from admissions.models import Person
from crm.models import User


class Command(BaseCommand):
    help = "Write a JSON export of one person (needs a user holding admissions.export_person)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("person_id", type=int)
        parser.add_argument("--actor", required=True, help="Username of the staff member exporting.")
        parser.add_argument("--output", help="File to write (mode 0600); standard output if omitted.")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = User.objects.filter(username=options["actor"], is_active=True).first()
        if actor is None or not actor.has_perm(EXPORT_PERMISSION):
            raise CommandError(f"{options['actor']!r} is not an active user holding {EXPORT_PERMISSION}.")
        person = Person.objects.filter(pk=options["person_id"]).first()
        if person is None:
            raise CommandError("No such person.")
        try:
            body = person_export_json(person_export(person=person, actor=actor))
        except Http404:
            raise CommandError("No such person at the actor's facilities.") from None
        if options["output"]:
            path = Path(options["output"])
            path.touch(mode=0o600, exist_ok=False)
            path.write_text(body)
            self.stdout.write(f"Written to {path}.")
        else:
            self.stdout.write(body)
