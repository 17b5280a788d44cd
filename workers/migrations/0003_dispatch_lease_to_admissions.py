"""Dispatch leases belong to the follow-up state machine: the model is now ``admissions.DispatchLease``.

Leases are short-lived and the old table's are dropped, not copied: a row whose lease is lost
is claimed again and may be published twice, and its second task finds it started by the
first (``followups_start`` takes each row once, under its row lock), so nothing is sent twice.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("workers", "0002_followup_dispatch_lease"),
        ("admissions", "0020_dispatch_lease"),
    ]

    operations = [
        migrations.DeleteModel(name="DispatchLease"),
    ]
