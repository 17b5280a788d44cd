"""Seed due texts into the database named by DATABASE_URL (run as a subprocess by the fault tests).

Usage: python -m tests.workers.fault_seed RUN COUNT BASE -> prints the follow-ups' dedupe keys.
"""
# ruff: noqa: T201

from __future__ import annotations

import os
import sys
from datetime import timedelta


def main(run: str, count: int, base: int, mixed: bool = False) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from admissions.messaging.models import SendingRule
    from admissions.models import ContactConsent, FollowUp, Inquiry, Person
    from crm.models import Facility

    now = timezone.now()
    with transaction.atomic():
        # These runs test delivery under faults at any hour: the sending rules stand aside, as the
        # product default does (MESSAGING_QUIET_HOURS_DEFAULT in faultkit.service_env).
        SendingRule.objects.update(is_active=False)
        facility, _ = Facility.objects.get_or_create(
            name="Fault Test Facility",
            defaults={
                "neutral_sender_name": "Harbor Health",
                "street": "1 Main St",
                "city": "Albany",
                "state": "NY",
                "postal_code": "12207",
                "time_zone": "America/New_York",
                "phone": "+15185550100",
            },
        )
        people = Person.objects.bulk_create(
            Person(
                first_name="Fault",
                last_name=f"{run}-{n}",
                phone=f"+1212{(base + n) % 10**7:07d}",
                email=f"fault-{run}-{n}@example.com",
                state="NY",
                time_zone="America/New_York",
                ok_to_text=True,
            )
            for n in range(count)
        )
        ContactConsent.objects.bulk_create(
            ContactConsent(
                person=p,
                medium=medium,
                address=str(p.phone) if medium == "sms" else p.email,
                source="web form",
                consent_text="I agree to texts and emails.",
                captured_at=now,
            )
            for p in people
            for medium in ("sms", "email")
        )
        inquiries = Inquiry.objects.bulk_create(
            Inquiry(
                person=p,
                facility=facility,
                channel="web_form",
                phone=p.phone,
                created_at=now,
                stage_changed_at=now,
            )
            for p in people
        )
        followups = FollowUp.objects.bulk_create(
            FollowUp(
                inquiry=i,
                kind="acknowledgement",
                channel="email" if mixed and n % 2 else "sms",
                template_code="ack-email" if mixed and n % 2 else "ack-sms",
                due_at=now - timedelta(seconds=1),
                dedupe_key=f"fault:{run}:{n}",
                created_at=now,
            )
            for n, i in enumerate(inquiries)
        )
    print("\n".join(f.dedupe_key for f in followups))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), mixed=sys.argv[4:] == ["mixed"])
