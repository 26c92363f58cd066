"""The key format, in the spirit of GitHub's tokens: recognisable, self-checking.

    bwk_<key id: 10 base62>_<secret: 32 base62><checksum: 6 base62>

* ``bwk_`` lets secret scanners (and people) recognise a leaked Breakwater key.
* The key id is public: it is stored in clear, shown in lists and used for lookup.
* The secret is 32 base62 characters from ``secrets`` (190 bits).
* The checksum is CRC32 of everything before it, in base62; a typo or a truncated paste is
  rejected before any database query.
"""

from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass

PREFIX = "bwk_"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_ID_LENGTH = 10
SECRET_LENGTH = 32  # log2(62) * 32 ≈ 190 bits
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
_KEY_RE = re.compile(
    rf"^{PREFIX}([0-9A-Za-z]{{{KEY_ID_LENGTH}}})_([0-9A-Za-z]{{{SECRET_LENGTH}}})"
    rf"([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$"
)
KEY_LENGTH = len(PREFIX) + KEY_ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    secret: str


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        chars.append(ALPHABET[remainder])
    return "".join(reversed(chars))


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def new_key_id() -> str:
    return _random_base62(KEY_ID_LENGTH)


def new_secret() -> str:
    return _random_base62(SECRET_LENGTH)


def assemble(key_id: str, secret: str) -> str:
    body = f"{PREFIX}{key_id}_{secret}"
    return body + checksum(body)


def parse(presented: str) -> ParsedKey | None:
    """Split a presented key, or None when its shape or checksum is wrong (no I/O at all)."""
    if len(presented) != KEY_LENGTH:
        return None
    match = _KEY_RE.match(presented)
    if match is None:
        return None
    key_id, secret, check = match.groups()
    if not secrets.compare_digest(check, checksum(presented[:-CHECKSUM_LENGTH])):
        return None
    return ParsedKey(key_id=key_id, secret=secret)
