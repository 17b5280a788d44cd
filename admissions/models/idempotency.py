"""Lead API idempotency records: one response per key and source."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from admissions.models.attribution import LeadSourceKey
from admissions.models.inquiry import (
    Inquiry,
)


class IdempotencyRecord(models.Model):
    """One ``Idempotency-Key`` sent with an API key: claimed first, completed with the result.

    Stores a hash of the request body and the inquiry id, never the body. While
    ``response_status`` is null the request is still in flight.
    """

    # Indexed by the idempotency_unique_per_api_key constraint, which leads with it.
    api_key = models.ForeignKey(LeadSourceKey, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    inquiry = models.ForeignKey(Inquiry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    result = models.CharField(max_length=10, blank=True, help_text='"created" or "merged".')
    stage = models.CharField(max_length=20, blank=True, help_text="The stage the response showed.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_unique_per_api_key"),
        ]

    def __str__(self) -> str:
        return f"Idempotency key of API key {self.api_key_id}"
