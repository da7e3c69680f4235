"""The JetStream JSON API request layer (ADR-1), shared by both JetStream facades.

:class:`JSApi` sends a request to ``<prefix>.<suffix>`` (``$JS.API`` by default,
``$JS.<domain>.API`` with a domain, or an imported prefix), waits up to the
timeout, decodes the JSON answer and turns an ``{"error": ...}`` answer into the
most specific :mod:`natsync.js.errors` exception. A request nobody answers (no
responders) means JetStream is not enabled for this account or the prefix or
domain is wrong: that raises :class:`JetStreamNotEnabledError` saying so.

It uses only the client's public API (``request``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, Optional, Union

from natsync import errors as core_errors

from .api import DEFAULT_PREFIX
from .errors import Error, JetStreamNotEnabledError, api_error
from .names import validate_timeout

if TYPE_CHECKING:  # pragma: no cover
    from natsync._client_api import ClientAPI
    from natsync.msg import Msg

__all__ = ["JSApi", "api_prefix"]

Payload = Union[bytes, Dict[str, Any], None]


def api_prefix(prefix: Optional[str] = DEFAULT_PREFIX, domain: Optional[str] = None) -> str:
    """The API subject prefix for a domain or prefix (a domain wins, as in nats-py)."""
    if domain is not None:
        if not isinstance(domain, str) or not domain or any(
                c in domain for c in ".*> \t\r\n"):
            raise core_errors.BadSubjectError(
                f"nats: invalid JetStream domain {domain!r}: use a non-empty name without "
                "'.', '*', '>' or whitespace")
        return f"$JS.{domain}.API"
    if prefix is None or prefix == "":
        return DEFAULT_PREFIX
    if not isinstance(prefix, str) or any(c in prefix for c in "*> \t\r\n"):
        raise core_errors.BadSubjectError(
            f"nats: invalid JetStream API prefix {prefix!r}: use a subject such as '$JS.API' "
            "or the prefix an account import maps")
    return prefix.rstrip(".")


class JSApi:
    """Requests to the JetStream API of one account, with one prefix and default timeout."""

    def __init__(self, nc: ClientAPI, prefix: Optional[str] = DEFAULT_PREFIX,
                 domain: Optional[str] = None, timeout: float = 5.0) -> None:
        self.nc = nc
        self.prefix = api_prefix(prefix, domain)
        self.domain = domain
        self.timeout = validate_timeout(timeout)

    def subject(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    def raw(self, suffix: str, payload: bytes = b"", timeout: Optional[float] = None,
            headers: Optional[Dict[str, Any]] = None) -> Msg:
        """The raw answer to a request on ``<prefix>.<suffix>`` (no JSON decoding)."""
        timeout = self.timeout if timeout is None else validate_timeout(timeout)
        subject = self.subject(suffix)
        try:
            return self.nc.request(subject, payload, timeout=timeout, headers=headers)
        except core_errors.NoRespondersError:
            raise self.not_enabled(subject) from None
        except core_errors.TimeoutError:
            raise core_errors.TimeoutError(
                f"nats: JetStream API request {subject} got no answer within {timeout}s; the "
                "server may be busy or electing a leader: retry, or pass a longer timeout"
            ) from None

    def request(self, suffix: str, payload: Payload = None,
                timeout: Optional[float] = None) -> Dict[str, Any]:
        """The decoded JSON answer; raises the mapped :class:`APIError` for an error answer."""
        if payload is None:
            data = b""
        elif isinstance(payload, dict):
            data = json.dumps(payload, separators=(",", ":")).encode()
        else:
            data = bytes(payload)
        msg = self.raw(suffix, data, timeout)
        return decode(msg, self.subject(suffix))

    def not_enabled(self, subject: str) -> JetStreamNotEnabledError:
        where = f"domain {self.domain!r}" if self.domain else f"prefix {self.prefix!r}"
        return JetStreamNotEnabledError(
            code=503, err_code=None,
            description=(
                f"nobody answered the JetStream API request on {subject}: JetStream is not "
                f"enabled for this account or server (start nats-server with -js, or enable "
                f"jetstream in its config and the account), or the {where} is wrong"))


def decode(msg: Msg, subject: str = "") -> Dict[str, Any]:
    """The JSON body of an API answer, or the error it carries, raised."""
    if msg.status is not None and not msg.data:
        headers = msg.headers or {}
        desc = headers.get("Description", "")
        raise api_error({"code": msg.status, "description": desc or f"status {msg.status}"})
    try:
        resp = json.loads(msg.data)
    except ValueError:
        raise Error(f"the JetStream API answer on {subject} is not JSON: {msg.data[:80]!r}") from None
    if not isinstance(resp, dict):
        raise Error(f"the JetStream API answer on {subject} is not a JSON object: {msg.data[:80]!r}")
    err = resp.get("error")
    if err is not None:
        raise api_error(err if isinstance(err, dict) else {"description": str(err)})
    return resp


