"""Per-key token bucket in Redis, atomic across every process (one Lua script per request).

The bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second. Time comes
from the Redis server (``TIME``), so web processes with skewed clocks still share one bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings
from redis.commands.core import Script

# KEYS[1] = bucket key; ARGV = rate (tokens/s), burst (capacity), cost.
# Returns {allowed (0/1), tokens left * 1000, retry-after in ms}.
_BUCKET_SCRIPT_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry_ms = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry_ms = math.ceil((cost - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, math.floor(tokens * 1000), retry_ms}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    tokens_left: float
    retry_after_seconds: int


class RateLimiterUnavailable(Exception):
    """Redis could not be consulted: callers on the trading path must fail closed."""


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)


def shared_client() -> redis.Redis:
    """A pooled client for the current REDIS_URL, with short timeouts (trading path)."""
    return _client(settings.REDIS_URL)


@lru_cache(maxsize=4)
def _script(url: str) -> Script:
    return _client(url).register_script(_BUCKET_SCRIPT_LUA)


def rate_limit_take(
    *, bucket: str, rate_per_second: float, burst: int, cost: int = 1
) -> RateDecision:
    """Take ``cost`` tokens from ``bucket`` if available. Raises RateLimiterUnavailable."""
    url = settings.REDIS_URL
    try:
        allowed, tokens_milli, retry_ms = _script(url)(
            keys=[f"rl:{bucket}"], args=[rate_per_second, burst, cost]
        )
    except redis.RedisError as exc:
        raise RateLimiterUnavailable(str(exc)) from exc
    return RateDecision(
        allowed=bool(allowed),
        tokens_left=tokens_milli / 1000,
        retry_after_seconds=max(1, math.ceil(retry_ms / 1000)) if not allowed else 0,
    )
