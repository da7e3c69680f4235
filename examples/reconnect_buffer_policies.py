"""The reconnect buffer's overflow policies, shown while the server is down.

    python examples/reconnect_buffer_policies.py nats://127.0.0.1:4999

Pass the URL of a server that is NOT running. With retry_on_failed_connect
the client starts in the reconnecting state, so every publish goes into the
reconnect buffer, here limited to 3 messages (reconnect_buf_msgs). What happens
to the 4th and 5th message depends on reconnect_buf_overflow:

* "error" (default): publish raises OutboundBufferLimitError, nothing is dropped;
* "drop_oldest": the oldest buffered messages make room, counted in
  stats["reconnect_buf_dropped"] and reported to error_cb;
* "block": publish waits for room (the buffer drains on reconnect) for at most
  flush_timeout seconds, then raises OutboundBufferLimitError.

After close(), unsent_messages() returns what was buffered but never sent.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, List

import natsync
from natsync import errors

URL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("NATS_URL", "nats://127.0.0.1:4999")


def offline_client(**options: Any) -> natsync.Client:
    nc = natsync.connect(
        URL,
        retry_on_failed_connect=True,  # do not raise: keep trying in the background
        reconnect_buf_msgs=3,
        **options,
    )
    if nc.is_connected:
        nc.close()
        sys.exit(f"a server answers at {URL}: pass the URL of a server that is not running")
    return nc


def publish_five(nc: natsync.Client) -> None:
    for n in range(1, 6):
        try:
            nc.publish("updates", str(n).encode())
            print(f"  publish {n}: buffered ({nc.buffered_msgs} in the buffer)")
        except errors.OutboundBufferLimitError:
            print(f"  publish {n}: OutboundBufferLimitError")


def close_and_report(nc: natsync.Client) -> None:
    nc.close()
    unsent = [int(m.data) for m in nc.unsent_messages()]
    print(f"  after close: unsent_messages() = {unsent}, stats['unsent_msgs'] = "
          f"{nc.stats['unsent_msgs']}")


def main() -> None:
    print('reconnect_buf_overflow="error"')
    nc = offline_client(reconnect_buf_overflow="error")
    publish_five(nc)
    close_and_report(nc)

    print('reconnect_buf_overflow="drop_oldest"')
    reports: List[Exception] = []
    nc = offline_client(reconnect_buf_overflow="drop_oldest", error_cb=reports.append)
    publish_five(nc)
    print(f"  stats['reconnect_buf_dropped'] = {nc.stats['reconnect_buf_dropped']}")
    close_and_report(nc)  # close() runs the pending callbacks before it returns
    # each failed connection attempt is reported too (ConnectionRefusedError): leave those out
    kinds = sorted({type(exc).__name__ for exc in reports if not isinstance(exc, OSError)})
    print(f"  error_cb received: {', '.join(kinds)}")

    print('reconnect_buf_overflow="block", flush_timeout=0.3')
    nc = offline_client(reconnect_buf_overflow="block", flush_timeout=0.3)
    for n in range(1, 5):
        started = time.monotonic()
        try:
            nc.publish("updates", str(n).encode())
            print(f"  publish {n}: buffered ({nc.buffered_msgs} in the buffer)")
        except errors.OutboundBufferLimitError:
            waited = time.monotonic() - started
            print(f"  publish {n}: OutboundBufferLimitError after waiting {waited:.1f}s")
    close_and_report(nc)

    print("reconnect_buf_size=0 (buffer nothing)")
    nc = offline_client(reconnect_buf_size=0)
    try:
        nc.publish("updates", b"1")
    except errors.OutboundBufferLimitError:
        print("  publish 1: OutboundBufferLimitError")
    close_and_report(nc)


if __name__ == "__main__":
    main()
