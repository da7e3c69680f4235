"""Service, Group and the endpoints: ADR-32 on natsync's public client API.

Threads: an endpoint has one subscription (in its queue group unless disabled)
and ``max_concurrency`` worker threads (``natsync-micro-...``) taking requests
from it, so a slow handler holds up neither another endpoint nor, with more than
one worker, the other requests of its own; with 1 worker the requests run one at
a time, in order. The nine discovery subscriptions answer on their callback
threads. A handler that raises is answered with an error, counted, and passed to
the client's ``error_cb`` (``Client.report_error``); the service goes on.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import errors
from .._client_api import ClientAPI
from ..msg import Msg
from ..nuid import next_nuid
from ..subscription import Subscription
from .api import (
    DEFAULT_PREFIX,
    DEFAULT_QUEUE_GROUP,
    ConfigError,
    EndpointConfig,
    EndpointInfo,
    EndpointStats,
    GroupConfig,
    ServiceConfig,
    ServiceInfo,
    ServicePing,
    ServiceStats,
    ServiceVerb,
    control_subject,
)
from .request import Request, run_handler

DEFAULT_STOP_TIMEOUT = 10.0

_local = threading.local()  # .service: the Service whose handler runs on this thread

# (queue group, disabled) as a parent passes it down
_Queue = Tuple[Optional[str], bool]


def _resolve_queue(custom: Optional[str], disabled: bool, parent: _Queue) -> _Queue:
    """nats.go's rule: an own setting wins, then the parent's, then ``"q"``."""
    if disabled:
        return None, True
    if custom:
        return custom, False
    if parent[1]:
        return None, True
    return parent[0] or DEFAULT_QUEUE_GROUP, False


class _StoppedEvent(threading.Event):
    """``svc.stopped``: true once stopped; ``svc.stopped.wait(timeout)`` waits for it."""

    def __bool__(self) -> bool:
        return self.is_set()


class _Tally:
    """One worker's counts: written by that worker only."""

    __slots__ = ("requests", "time")

    def __init__(self) -> None:
        self.requests = 0
        self.time = 0


class Endpoint:
    """One endpoint: its subscriptions, its handler and its statistics."""

    def __init__(self, service: Service, config: EndpointConfig, subject: str, queue: _Queue) -> None:
        self._service = service
        self.name = config.name
        self.subject = subject
        self.queue_group = queue[0] or ""
        self.metadata: Dict[str, str] = dict(config.metadata or {})
        self._handler = config.handler
        self._concurrency = config.max_concurrency
        self._lock = threading.Lock()
        # requests and time are counted per worker, without a lock (one writer each);
        # reset() moves the baseline rather than zeroing what a worker may be adding to
        self._tallies: List[_Tally] = []
        self._base = (0, 0)
        self._num_errors = 0
        self._last_error: Optional[str] = None
        self._discard = False  # set when stop() gave up waiting: queued requests are dropped
        self._sub: Optional[Subscription] = None
        self._workers: List[threading.Thread] = []

    def _start(self, nc: ClientAPI) -> None:
        self._sub = nc.subscribe(self.subject, queue=self.queue_group)
        label = f"{self._service.name}.{self.name}"
        self._workers = [threading.Thread(target=self._work, name=f"natsync-micro-{label}-{i}"[:60],
                                          daemon=True)
                         for i in range(self._concurrency)]
        for t in self._workers:
            t.start()

    def _work(self) -> None:
        """A worker: take the next request from the endpoint's queue and handle it,
        until the subscription ends (stopped, or the connection closed)."""
        sub = self._sub
        assert sub is not None
        _local.service = self._service  # this thread runs this service's handlers only
        tally = _Tally()
        with self._lock:
            self._tallies.append(tally)
        handler, on_error, busy = self._handler, self._count_error, self._busy
        clock = time.perf_counter_ns
        while True:
            try:
                msg = sub.next_msg(timeout=None)
            except errors.Error:
                return
            if self._discard:
                continue
            start = clock()
            tally.requests += 1  # counted before anything is answered: stats never lag a reply
            raised = run_handler(handler, msg, on_error, busy)
            tally.time += clock() - start
            if raised is not None:
                self._service._client.report_error(raised)  # to error_cb; the service goes on

    def _busy(self) -> bool:
        """More requests are queued for the workers."""
        sub = self._sub
        return sub is not None and sub.pending_msgs > 0

    def _join(self, deadline: float) -> None:
        me = threading.current_thread()
        for t in self._workers:
            if t is not me:
                t.join(max(deadline - time.monotonic(), 0.0))

    def _count_error(self, code: str, description: str, first: bool) -> None:
        with self._lock:
            if first:
                self._num_errors += 1
            self._last_error = f"{code}:{description}"

    def _stats(self) -> EndpointStats:
        with self._lock:
            n, t = self._totals()
            return EndpointStats(
                name=self.name,
                subject=self.subject,
                queue_group=self.queue_group,
                num_requests=n,
                num_errors=self._num_errors,
                processing_time=t,
                average_processing_time=t // n if n else 0,
                last_error=self._last_error,
            )

    def _info(self) -> EndpointInfo:
        return EndpointInfo(name=self.name, subject=self.subject, queue_group=self.queue_group,
                            metadata=dict(self.metadata))

    def _reset(self) -> None:
        with self._lock:
            self._base = self._counted()
            self._num_errors = 0
            self._last_error = None

    def _counted(self) -> Tuple[int, int]:
        """Requests and nanoseconds counted by all workers, ever (under the lock)."""
        return (sum(tally.requests for tally in self._tallies),
                sum(tally.time for tally in self._tallies))

    def _totals(self) -> Tuple[int, int]:
        """Requests and nanoseconds since the last reset (under the lock)."""
        n, t = self._counted()
        return n - self._base[0], t - self._base[1]

    def __repr__(self) -> str:
        return f"<Endpoint {self.name!r} subject={self.subject!r} queue_group={self.queue_group!r}>"


