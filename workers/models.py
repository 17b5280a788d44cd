"""Liveness of the background processes, written by the heartbeat task."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """Last time beat scheduled, and a worker ran, the heartbeat task."""

    name = models.CharField(max_length=60, unique=True)
    beat_at = models.DateTimeField()
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%H:%M:%S}"
