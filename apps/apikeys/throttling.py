"""Per-key rate limit as a DRF throttle (runs after authentication and scope checks)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.apikeys.models import ApiKey
from apps.apikeys.ratelimit import RateLimiterUnavailable, rate_limit_take
from config.api_errors import ServiceUnavailable


class KeyRateLimited(exceptions.Throttled):
    def __init__(self, wait: int) -> None:
        super().__init__(wait=wait, detail=f"Rate limit exceeded; retry in {wait} s.")
        self.error_code = "rate_limited"


class ApiKeyRateThrottle(BaseThrottle):
    def allow_request(self, request: Request, view: object) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        try:
            decision = rate_limit_take(
                bucket=f"key:{api_key.key_id}",
                rate_per_second=api_key.rate_per_second,
                burst=api_key.burst,
            )
        except RateLimiterUnavailable:
            # Fail closed: without the limiter we cannot prove the key is within its rate.
            raise ServiceUnavailable() from None
        if not decision.allowed:
            raise KeyRateLimited(decision.retry_after_seconds)
        return True
