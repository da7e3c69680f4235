"""The ADR-37 continuous pull state machine, without sockets: options and defaults,
refill thresholds, pending counts in messages and bytes, status actions, outages."""

from __future__ import annotations

import json

import pytest

from natsync import errors
from natsync.jetstream._pullstate import (
    PullOptions,
    PullRequest,
    PullState,
    Status,
    parse_pending,
    pull_action,
)
from natsync.js.errors import InvalidArgumentError


def test_defaults_follow_adr37() -> None:
    o = PullOptions.build()
    assert (o.max_messages, o.max_bytes, o.expires, o.heartbeat) == (500, 0, 30.0, 15.0)
    assert o.threshold_messages == 250
    # heartbeat: half of expires, capped at 30 s
    assert PullOptions.build(max_wait=100).heartbeat == 30.0
    assert PullOptions.build(max_wait=4).heartbeat == 2.0
    b = PullOptions.build(max_bytes=1000)
    assert (b.max_messages, b.max_bytes, b.threshold_bytes) == (1_000_000, 1000, 500)


@pytest.mark.parametrize("kwargs, text", [
    (dict(max_messages=10, max_bytes=100), "cannot be used together"),
    (dict(max_wait=0.5), "at least 1 s"),
    (dict(max_wait=10, heartbeat=6), "more than half"),
    (dict(max_wait=0), "positive number"),
    (dict(max_wait=-1), "positive number"),
    (dict(heartbeat=0), "positive number"),
    (dict(max_messages=0), "positive integer"),
    (dict(max_bytes=True), "positive integer"),
    (dict(max_messages=10, threshold_messages=10), "threshold"),
    (dict(max_wait=120, heartbeat=45), "at most 30"),
])
def test_bad_options_raise_before_anything_is_sent(kwargs: dict, text: str) -> None:
    with pytest.raises(InvalidArgumentError, match=text) as info:
        PullOptions.build(**kwargs)
    assert isinstance(info.value, errors.Error) and isinstance(info.value, ValueError)


def test_first_pull_then_refill_at_threshold() -> None:
    st = PullState(PullOptions.build(max_messages=100, max_wait=10))
    req = st.check()
    assert req == PullRequest(100, 0, 10.0, 5.0)
    assert json.loads(req.to_json()) == {"batch": 100, "expires": 10_000_000_000,
                                         "idle_heartbeat": 5_000_000_000}
    assert st.check() is None
    pulls = [st.on_message(10) for _ in range(49)]
    assert pulls == [None] * 49 and st.pending_msgs == 51
    req = st.on_message(10)  # pending drops to the threshold (50): ask for what is missing
    assert req is not None and req.batch == 50 and st.pending_msgs == 100


def test_pull_count_for_a_long_run_is_about_n_over_half_the_batch() -> None:
    st = PullState(PullOptions.build(max_messages=200))
    pulls = 1 if st.check() else 0
    for _ in range(10_000):
        if st.on_message(1) is not None:
            pulls += 1
    assert pulls == st.pulls
    assert 10_000 / 100 <= pulls <= 10_000 / 100 + 2


def test_bytes_are_counted_and_refill_asks_for_the_missing_bytes() -> None:
    st = PullState(PullOptions.build(max_bytes=1000))
    req = st.check()
    assert req is not None and (req.batch, req.max_bytes) == (1_000_000, 1000)
    assert st.on_message(300) is None
    assert st.pending_bytes == 700
    req = st.on_message(200)  # 500 left: at the threshold
    assert req is not None and req.max_bytes == 500 and st.pending_bytes == 1000


def test_408_and_409_take_the_void_counts_off() -> None:
    st = PullState(PullOptions.build(max_messages=100))
    st.check()
    for _ in range(10):
        st.on_message(1)
    assert st.pending_msgs == 90
    hdrs = {"Status": "408", "Description": "Request Timeout", "Nats-Pending-Messages": "90",
            "Nats-Pending-Bytes": "0"}
    req = st.on_status(Status.END, parse_pending(hdrs))
    assert req is not None and req.batch == 100  # the request expired: pull a full batch


def test_leadership_change_resets_and_pulls_again() -> None:
    st = PullState(PullOptions.build(max_messages=10))
    st.check()
    st.on_message(1)
    req = st.on_status(pull_action(409, "Leadership Change"), (0, 0))
    assert req is not None and req.batch == 10


def test_pause_on_disconnect_and_full_pull_on_reconnect() -> None:
    st = PullState(PullOptions.build(max_messages=10))
    st.check()
    st.on_disconnect()
    for _ in range(9):
        assert st.on_message(1) is None  # no pulls while disconnected
    req = st.on_reconnect()
    assert req is not None and req.batch == 10 and st.pending_msgs == 10


def test_no_responders_resets_without_pulling_at_once() -> None:
    st = PullState(PullOptions.build(max_messages=10))
    st.check()
    assert st.on_status(Status.NO_RESPONDERS, (0, 0)) is None
    assert st.pending_msgs == 0
    assert st.check() is not None  # the driver's retry pulls a full batch


@pytest.mark.parametrize("code, desc, action", [
    (100, "Idle Heartbeat", Status.IGNORE),
    (404, "No Messages", Status.END),
    (408, "Request Timeout", Status.END),
    (409, "Message Size Exceeds MaxBytes", Status.END),
    (409, "Exceeded MaxRequestBatch of 10", Status.WARNING),
    (409, "Exceeded MaxRequestExpires of 1s", Status.WARNING),
    (409, "Exceeded MaxRequestMaxBytes of 100", Status.WARNING),
    (409, "Exceeded MaxWaiting", Status.WARNING),
    (409, "Consumer Deleted", Status.TERMINAL),
    (409, "Consumer is push based", Status.TERMINAL),
    (409, "Leadership Change", Status.RESET),
    (400, "Bad Request", Status.TERMINAL),
    (503, "", Status.NO_RESPONDERS),
])
def test_status_table(code: int, desc: str, action: Status) -> None:
    assert pull_action(code, desc) is action


def test_parse_pending_tolerates_missing_and_bad_values() -> None:
    assert parse_pending(None) == (0, 0)
    assert parse_pending({"Nats-Pending-Messages": "x", "Nats-Pending-Bytes": ["12"]}) == (0, 12)
