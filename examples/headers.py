"""Publish and receive messages with headers, including a header with several values.

    python examples/headers.py [URL]

A header value is a str; a header with several values is a list of str, both
when publishing and on the received message. A message without headers has
``headers is None``.
"""

from __future__ import annotations

import os
import sys

import natsync

URL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> None:
    with natsync.connect(URL, name="example-headers") as nc:
        sub = nc.subscribe("orders.created")
        nc.publish(
            "orders.created",
            b'{"id": 42}',
            headers={
                "Content-Type": "application/json",
                "Trace-Id": "7f3a",
                "Tag": ["priority", "gift"],  # a multi-valued header
            },
        )
        nc.publish("orders.created", b"no headers here")

        msg = sub.next_msg(timeout=2)
        assert msg.headers is not None
        print(f"data: {msg.data.decode()}")
        for key, value in sorted(msg.headers.items()):
            print(f"header {key}: {value}")
        plain = sub.next_msg(timeout=2)
        print(f"second message headers: {plain.headers}")

        # Headers travel with requests and replies too.
        def echo_trace(req: natsync.Msg) -> None:
            trace = req.headers.get("Trace-Id", "") if req.headers else ""
            req.respond(b"ok", headers={"Trace-Id": trace})

        nc.subscribe("orders.lookup", cb=echo_trace)
        reply = nc.request("orders.lookup", b"42", timeout=2, headers={"Trace-Id": "9c1d"})
        print(f"reply headers: {reply.headers}")


if __name__ == "__main__":
    main()
