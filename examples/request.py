"""Send one request and print the reply, handling "no responders" and timeouts.

    python examples/request.py [URL] [--subject time.now] [--data ping] [--timeout 2]

Start examples/reply.py first, or you will see "no responders". Exits 1 when
there is no reply.
"""

from __future__ import annotations

import argparse
import os
import sys

import natsync
from natsync import errors

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> int:
    parser = argparse.ArgumentParser(description="Send one request and print the reply.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--subject", default="time.now")
    parser.add_argument("--data", default="ping")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()

    with natsync.connect(args.url, name="example-request") as nc:
        try:
            reply = nc.request(args.subject, args.data.encode(), timeout=args.timeout)
        except errors.NoRespondersError:
            # The server knows at once that nobody is subscribed: no need to wait.
            print(f"no responders on {args.subject}: start examples/reply.py", file=sys.stderr)
            return 1
        except errors.TimeoutError:
            # Somebody is subscribed but did not answer in time.
            print(f"no reply on {args.subject} within {args.timeout}s", file=sys.stderr)
            return 1
        print(f"reply: {reply.data.decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
