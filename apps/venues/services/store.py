"""The hot market-data store in Redis: latest chain (binary columns) and surface (JSON).

Redis holds what can be rebuilt (the next poll rewrites both keys), PostgreSQL the history
(:class:`~apps.venues.models.SurfaceSnapshot`). Keys, per venue and underlying:

``bw:venues:chain:<VENUE>:<UND>``    the validated chain with IVs and Greeks, as a JSON header
                                     line followed by raw little-endian NumPy columns. Encoding
                                     2,000 options this way takes about a millisecond, where
                                     JSON text takes tens; readers decode with ``frombuffer``.
``bw:venues:surface:<UND>:<VENUE>``  the surface as compact JSON (what the API serves).

Both expire after a day, so a venue removed from service disappears without a cleanup job.
No pickle: a compromised Redis must not be able to run code in Breakwater.
"""

from __future__ import annotations

import functools
import json
import threading
import zlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import redis
from django.conf import settings

__all__ = [
    "ChainColumns",
    "StoreUnavailable",
    "chain_key",
    "chain_read",
    "chain_read_latest",
    "chain_write",
    "redis_client",
    "surface_key",
    "surface_read",
    "surface_write",
]

TTL_SECONDS = 86400
FORMAT_VERSION = 1
SYMBOL_SEPARATOR = "\x1f"  # ASCII unit separator: never part of a venue symbol
_LAYOUT_FIELDS = ("columns", "dtypes", "symbols_bytes", "crc32")  # header, not metadata


class StoreUnavailable(Exception):
    """Redis could not be reached; readers answer 503, pollers count it as an error."""


@functools.lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def chain_key(venue: str, underlying: str) -> str:
    return f"bw:venues:chain:{venue}:{underlying}"


def surface_key(venue: str, underlying: str) -> str:
    return f"bw:venues:surface:{underlying}:{venue}"


@dataclass(frozen=True)
class ChainColumns:
    """A stored chain: metadata plus named columns (NumPy arrays, one row per option)."""

    meta: dict[str, Any]
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.meta["n"])

    @cached_property
    def row_of(self) -> dict[str, int]:
        """Row number of each symbol (built once per decoded chain)."""
        return {str(s): i for i, s in enumerate(self.columns["symbol"])}


def chain_encode(meta: dict[str, Any], columns: dict[str, np.ndarray]) -> bytes:
    names, dtypes, blobs = [], [], []
    for name, values in columns.items():
        if name == "symbol":
            continue
        array = np.ascontiguousarray(values)
        names.append(name)
        dtypes.append(array.dtype.newbyteorder("<").str)
        blobs.append(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    symbols = SYMBOL_SEPARATOR.join(str(s) for s in columns["symbol"]).encode()
    body = symbols + b"".join(blobs)
    header = {
        **meta,
        "v": FORMAT_VERSION,
        "columns": names,
        "dtypes": dtypes,
        "symbols_bytes": len(symbols),
        "crc32": zlib.crc32(body),  # equal headers mean equal chains (chain_read_latest)
    }
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + body


def chain_decode(raw: bytes) -> ChainColumns:
    newline = raw.index(b"\n")
    header = json.loads(raw[:newline])
    if header.get("v") != FORMAT_VERSION:
        raise ValueError("unknown chain format version")
    n = int(header["n"])
    offset = newline + 1
    symbols_text = raw[offset : offset + header["symbols_bytes"]].decode()
    offset += header["symbols_bytes"]
    columns: dict[str, np.ndarray] = {
        "symbol": np.array(symbols_text.split(SYMBOL_SEPARATOR) if n else [], dtype=object)
    }
    for name, dtype_str in zip(header["columns"], header["dtypes"], strict=True):
        dtype = np.dtype(dtype_str)
        size = dtype.itemsize * n
        columns[name] = np.frombuffer(raw, dtype=dtype, count=n, offset=offset)
        offset += size
    meta = {k: v for k, v in header.items() if k not in _LAYOUT_FIELDS}
    return ChainColumns(meta=meta, columns=columns)


def chain_write(
    venue: str, underlying: str, meta: dict[str, Any], columns: dict[str, np.ndarray]
) -> None:
    try:
        redis_client().set(
            chain_key(venue, underlying), chain_encode(meta, columns), ex=TTL_SECONDS
        )
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc


def chain_read(venue: str, underlying: str) -> ChainColumns | None:
    try:
        raw = redis_client().get(chain_key(venue, underlying))
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    return chain_decode(raw) if raw else None


# The header of a chain names the poll that wrote it (received_at_ms, as_of_ms, n): two
# chains with the same header bytes are the same write. 2 KiB holds any header we write.
_HEADER_PROBE_BYTES = 2048
_latest: dict[str, tuple[bytes, ChainColumns]] = {}  # per process: key -> (header, decoded)
_latest_lock = threading.Lock()


def chain_read_latest(venue: str, underlying: str) -> ChainColumns | None:
    """``chain_read`` for hot paths that read one row of a chain many times between polls
    (the gateway's mark, every order): a GETRANGE of the header tells whether the stored chain
    is the one this process decoded last; only a new chain is fetched and decoded. Still one
    round trip per call (two when the chain changed) and never older than what Redis holds."""
    key = chain_key(venue, underlying)
    try:
        head = redis_client().getrange(key, 0, _HEADER_PROBE_BYTES - 1)
        if not head:
            return None
        newline = head.find(b"\n")
        cached = _latest.get(key)
        if newline > 0 and cached is not None and cached[0] == head[:newline]:
            return cached[1]
        raw = redis_client().get(key)
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    if not raw:
        return None
    chain = chain_decode(raw)
    with _latest_lock:
        _latest[key] = (raw[: raw.index(b"\n")], chain)
    return chain


def surface_write(venue: str, underlying: str, payload: dict[str, Any]) -> None:
    try:
        redis_client().set(
            surface_key(venue, underlying),
            json.dumps(payload, separators=(",", ":"), allow_nan=False),
            ex=TTL_SECONDS,
        )
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc


def surface_read(venue: str, underlying: str) -> dict[str, Any] | None:
    try:
        raw = redis_client().get(surface_key(venue, underlying))
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    return json.loads(raw) if raw else None


def surfaces_read_many(pairs: list[tuple[str, str]]) -> list[dict[str, Any] | None]:
    """Several surfaces in one round trip (the market page reads every venue x underlying)."""
    if not pairs:
        return []
    try:
        raws = redis_client().mget([surface_key(v, u) for v, u in pairs])
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    return [json.loads(raw) if raw else None for raw in raws]
