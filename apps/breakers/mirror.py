"""The Redis mirror of breaker states: one hash, read with one HMGET on the trading path.

PostgreSQL is the truth; this mirror only makes the check fast. Layout:

``bw:breakers:mirror`` (hash)
    ``_gen``              ``<redis run_id>|<built at ms>``: present once the mirror was built
                          from PostgreSQL on *this* Redis server run. Missing, or naming another
                          run (Redis restarted and reloaded an old snapshot), means "mirror
                          unknown": readers go to PostgreSQL and rebuild, never read it as "no
                          breakers".
    ``<scope>:<target>``  ``<version>|<written at ms>|<state>|<breaker id>|<reason>``.

Write rules (see docs/breakers.md), which together mean no reader ever sees a state less
restrictive than the last committed one:

* a change that restricts more is written *before* the PostgreSQL commit (and undone if the
  transaction fails), and written again after commit;
* a change that relaxes is written right *after* commit;
* every write is conditional on the version (a Lua script): a value never replaces one with a
  higher version, so a late after-commit write cannot undo a newer trip;
* the periodic resync (``mirror_rebuild``) rewrites every breaker from PostgreSQL; it replaces a
  higher-versioned value only when that value is older than ``IN_FLIGHT_MS`` (a write whose
  transaction rolled back without its undo, e.g. a killed process), and removes fields of
  breakers that do not exist under the same rule.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = [
    "GEN_FIELD",
    "IN_FLIGHT_MS",
    "MIRROR_KEY",
    "MirrorUnavailable",
    "MirrorValue",
    "mirror_client",
    "mirror_read",
    "mirror_rebuild",
    "mirror_undo",
    "mirror_write",
]

MIRROR_KEY = "bw:breakers:mirror"
GEN_FIELD = "_gen"
# A mirror value newer than this may belong to a transaction still in flight: the resync leaves
# it alone. Breaker transactions take milliseconds; an older higher-versioned value is a
# leftover of a rolled-back change.
IN_FLIGHT_MS = 30_000
# After a failed round trip the process skips Redis for this long and reads PostgreSQL, so a
# dead Redis costs one timeout, not one per order.
REDIS_BACKOFF_SECONDS = 1.0
REASON_MAX = 200


class MirrorUnavailable(Exception):
    """Redis could not be used (down, timed out, or skipped during the backoff)."""


@dataclass(frozen=True, slots=True)
class MirrorValue:
    version: int
    written_ms: int
    state: str
    breaker_id: int
    reason: str

    def encode(self) -> str:
        reason = self.reason.replace("\n", " ")[:REASON_MAX]
        return f"{self.version}|{self.written_ms}|{self.state}|{self.breaker_id}|{reason}"

    @classmethod
    def decode(cls, raw: bytes | str) -> MirrorValue:
        text = raw.decode() if isinstance(raw, bytes) else raw
        version, written, state, breaker_id, reason = text.split("|", 4)
        return cls(int(version), int(written), state, int(breaker_id), reason)


# --- client -----------------------------------------------------------------------------------

_state = threading.local()
_run_ids: dict[str, str] = {}  # Redis URL -> run_id seen on the latest (re)connection
_down_until: dict[str, float] = {}


def _mirror_url() -> str:
    return getattr(settings, "BREAKERS_REDIS_URL", None) or settings.REDIS_URL


def _on_connect(url: str):
    def hook(connection: redis.connection.AbstractConnection) -> None:
        connection.on_connect()
        # Learn the server's run_id on every (re)connection: a Redis that restarted (and maybe
        # reloaded an old snapshot) has a new one, and the mirror built on the old run is void.
        connection.send_command("INFO", "server")
        info = connection.read_response()
        text = info.decode() if isinstance(info, bytes) else str(info)
        for line in text.splitlines():
            if line.startswith("run_id:"):
                _run_ids[url] = line.split(":", 1)[1].strip()
                break

    return hook


@functools.lru_cache(maxsize=8)
def _client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),  # redis-py's default retries for seconds; we fail over
        redis_connect_func=_on_connect(url),
    )


def mirror_client() -> redis.Redis:
    """The mirror's Redis client: short timeouts, no retries (the caller falls back to SQL)."""
    timeout = float(getattr(settings, "BREAKERS_REDIS_TIMEOUT_SECONDS", 0.25))
    return _client(_mirror_url(), timeout)


def _guard(url: str) -> None:
    if time.monotonic() < _down_until.get(url, 0.0):
        raise MirrorUnavailable("Redis failed moments ago; skipping it during the backoff")


def _failed(url: str, exc: Exception) -> MirrorUnavailable:
    _down_until[url] = time.monotonic() + REDIS_BACKOFF_SECONDS
    return MirrorUnavailable(f"{type(exc).__name__}: {exc}")


