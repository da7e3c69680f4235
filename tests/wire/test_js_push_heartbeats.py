"""Push-consumer heartbeats a real server sends only by accident, forged exactly here:
``Nats-Last-Consumer`` headers that show a gap, and a heartbeat that stops and resumes.

``subscribe_bind`` needs no JetStream API call, so the fake server only has to serve
the deliver subject. Reports reach ``error_cb`` in order on the client's events thread,
so a later report (a ``409 Consumer Deleted``) proves the earlier messages were handled.
"""

from __future__ import annotations

import time
from typing import Dict

import natsync
from natsync.js import api
from natsync.js import errors as jse
from tests.wire.conftest import Clients, Events, natsync_threads, wait_for
from tests.wire.fakeserver import FakeConn, FakeServer

WAIT = 10.0
DELIVER = "dlv.hb"


def _status_frame(sid: int, code: int, desc: str, headers: Dict[str, str]) -> bytes:
    block = f"NATS/1.0 {code} {desc}\r\n".encode() + b"".join(
        f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n"
    return f"HMSG {DELIVER} {sid} {len(block)} {len(block)}\r\n".encode() + block + b"\r\n"


def _heartbeat(sid: int, last_consumer: int, last_stream: int) -> bytes:
    return _status_frame(sid, 100, "Idle Heartbeat", {
        "Nats-Last-Consumer": str(last_consumer), "Nats-Last-Stream": str(last_stream)})


def _stream_msg(conn: FakeConn, sid: int, sseq: int, cseq: int, data: bytes) -> None:
    conn.send_msg(DELIVER, sid, data, reply=f"$JS.ACK.S.C.1.{sseq}.{cseq}.1700000000000000000.0")


def _bind(nc: natsync.Client, conn: FakeConn, heartbeat: float, nth: int = 1
          ) -> tuple[object, int]:
    cfg = api.ConsumerConfig(deliver_subject=DELIVER, idle_heartbeat=heartbeat,
                             ack_policy=api.AckPolicy.NONE)
    sub = nc.jetstream().subscribe_bind("S", cfg, "C")
    frame = [f for f in conn.wait_count("SUB", nth) if f.op == "SUB"][nth - 1]
    assert frame.args[0] == DELIVER
    return sub, int(frame.args[-1])


def _mismatches(events: Events) -> list[jse.ConsumerSequenceMismatchError]:
    return [e for e in events.errors if isinstance(e, jse.ConsumerSequenceMismatchError)]


def test_heartbeat_showing_a_gap_is_reported_once_per_gap(
        fake_server: FakeServer, clients: Clients, events: Events) -> None:
    nc, conn = clients.connect(fake_server, **events.callbacks())
    sub, sid = _bind(nc, conn, heartbeat=30.0)  # no alarm during the test
    _stream_msg(conn, sid, sseq=5, cseq=1, data=b"a")
    for _ in range(3):  # the consumer delivered 2 and 3, the subscription never got them
        conn.send(_heartbeat(sid, last_consumer=3, last_stream=7))
    _stream_msg(conn, sid, sseq=7, cseq=3, data=b"b")
    conn.send(_heartbeat(sid, last_consumer=3, last_stream=7))  # caught up: no report
    for _ in range(2):
        conn.send(_heartbeat(sid, last_consumer=5, last_stream=9))  # a new gap
    conn.send(_status_frame(sid, 409, "Consumer Deleted", {}))  # a report after all that
    events.wait_error(jse.ConsumerDeletedError, timeout=WAIT)

    first, second = _mismatches(events)  # exactly one per gap
    assert (first.consumer_sequence, first.last_consumer_sequence,
            first.stream_resume_sequence) == (1, 3, 6)
    assert (second.consumer_sequence, second.last_consumer_sequence,
            second.stream_resume_sequence) == (3, 5, 8)
    assert second.stream == "S" and second.consumer == "C"
    text = str(second)
    assert "consumer 'C' of stream 'S'" in text and "2 sequences behind" in text
    assert "stream sequence 8" in text
    assert [sub.next_msg(timeout=WAIT).data for _ in range(2)] == [b"a", b"b"]  # type: ignore[attr-defined]
    sub.unsubscribe()  # type: ignore[attr-defined]


def test_no_report_before_the_first_message_or_without_heartbeats(
        fake_server: FakeServer, clients: Clients, events: Events) -> None:
    """Bound to a durable that delivered before: the first heartbeat's sequence is not a
    gap (nothing received yet to compare with), as in nats.go and nats-py."""
    nc, conn = clients.connect(fake_server, **events.callbacks())
    sub, sid = _bind(nc, conn, heartbeat=30.0)
    conn.send(_heartbeat(sid, last_consumer=40, last_stream=90))
    conn.send(_status_frame(sid, 409, "Consumer Deleted", {}))
    events.wait_error(jse.ConsumerDeletedError, timeout=WAIT)
    assert _mismatches(events) == []
    sub.unsubscribe()  # type: ignore[attr-defined]


def test_silence_alarms_once_and_again_after_traffic_resumes(
        fake_server: FakeServer, clients: Clients, events: Events) -> None:
    nc, conn = clients.connect(fake_server, **events.callbacks())
    hb = 0.1
    sub, sid = _bind(nc, conn, heartbeat=hb)
    monitors = [t for t in natsync_threads() if t.name.startswith("natsync-js-heartbeats")]
    assert len(monitors) == 1

    def alarms() -> int:
        return sum(isinstance(e, jse.ConsumerNotActiveError) for e in events.errors)

    wait_for(lambda: alarms() == 1, WAIT, "the first alarm")
    time.sleep(10 * hb)  # the silence goes on for 3 more alarm periods
    assert alarms() == 1
    conn.send(_heartbeat(sid, last_consumer=0, last_stream=0))  # it comes back ...
    wait_for(lambda: alarms() == 2, WAIT, "the alarm of the second silence")  # ... and goes
    err = next(e for e in events.errors if isinstance(e, jse.ConsumerNotActiveError))
    assert "consumer 'C' of stream 'S'" in str(err) and "0.3s" in str(err)
    sub.unsubscribe()  # type: ignore[attr-defined]
    assert not [t for t in monitors if t.is_alive()]  # unsubscribe ends the monitor


def test_close_without_unsubscribe_ends_the_monitor(
        fake_server: FakeServer, clients: Clients) -> None:
    nc, conn = clients.connect(fake_server)
    _bind(nc, conn, heartbeat=30.0)
    _bind(nc, conn, heartbeat=20.0, nth=2)
    monitors = [t for t in natsync_threads() if t.name.startswith("natsync-js-heartbeats")]
    assert len(monitors) == 1  # one for both
    nc.close()  # no unsubscribe
    wait_for(lambda: not any(t.is_alive() for t in monitors), WAIT, "the monitor to end")
