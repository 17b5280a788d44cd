"""Kernel models: staff users, facilities they work at, and the audit trail."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models

from crm.phones import PhoneNumberField
from crm.places import time_zone_known


def validate_time_zone(value: str) -> None:
    if not time_zone_known(value):
        raise ValidationError(f"{value!r} is not a known IANA time zone.")


class Facility(models.Model):
    name = models.CharField(max_length=120, unique=True)
    neutral_sender_name = models.CharField(
        max_length=60,
        help_text="Name used as the sender of texts and emails. Must not reveal treatment.",
    )
    street = models.CharField(max_length=200)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, help_text="Two-letter US state code.")
    postal_code = models.CharField(max_length=10)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    phone = PhoneNumberField()
    latitude = models.DecimalField(max_digits=8, decimal_places=5, null=True, blank=True)
    longitude = models.DecimalField(max_digits=8, decimal_places=5, null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "facilities"

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A staff member. Which facilities' records they see is ``facilities``."""

    facilities = models.ManyToManyField(Facility, blank=True, related_name="staff")
    is_on_duty = models.BooleanField(
        default=False, help_text="Coordinators on duty take new leads round robin."
    )
    last_lead_assigned_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class AuditEvent(models.Model):
    """One read or write of a record, or one list of records shown. Append-only and hash-chained
    in the database (``crm.audit_guard``)."""

    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        CREATE = "create", "Created"
        UPDATE = "update", "Changed"
        EXPORT = "export", "Exported"
        API_READ = "api_read", "Read through the API"
        API_WRITE = "api_write", "Written through the API"
        DISCLOSE = "disclose", "Disclosed"
        LIST = "list", "Listed"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    actor_label = models.CharField(
        max_length=150, blank=True, help_text="API key or process name when there is no user."
    )
    action = models.CharField(max_length=12, choices=Action.choices)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=40)
    fields = models.JSONField(default=list, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # A list page (action "list"): the ids of the ``object_type`` records it showed; NULL otherwise
    # (nullable, so the hash chain of rows written before it still verifies).
    listed = ArrayField(models.BigIntegerField(), null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        permissions = [("export_records", "Can export records and reports")]
        indexes = [
            models.Index(fields=["object_type", "object_id", "at"], name="audit_object_idx"),
            models.Index(fields=["actor", "at"], name="audit_actor_idx"),
            GinIndex(fields=["listed"], name="audit_listed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.object_type}:{self.object_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValidationError("Audit events cannot be changed.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValidationError("Audit events cannot be deleted.")


class AuditChainLink(models.Model):
    """One link of the audit hash chain: a row of an audit or ledger table, at its position.

    Written only by the database's commit-time trigger (``crm.audit_guard``); append-only."""

    seq = models.BigIntegerField(primary_key=True)
    table_name = models.CharField(max_length=63)
    row_id = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["table_name", "row_id"], name="audit_chain_one_link_per_row")
        ]

    def __str__(self) -> str:
        return f"{self.seq}: {self.table_name} {self.row_id}"


class AuditChainHead(models.Model):
    """The end of the audit hash chain (one row): its last position and hash. Written only by the
    database's chain trigger; the application may read it."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"