def mirror_forget_backoff() -> None:
    """Try Redis again at once (tests, and after an operator fixed Redis)."""
    _down_until.clear()


def now_ms() -> int:
    return int(time.time() * 1000)


# --- scripts ----------------------------------------------------------------------------------

# Set a field unless it holds a higher version; returns {applied, previous value or ""}.
_WRITE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v > tonumber(ARGV[3]) then return {0, cur} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1, cur or ''}
"""

# Undo our own write (only if the field still holds it): restore the previous value or delete.
_UNDO = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
  else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
  return 1
end
return 0
"""

# Rebuild from PostgreSQL rows (field, value, version triples after now, max age, generation).
_REBUILD = """
local now = tonumber(ARGV[1])
local max_age = tonumber(ARGV[2])
local given = {}
for i = 4, #ARGV, 3 do
  local f, val, ver = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  given[f] = true
  local write = true
  local cur = redis.call('HGET', KEYS[1], f)
  if cur then
    local cv, cts = string.match(cur, '^(%d+)|(%d+)|')
    cv = tonumber(cv)
    cts = tonumber(cts)
    if cv and cts and cv > ver and now - cts < max_age then write = false end
  end
  if write then redis.call('HSET', KEYS[1], f, val) end
end
local removed = 0
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if f ~= '_gen' and not given[f] then
    local cur = redis.call('HGET', KEYS[1], f)
    local cts = tonumber(string.match(cur, '^%d+|(%d+)|'))
    if not cts or now - cts >= max_age then
      redis.call('HDEL', KEYS[1], f)
      removed = removed + 1
    end
  end
end
redis.call('HSET', KEYS[1], '_gen', ARGV[3])
return removed
"""


@functools.lru_cache(maxsize=8)
def _scripts(client: redis.Redis) -> tuple:
    return (
        client.register_script(_WRITE),
        client.register_script(_UNDO),
        client.register_script(_REBUILD),
    )


# --- operations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteReceipt:
    """What a write did, so a failed transaction can undo exactly its own write."""

    field: str
    written: str
    previous: str  # "" when the field did not exist
    applied: bool


def mirror_write(*, field: str, value: MirrorValue) -> WriteReceipt:
    """Write one breaker's state unless the mirror already holds a higher version."""
    url = _mirror_url()
    _guard(url)
    client = mirror_client()
    encoded = value.encode()
    try:
        applied, previous = _scripts(client)[0](
            keys=[MIRROR_KEY], args=[field, encoded, value.version]
        )
    except redis.RedisError as exc:
        raise _failed(url, exc) from exc
    prev = previous.decode() if isinstance(previous, bytes) else str(previous or "")
    return WriteReceipt(field=field, written=encoded, previous=prev, applied=bool(applied))


def mirror_undo(receipt: WriteReceipt) -> bool:
    """Put back what was there before ``receipt``'s write, if nothing replaced it since."""
    if not receipt.applied:
        return False
    client = mirror_client()
    try:
        return bool(
            _scripts(client)[1](
                keys=[MIRROR_KEY], args=[receipt.field, receipt.written, receipt.previous]
            )
        )
    except redis.RedisError as exc:
        raise _failed(_mirror_url(), exc) from exc


def mirror_read(fields: list[str]) -> list[MirrorValue | None] | None:
    """The mirror values of ``fields`` in one round trip; None when the mirror is unknown
    (never built on this Redis run): the caller must ask PostgreSQL. Raises MirrorUnavailable."""
    url = _mirror_url()
    _guard(url)
    try:
        raw = mirror_client().hmget(MIRROR_KEY, [GEN_FIELD, *fields])
    except redis.RedisError as exc:
        raise _failed(url, exc) from exc
    gen = raw[0]
    if gen is None:
        return None
    run_id = gen.split(b"|", 1)[0].decode()
    if run_id != _run_ids.get(url):
        return None
    return [MirrorValue.decode(v) if v is not None else None for v in raw[1:]]


def mirror_rebuild(rows: Iterable[tuple[str, MirrorValue]]) -> int:
    """Rewrite the mirror from PostgreSQL rows ((field, value) for every breaker) and mark it
    built on this Redis run; returns the number of leftover fields removed."""
    url = _mirror_url()
    _guard(url)
    client = mirror_client()
    now = now_ms()
    try:
        client.ping()  # (re)connects if needed, which records the server's run_id
        run_id = _run_ids.get(url, "")
        args: list[object] = [now, IN_FLIGHT_MS, f"{run_id}|{now}"]
        for field, value in rows:
            args += [field, value.encode(), value.version]
        return int(_scripts(client)[2](keys=[MIRROR_KEY], args=args))
    except redis.RedisError as exc:
        raise _failed(url, exc) from exc
