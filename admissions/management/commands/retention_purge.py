"""Remove the PHI of inquiries that closed without an admission longer ago than the retention period.

Policy and what is kept: docs/security.md ("Retention"). Audit rows are never touched (they are
append-only by database trigger and hold ids and field names, not values). Prints counts only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from admissions.models import (
    Caller,
    ContactConsent,
    FollowUp,
    InboundMessage,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    OutboundMessage,
    Person,
    Screening,
    Touch,
)
from admissions.pipeline import Stage

# Closed without an admission. Admitted records are the treatment record: never purged here.
PURGEABLE_STAGES = (Stage.CLOSED, Stage.REFERRED_OUT, Stage.DUPLICATE, Stage.INVALID, Stage.CRISIS_ROUTED)
BATCH = 200


def purgeable(cutoff: Any) -> QuerySet[Inquiry]:
    """Closed, never admitted, unchanged since before ``cutoff``, not yet purged."""
    not_purged = ~Q(message="", phone="", email="", caller__isnull=True) | Exists(
        InquiryEvent.objects.filter(inquiry_id=OuterRef("pk"))
    )
    return Inquiry.objects.filter(
        not_purged,
        stage__in=PURGEABLE_STAGES,
        admitted_at__isnull=True,
        stage_changed_at__lt=cutoff,
    )


def _person_is_purgeable(person_id: int, cutoff: Any) -> bool:
    """No inquiry of the person is open, admitted or inside the retention period."""
    keep = Inquiry.objects.filter(person_id=person_id).filter(
        ~Q(stage__in=PURGEABLE_STAGES) | Q(admitted_at__isnull=False) | Q(stage_changed_at__gte=cutoff)
    )
    return not keep.exists() and not _has_part2_records(person_id)


def _has_part2_records(person_id: int) -> bool:
    """Part 2 consents and the disclosure ledger name the patient and must stay readable."""
    person = Person.objects.get(pk=person_id)
    for name in ("part2_consents", "disclosures"):
        manager = getattr(person, name, None)
        if manager is not None and manager.exists():
            return True
    return False


def inquiry_purge(inquiry: Inquiry) -> None:
    """Delete the inquiry's PHI rows and blank its free text and contact points; keep the bare row."""
    Screening.objects.filter(inquiry=inquiry).delete()
    InsurancePolicy.objects.filter(inquiry=inquiry).delete()
    Touch.objects.filter(inquiry=inquiry).delete()
    FollowUp.objects.filter(inquiry=inquiry).delete()
    OutboundMessage.objects.filter(inquiry=inquiry).delete()
    InboundMessage.objects.filter(inquiry=inquiry).delete()
    InquiryEvent.objects.filter(inquiry=inquiry).delete()
    inquiry.substances.clear()
    caller_id = inquiry.caller_id
    Inquiry.objects.filter(pk=inquiry.pk).update(
        message="", phone="", email="", external_id="", close_note="", caller=None
    )
    if caller_id and not Inquiry.objects.filter(caller_id=caller_id).exists():
        Caller.objects.filter(pk=caller_id).delete()


def person_anonymise(person_id: int) -> None:
    ContactConsent.objects.filter(person_id=person_id).delete()
    OutboundMessage.objects.filter(person_id=person_id).delete()
    InboundMessage.objects.filter(person_id=person_id).delete()
    Person.objects.filter(pk=person_id).update(
        first_name="Removed",
        last_name="",
        date_of_birth=None,
        gender="",
        phone="",
        email="",
        street="",
        city="",
        state="",
        postal_code="",
        ok_to_voicemail=None,
        ok_to_text=None,
    )


class Command(BaseCommand):
    help = "Remove the PHI of inquiries closed without an admission before the retention period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than-days", type=int, required=True, help="Retention period in days.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be removed, change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than_days"]
        if days < 1:
            raise CommandError("--older-than-days must be at least 1.")
        cutoff = timezone.now() - timedelta(days=days)
        ids = list(purgeable(cutoff).order_by("pk").values_list("pk", "person_id"))
        people = sorted({person_id for _, person_id in ids if _person_is_purgeable(person_id, cutoff)})
        if options["dry_run"]:
            self.stdout.write(f"{len(ids)} inquiry(ies) and {len(people)} person(s) would be purged.")
            return
        for start in range(0, len(ids), BATCH):
            with transaction.atomic():
                for inquiry in Inquiry.objects.filter(pk__in=[pk for pk, _ in ids[start : start + BATCH]]):
                    inquiry_purge(inquiry)
        for person_id in people:
            with transaction.atomic():
                person_anonymise(person_id)
        self.stdout.write(self.style.SUCCESS(f"{len(ids)} inquiry(ies) and {len(people)} person(s) purged."))
