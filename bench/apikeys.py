"""API-key verification cost, in process and through a real server.

Prints:
  * µs per verification in process: the pure part (format + checksum + HMAC) and the full
    ``key_authenticate`` (plus the indexed lookup in PostgreSQL);
  * /api/v1/me requests/s and p50/p99 latency on a real uvicorn server, side by side with the
    same server's bare unauthenticated DRF endpoint (/api/ping), and the overhead ratio.
"""

from __future__ import annotations

import time

from _harness import http_load, machine_note, print_table, scratch_database, setup_django

setup_django()

from apps.apikeys import hashing, keyformat  # noqa: E402
from apps.apikeys.services import key_authenticate  # noqa: E402
from tests.support.servers import uvicorn_server  # noqa: E402


def per_call_us(fn, n: int) -> float:
    fn()  # warm
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    print(f"API-key benchmark ({machine_note()})")
    with scratch_database():
        from django.contrib.auth import get_user_model

        from apps.apikeys.services import key_issue

        owner = get_user_model().objects.create_user("bench-owner")
        issued = key_issue(
            owner=owner,
            name="bench",
            scopes=["market:read"],
            actor=owner,
            rate_per_second=1e6,
            burst=1_000_000,
        )
        parsed = keyformat.parse(issued.plaintext)
        key = issued.api_key

        pure = per_call_us(
            lambda: (
                hashing.matches(
                    key_id=parsed.key_id,
                    secret=parsed.secret,
                    pepper_id=key.pepper_id,
                    stored_digest=key.secret_digest,
                )
                and keyformat.parse(issued.plaintext)
            ),
            20000,
        )
        full = per_call_us(
            lambda: key_authenticate(presented=issued.plaintext, client_ip="127.0.0.1"), 2000
        )
        print_table(
            "In-process verification",
            ["path", "µs/verification"],
            [
                ["parse + checksum + HMAC-SHA256", pure],
                ["key_authenticate (+ PostgreSQL lookup)", full],
            ],
        )

        rows = []
        with uvicorn_server() as server:
            headers = {"Authorization": f"Bearer {issued.plaintext}"}
            http_load(f"{server.base_url}/api/ping", duration_s=1)  # warm up
            bare = http_load(f"{server.base_url}/api/ping", concurrency=8, duration_s=5)
            me = http_load(
                f"{server.base_url}/api/v1/me", headers=headers, concurrency=8, duration_s=5
            )
        for name, result in (
            ("GET /api/ping (bare DRF, no auth)", bare),
            ("GET /api/v1/me (key auth + scope + rate limit)", me),
        ):
            rows.append(
                [
                    name,
                    result.requests_per_second,
                    result.p50,
                    result.percentile(99),
                    str(result.statuses),
                ]
            )
        print_table(
            "Real server (uvicorn, 1 worker, 8 concurrent clients, 5 s each)",
            ["endpoint", "req/s", "p50 ms", "p99 ms", "statuses"],
            rows,
        )
        ratio = bare.requests_per_second / me.requests_per_second if me.requests_per_second else 0
        print(
            f"\nOverhead ratio (bare req/s ÷ authenticated req/s): {ratio:.2f}x; "
            f"p50 +{me.p50 - bare.p50:.2f} ms"
        )


if __name__ == "__main__":
    main()
