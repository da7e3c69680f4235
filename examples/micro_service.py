"""A NATS service (ADR-32) with natsync.micro: endpoints, a group, errors, discovery.

    python examples/micro_service.py [URL]

Starts a "calc" service with two endpoints (calc.add with two workers, calc.div
that answers division by zero with a service error), calls them, finds the service
the way `nats micro ls` does, prints its statistics, and stops it. While it runs,
`natsync micro ls` or `nats micro info calc` show it from another terminal.
"""

from __future__ import annotations

import json
import os
import sys
import threading

import natsync
from natsync import errors, micro

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
_out = threading.Lock()


def say(*parts: object) -> None:
    """print() from several threads (error_cb runs on the client's events thread):
    one line at a time, never two interleaved."""
    with _out:
        print(*parts)


def add(req: micro.Request) -> None:
    a, b = json.loads(req.data)
    req.respond(json.dumps(a + b).encode())


def div(req: micro.Request) -> None:
    a, b = json.loads(req.data)
    if b == 0:
        raise micro.ServiceError("400", "division by zero")  # answered, counted, reported
    req.respond(json.dumps(a / b).encode())


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL
    try:
        nc = natsync.connect(url, error_cb=lambda exc: say(f"error_cb: {exc!r}"))
    except errors.Error as exc:
        print(f"cannot connect: {exc}", file=sys.stderr)
        return 1
    with nc, micro.add_service(nc, name="calc", version="1.0.0",
                               description="adds and divides") as svc:
        calc = svc.add_group(name="calc")
        calc.add_endpoint(name="add", handler=add, max_concurrency=2)
        calc.add_endpoint(name="div", handler=div)

        say("add ->", nc.request("calc.add", b"[2, 3]", timeout=2).data.decode())
        say("div ->", nc.request("calc.div", b"[1, 4]", timeout=2).data.decode())
        reply = nc.request("calc.div", b"[1, 0]", timeout=2)
        err = micro.service_error(reply)
        say(f"div by zero -> error {err.code}: {err.description}" if err else "no error?")

        for found in micro.info(nc, "calc", max_msgs=1, timeout=5):
            say(f"found {found.name} {found.version} ({found.id}):",
                  ", ".join(e.subject for e in found.endpoints))
        for ep in svc.stats().endpoints:
            say(f"{ep.name}: {ep.num_requests} requests, {ep.num_errors} errors"
                  + (f", last error {ep.last_error}" if ep.last_error else ""))
    say("stopped:", bool(svc.stopped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
