"""Per-key request rate: a fixed one-minute window counted in the cache (Redis)."""

from __future__ import annotations

import logging
import math
import time

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from admissions.models import LeadSourceKey

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60


class LeadSourceKeyRateThrottle(BaseThrottle):
    """Allow ``rate_limit_per_minute`` requests per key per clock minute, then 429 + Retry-After.

    A quota for fairness between vendors, not a security control. If the cache is
    down the request is let through (losing a lead is worse than a burst).
    """

    def __init__(self) -> None:
        self.retry_after = 0.0

    def allow_request(self, request: Request, view: APIView) -> bool:
        key = request.auth
        if not isinstance(key, LeadSourceKey):
            return True
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        counter = f"lead-api:rate:{key.prefix}:{window}"
        try:
            if cache.add(counter, 1, timeout=WINDOW_SECONDS + 5):
                count = 1
            else:
                try:
                    count = cache.incr(counter)
                except ValueError:  # expired between add and incr
                    cache.add(counter, 1, timeout=WINDOW_SECONDS + 5)
                    count = 1
        except Exception:  # noqa: BLE001 - any cache failure: fail open, loudly
            log.warning("rate limit cache unavailable; request let through", exc_info=True)
            return True
        if count <= key.rate_limit_per_minute:
            return True
        self.retry_after = (window + 1) * WINDOW_SECONDS - now
        return False

    def wait(self) -> float:
        return max(1, math.ceil(self.retry_after))