def _endpoint_config(config: Optional[EndpointConfig], kwargs: Dict[str, Any]) -> EndpointConfig:
    if config is None:
        try:
            return EndpointConfig(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"add_endpoint: {exc}; it takes name=, handler= and optionally "
                              "subject=, queue_group=, metadata=, max_concurrency=, "
                              "queue_group_disabled=") from None
    return replace(config, **kwargs) if kwargs else config


def _group_config(config: Optional[GroupConfig], kwargs: Dict[str, Any]) -> GroupConfig:
    if config is None:
        try:
            return GroupConfig(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"add_group: {exc}; it takes name= and optionally queue_group=, "
                              "queue_group_disabled=") from None
    return replace(config, **kwargs) if kwargs else config


class Group:
    """A subject prefix for endpoints, with its own default queue group. Groups nest."""

    def __init__(self, service: Service, prefix: str, queue: _Queue) -> None:
        self._service = service
        self._prefix = prefix
        self._queue = queue

    @property
    def name(self) -> str:
        """The group's full prefix."""
        return self._prefix

    def add_endpoint(self, config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        """Add an endpoint on ``<group>.<subject or name>``."""
        cfg = _endpoint_config(config, kwargs)
        subject = ".".join(p for p in (self._prefix.strip("."), cfg.subject or cfg.name) if p)
        self._service._add(cfg, subject, self._queue)

    def add_group(self, config: Optional[GroupConfig] = None, **kwargs: Any) -> Group:
        """A group nested in this one: prefix ``<this group>.<name>``."""
        cfg = _group_config(config, kwargs)
        prefix = ".".join(p for p in (self._prefix.strip("."), cfg.name.strip(".")) if p)
        return Group(self._service, prefix,
                     _resolve_queue(cfg.queue_group, cfg.queue_group_disabled, self._queue))

    def __repr__(self) -> str:
        return f"<Group {self._prefix!r}>"


class Service:
    """A running service. Create it with :func:`natsync.micro.add_service`."""

    def __init__(self, client: ClientAPI, config: ServiceConfig) -> None:
        self._client = client
        self._id = next_nuid()
        self._name = config.name
        self._version = config.version
        self._description = config.description
        self._metadata: Dict[str, str] = dict(config.metadata or {})
        self._queue: _Queue = _resolve_queue(config.queue_group, config.queue_group_disabled,
                                             (None, False))
        self._stats_handler = config.stats_handler
        self._prefix = DEFAULT_PREFIX
        self._lock = threading.Lock()
        self._endpoints: List[Endpoint] = []
        self._subscriptions: Dict[str, Subscription] = {}
        self._started = datetime.now(timezone.utc)
        self._stopping = False
        self._stopped = _StoppedEvent()
        self._ping = json.dumps(ServicePing(id=self._id, name=self._name, version=self._version,
                                            metadata=self._metadata).to_dict()).encode()

    # ------------------------------------------------------------ identity
    @property
    def id(self) -> str:
        """This instance's unique id."""
        return self._id

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str:
        return self._version

    @property
    def description(self) -> Optional[str]:
        return self._description

    @property
    def metadata(self) -> Dict[str, str]:
        return dict(self._metadata)

    @property
    def stopped(self) -> _StoppedEvent:
        """True once :meth:`stop` has finished (an Event: ``svc.stopped.wait(5)`` waits)."""
        return self._stopped

    # ------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Subscribe to the nine discovery subjects (add_service calls it)."""
        if self._subscriptions or self._stopping:
            return
        handlers: Dict[ServiceVerb, Callable[[Msg], None]] = {
            ServiceVerb.PING: self._handle_ping,
            ServiceVerb.INFO: self._handle_info,
            ServiceVerb.STATS: self._handle_stats,
        }
        try:
            for verb, cb in handlers.items():
                for key, name, sid in ((f"{verb.value}-all", None, None),
                                       (f"{verb.value}-kind", self._name, None),
                                       (verb.value, self._name, self._id)):
                    subject = control_subject(verb, name=name, id=sid, prefix=self._prefix)
                    self._subscriptions[key] = self._client.subscribe(subject, cb=cb)
        except errors.Error:
            for sub in self._subscriptions.values():
                try:
                    sub.unsubscribe()
                except errors.Error:
                    pass
            self._subscriptions = {}
            raise
        self._started = datetime.now(timezone.utc)
        self._settle()

    def _settle(self) -> None:
        """Make the subscriptions known to the server before returning, when connected."""
        if self._client.is_connected:
            try:
                self._client.flush(timeout=5.0)
            except errors.TimeoutError:
                pass  # they are sent in order anyway

    def add_endpoint(self, config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        """Add an endpoint: ``name``, ``handler``, optionally ``subject`` (default: the
        name), ``queue_group``, ``metadata``, ``max_concurrency``, ``queue_group_disabled``."""
        cfg = _endpoint_config(config, kwargs)
        self._add(cfg, cfg.subject or cfg.name, self._queue)

    def _add(self, cfg: EndpointConfig, subject: str, parent: _Queue) -> None:
        queue = _resolve_queue(cfg.queue_group, cfg.queue_group_disabled, parent)
        ep = Endpoint(self, cfg, subject, queue)
        with self._lock:
            if self._stopping:
                raise errors.Error(f"nats: service {self._name!r} is stopped: cannot add an "
                                   "endpoint; create a new service with add_service()")
            if any(e.name == cfg.name for e in self._endpoints):
                raise ConfigError(f"Duplicate endpoint name {cfg.name!r} in service "
                                  f"{self._name!r}: give each endpoint a name of its own.")
            ep._start(self._client)
            self._endpoints.append(ep)
        self._settle()

    def add_group(self, config: Optional[GroupConfig] = None, **kwargs: Any) -> Group:
        """A group: endpoints added to it listen on ``<name>.<subject>``."""
        cfg = _group_config(config, kwargs)
        return Group(self, cfg.name.strip("."),
                     _resolve_queue(cfg.queue_group, cfg.queue_group_disabled, self._queue))

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop taking requests, let the ones already taken finish (up to ``timeout``
        seconds; later ones are dropped unanswered), then unsubscribe. Idempotent.

        Called from one of this service's handlers, it returns at once and the stop
        completes in the background once the handler returns."""
        with self._lock:
            if self._stopping:
                already = True
            else:
                already, self._stopping = False, True
        if already:
            if getattr(_local, "service", None) is not self:
                self._stopped.wait(timeout)
            return
        if getattr(_local, "service", None) is self:
            t = threading.Thread(target=self._stop, args=(timeout,),
                                 name=f"natsync-micro-stop-{self._name}", daemon=True)
            t.start()
            return
        self._stop(timeout)

    def _stop(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            endpoints = list(self._endpoints)
        work: List[Tuple[Optional[Endpoint], Subscription]] = [
            (ep, ep._sub) for ep in endpoints if ep._sub is not None]
        work += [(None, sub) for sub in self._subscriptions.values()]

        def drain(ep: Optional[Endpoint], sub: Subscription) -> None:
            # UNSUB now; the requests already queued are still handled, up to the deadline
            try:
                sub.drain(timeout=max(deadline - time.monotonic(), 0.001))
            except errors.DrainTimeoutError:
                if ep is not None:
                    ep._discard = True
            except errors.Error:
                pass  # already gone (the connection closed)

        threads = [threading.Thread(target=drain, args=w, daemon=True,
                                    name=f"natsync-micro-drain-{self._name}"[:60]) for w in work]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(deadline - time.monotonic(), 0.0) + 1.0)
        for ep in endpoints:
            ep._join(deadline)
            if any(t.is_alive() and t is not threading.current_thread() for t in ep._workers):
                ep._discard = True  # a handler outlived the timeout: drop what is still queued
        self._stopped.set()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------ statistics
    def stats(self) -> ServiceStats:
        """Every endpoint's statistics (``data`` from the stats handler, if any)."""
        with self._lock:
            endpoints = list(self._endpoints)
        stats = ServiceStats(id=self._id, name=self._name, version=self._version,
                             started=self._started, metadata=dict(self._metadata),
                             endpoints=[ep._stats() for ep in endpoints])
        if self._stats_handler is not None:
            for es in stats.endpoints:
                es.data = self._stats_handler(es)
        return stats

    def info(self) -> ServiceInfo:
        """The service's description and endpoints."""
        with self._lock:
            endpoints = list(self._endpoints)
        return ServiceInfo(id=self._id, name=self._name, version=self._version,
                           description=self._description, metadata=dict(self._metadata),
                           endpoints=[ep._info() for ep in endpoints])

    def reset(self) -> None:
        """Zero every endpoint's counters and times, and restart the clock (ADR-32)."""
        with self._lock:
            endpoints = list(self._endpoints)
            self._started = datetime.now(timezone.utc)
        for ep in endpoints:
            ep._reset()

    # ------------------------------------------------------------ discovery
    def _handle_ping(self, msg: Msg) -> None:
        if msg.reply:
            msg.respond(self._ping, {})

    def _handle_info(self, msg: Msg) -> None:
        if msg.reply:
            msg.respond(json.dumps(self.info().to_dict()).encode(), {})

    def _handle_stats(self, msg: Msg) -> None:
        if not msg.reply:
            return
        try:
            body = json.dumps(self.stats().to_dict()).encode()
        except Exception as exc:  # a stats handler failed, or returned what JSON cannot hold
            Request(msg).respond_error("500", repr(exc))
            raise
        msg.respond(body, {})

    def __repr__(self) -> str:
        state = " stopped" if self._stopped.is_set() else ""
        return f"<Service {self._name!r} {self._version} id={self._id}{state}>"


def add_service(nc: ClientAPI, config: Optional[ServiceConfig] = None, **kwargs: Any) -> Service:
    """Create and start a service on ``nc``: ``name``, ``version`` (semver), and
    optionally ``description``, ``metadata``, ``queue_group``, ``stats_handler``,
    ``queue_group_disabled``. Usable as a context manager, which stops it on exit."""
    if config is None:
        try:
            config = ServiceConfig(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"add_service: {exc}; it takes name=, version= and optionally "
                              "description=, metadata=, queue_group=, stats_handler=, "
                              "queue_group_disabled=") from None
    elif kwargs:
        config = replace(config, **kwargs)
    svc = Service(nc, config)
    svc.start()
    return svc
