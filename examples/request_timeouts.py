"""Requests with timeouts and retries.

    python examples/request_timeouts.py [URL]

request() raises NoRespondersError at once when nobody is subscribed to the
subject, and TimeoutError when a responder exists but no reply came in time.
Both are worth a retry when the service may be restarting; only retry requests
that are safe to repeat (the first one may have been processed).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import natsync
from natsync import errors

URL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def request_with_retry(
    nc: natsync.Client,
    subject: str,
    data: bytes,
    *,
    timeout: float = 0.5,
    attempts: int = 3,
    backoff: float = 0.1,
) -> natsync.Msg:
    """request() up to ``attempts`` times, waiting ``backoff * attempt`` in between."""
    for attempt in range(1, attempts + 1):
        try:
            reply = nc.request(subject, data, timeout=timeout)
        except errors.NoRespondersError:
            print(f"  attempt {attempt}: no responders")
        except errors.TimeoutError:
            print(f"  attempt {attempt}: timed out after {timeout}s")
        else:
            print(f"  attempt {attempt}: reply {reply.data.decode()!r}")
            return reply
        if attempt < attempts:
            time.sleep(backoff * attempt)
    raise errors.TimeoutError(f"no reply on {subject!r} after {attempts} attempts")


def main() -> int:
    with natsync.connect(URL, name="example-request-timeouts") as nc:
        print("1. nobody serves 'inventory.count':")
        try:
            request_with_retry(nc, "inventory.count", b"apples", attempts=2)
        except errors.TimeoutError as exc:
            print(f"  gave up: {exc}")

        # A responder that loses the first request it gets, like a service
        # instance that crashed while handling it.
        seen = threading.Event()

        def flaky(msg: natsync.Msg) -> None:
            if not seen.is_set():
                seen.set()
                return  # no reply: the requester times out
            msg.respond(b"42 " + msg.data)

        nc.subscribe("inventory.count", cb=flaky)
        print("2. a responder that drops the first request:")
        reply = request_with_retry(nc, "inventory.count", b"apples", timeout=0.5)
        print(f"  result: {reply.data.decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
