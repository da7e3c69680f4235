"""NatsCluster: several real nats-servers whose routes point at each other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from natsync.testing._host import _connect_host, _hostport, free_port
from natsync.testing.server import NatsServer

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["CLUSTER_TIMEOUT", "NatsCluster"]

#: How long :class:`NatsCluster` waits for its routes to form.
CLUSTER_TIMEOUT = 20.0


class NatsCluster:
    """``size`` real nats-servers whose routes point at each other.

    ``start()`` (or ``with``) starts them all and waits until every server has a
    route to every other one. Extra keyword arguments go to each :class:`NatsServer`.
    """

    _RESERVED = ("port", "name", "cluster_name", "cluster_port", "routes")

    def __init__(
        self,
        size: int = 3,
        *,
        jetstream: bool = False,
        name: str = "natsync-test",
        **server_kwargs: Any,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one server")
        taken = [k for k in self._RESERVED if k in server_kwargs]
        if taken:
            raise TypeError(f"NatsCluster chooses {', '.join(taken)} itself; do not pass them")
        self.name = name
        host = str(server_kwargs.get("host", "127.0.0.1"))
        cluster_ports = [free_port(host) for _ in range(size)]
        connect_host = _connect_host(host)
        route_urls = [f"nats-route://{_hostport(connect_host, p)}" for p in cluster_ports]
        self.servers: list[NatsServer] = [
            NatsServer(
                name=f"{name}-{i}",
                jetstream=jetstream,
                cluster_name=name,
                cluster_port=cluster_ports[i],
                routes=[u for j, u in enumerate(route_urls) if j != i],
                **server_kwargs,
            )
            for i in range(size)
        ]

    @property
    def urls(self) -> list[str]:
        """The client URLs of the servers, in order."""
        return [s.url for s in self.servers]

    def start(self) -> Self:
        """Start every server, wait until each is ready and fully routed; return ``self``."""
        try:
            offsets = [s._spawn() for s in self.servers]
            longest = max(CLUSTER_TIMEOUT, *(s.ready_timeout for s in self.servers))
            deadline = time.monotonic() + longest
            for server, offset in zip(self.servers, offsets):
                server._wait_ready(deadline, offset)
            self.wait_for_routes(CLUSTER_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_routes(self, timeout: float = CLUSTER_TIMEOUT) -> None:
        """Wait until each running server has routes to all other running servers."""
        deadline = time.monotonic() + timeout
        while True:
            running = [s for s in self.servers if s.is_running]
            missing = []
            for server in running:
                try:
                    peers = _route_peers(server)
                except (OSError, ValueError) as exc:
                    missing.append(f"{server.name}: routez failed ({exc})")
                    continue
                if len(peers) < len(running) - 1:
                    missing.append(f"{server.name}: {len(peers)} of {len(running) - 1} peers")
            if not missing:
                return
            if time.monotonic() >= deadline:
                logs = "\n".join(f"--- {s.name} log (last lines) ---\n{s.log_tail(30)}" for s in self.servers)
                raise RuntimeError(
                    f"the nats-server cluster did not form its routes within {timeout:g} s "
                    f"({'; '.join(missing)})\n{logs}"
                )
            time.sleep(0.05)

    def wait_for_jetstream(self, timeout: float = CLUSTER_TIMEOUT) -> str:
        """Wait until the running servers agree on a JetStream meta leader; return its name.

        Needs ``jetstream=True``. Streams and consumers can be created once it returns."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            leaders = set()
            for server in (s for s in self.servers if s.is_running):
                try:
                    meta = server.jsz().get("meta_cluster") or {}
                except (OSError, ValueError) as exc:
                    last = f"{server.name}: jsz failed ({exc})"
                    leaders.add("")
                    continue
                leaders.add(str(meta.get("leader") or ""))
            if len(leaders) == 1 and "" not in leaders:
                return leaders.pop()
            last = f"meta leaders seen: {sorted(leaders)}"
            if time.monotonic() >= deadline:
                raise RuntimeError(f"the cluster elected no JetStream meta leader within "
                                   f"{timeout:g} s ({last})")
            time.sleep(0.1)

    def server_named(self, name: str) -> NatsServer:
        """The server whose ``server_name`` is ``name`` (e.g. a stream leader)."""
        for server in self.servers:
            if server.name == name:
                return server
        raise KeyError(f"no server named {name!r} in {self!r}")

    def stop(self) -> None:
        """Stop every server."""
        for server in self.servers:
            server.stop()

    def close(self) -> None:
        """Stop every server and remove their temp dirs."""
        for server in self.servers:
            server.close()

    def __getitem__(self, index: int) -> NatsServer:
        return self.servers[index]

    def __len__(self) -> int:
        return len(self.servers)

    def __iter__(self) -> Iterator[NatsServer]:
        return iter(self.servers)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<NatsCluster {self.name} {self.urls}>"


def _route_peers(server: NatsServer) -> set[str]:
    """Ids of the servers ``server`` has a route to (route pooling opens several each)."""
    routes = server.routez().get("routes") or []
    return {str(r.get("remote_id")) for r in routes if r.get("remote_id")}
