"""Streaming an object's chunks in and out, with bounded memory.

:class:`ObjectReader` is what ``ObjectStore.get_stream`` returns: a readable binary
file whose bytes come from the object's chunks as an ordered consumer delivers
them, digest and size checked at the end. :func:`source_chunks` cuts what
``put`` is given (bytes, str or a readable file) into chunks without reading
more than one chunk ahead.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, Callable, Iterator, List, Optional, Union

from .. import errors
from ._object_codec import decode_digest
from .api import ObjectInfo
from .errors import BadObjectMetaError, DigestMismatchError

__all__ = ["ObjectReader", "PutDigest", "source_chunks"]

PutSource = Union[bytes, bytearray, memoryview, str, Any]


def check_source(data: object) -> None:
    """Raise before anything is sent when ``data`` is nothing ``put`` can read."""
    if isinstance(data, (bytes, bytearray, memoryview, str)):
        return
    if callable(getattr(data, "read", None)) or callable(getattr(data, "readinto", None)):
        if isinstance(data, io.TextIOBase) and getattr(data, "buffer", None) is None:
            raise errors.Error(
                "nats: object store put was given a text stream without a binary buffer; "
                "open the file in binary mode ('rb') or pass bytes"
            )
        return
    raise errors.Error(
        f"nats: invalid type for object store: put takes bytes, str or a readable binary "
        f"file, not {type(data).__name__}"
    )


class PutDigest:
    """The SHA-256 of what a put sent, computed while the put waits for acks.

    :meth:`add` only notes a chunk; :meth:`catch_up` hashes what was noted, and the
    put calls it just before it blocks on a full window, so hashing fills time the
    put would spend waiting on the server. Chunks of one ``bytes`` object are hashed
    as one span (one GIL release for the whole window, not one per chunk); other
    chunks are kept until hashed, at most a window of them."""

    def __init__(self, whole: Optional[bytes]) -> None:
        self._sha = hashlib.sha256()
        self._whole = None if whole is None else memoryview(whole)
        self._chunks: List[Any] = []  # noted and not hashed yet (without ``whole``)
        self._sent = 0  # bytes noted
        self._done = 0  # bytes hashed

    def add(self, chunk: Any) -> None:
        self._sent += len(chunk)
        if self._whole is None:
            self._chunks.append(chunk)

    def catch_up(self, at_least: int = 0) -> None:
        """Hash what was noted, if it is at least ``at_least`` bytes (and any)."""
        if self._sent - self._done < max(at_least, 1):
            return
        if self._whole is not None:
            self._sha.update(self._whole[self._done:self._sent])
        else:
            for chunk in self._chunks:
                self._sha.update(chunk)
            self._chunks.clear()
        self._done = self._sent

    def digest(self) -> bytes:
        self.catch_up()
        return self._sha.digest()


def source_chunks(data: PutSource, chunk_size: int) -> Iterator[Union[bytes, memoryview]]:
    """Yield ``data`` in chunks of ``chunk_size`` bytes (the last may be shorter): views
    of a ``bytes`` object, copies of anything else."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if isinstance(data, bytes):  # immutable: its slices need no copy of their own
        whole = memoryview(data)
        for start in range(0, len(whole), chunk_size):
            yield whole[start : start + chunk_size]
        return
    if isinstance(data, (bytearray, memoryview)):  # may change under us: copy each chunk
        view = memoryview(data).cast("B")
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])
        return
    if isinstance(data, io.TextIOBase):
        check_source(data)
        data = getattr(data, "buffer")  # noqa: B009 - not every TextIOBase has one
    read: Callable[[int], Any] = data.read
    while True:
        first = read(chunk_size)
        if not first:
            return
        if isinstance(first, str):
            raise errors.Error(
                "nats: object store put read str from its source; open the file in binary "
                "mode ('rb') or pass bytes"
            )
        if len(first) == chunk_size:
            yield bytes(first)
            continue
        # A short read (a pipe, a socket, a raw file): fill the chunk before sending it.
        parts: List[bytes] = [bytes(first)]
        have = len(first)
        while have < chunk_size:
            more = read(chunk_size - have)
            if not more:
                break
            parts.append(bytes(more))
            have += len(more)
        yield b"".join(parts)
        if have < chunk_size:
            return


class ObjectReader(io.RawIOBase):
    """The bytes of one object, read from its chunks as they arrive.

    ``read(n)``, ``readinto``, ``readline``, iteration by lines, ``chunks()`` (the
    chunks as the server stores them) and ``with`` all work; at most the chunks the
    consumer's flow control lets in are held. After the last chunk the size and the
    SHA-256 digest are checked: a mismatch raises :class:`DigestMismatchError` from
    the read that reaches the end. ``close()`` stops the consumer.

    ``info`` is the object's :class:`ObjectInfo`.
    """

    def __init__(
        self,
        info: ObjectInfo,
        next_chunk: Optional[Callable[[], Any]],
        stop: Callable[[], None],
        timeout: float,
    ) -> None:
        super().__init__()
        self.info = info
        self._next_msg = next_chunk
        self._stop = stop
        self._timeout = timeout
        self._hash = hashlib.sha256()
        self._size = 0
        self._chunks = 0
        self._chunk = b""
        self._pos = 0
        self._eof = next_chunk is None
        if self._eof:
            self._verify()

    # -------------------------------------------------------------- chunks

    def _fetch(self) -> Optional[bytes]:
        """The next chunk, or None at the end of the object (after checking it)."""
        if self.closed:
            raise ValueError("I/O operation on a closed object reader")
        if self._eof or self._next_msg is None:
            return None
        try:
            msg = self._next_msg()
        except errors.TimeoutError:
            self._finish()
            raise errors.TimeoutError(
                f"nats: object {self.info.name!r} in bucket {self.info.bucket!r}: no chunk arrived "
                f"within {self._timeout:g}s after {self._chunks} of {self.info.chunks} chunks "
                f"({self._size:,} of {self.info.size:,} bytes); the chunks may have been purged, "
                "or the server is unreachable"
            ) from None
        data: bytes = msg.data
        self._hash.update(data)
        self._size += len(data)
        self._chunks += 1
        expected = self.info.size or 0
        if self._size > expected:
            self._finish()
            raise DigestMismatchError(
                f"nats: object {self.info.name!r} in bucket {self.info.bucket!r} has more bytes "
                f"than its info says ({self._size:,} > {expected:,}); it is corrupt"
            )
        if msg.metadata.num_pending == 0:
            self._finish()
            self._verify()
        return data

    def _finish(self) -> None:
        if not self._eof:
            self._eof = True
            self._stop()

    def _verify(self) -> None:
        info = self.info
        expected = info.size or 0
        if self._size != expected:
            raise DigestMismatchError(
                f"nats: object {info.name!r} in bucket {info.bucket!r} ended after {self._size:,} "
                f"bytes, its info says {expected:,}; it is incomplete or corrupt"
            )
        if not info.digest:
            if expected == 0:
                return
            raise BadObjectMetaError(
                f"nats: object {info.name!r} in bucket {info.bucket!r} has no digest in its info"
            )
        try:
            want = decode_digest(info.digest)
        except ValueError as exc:
            raise BadObjectMetaError(f"nats: object {info.name!r}: {exc}") from None
        if self._hash.digest() != want:
            raise DigestMismatchError(
                f"nats: object {info.name!r} in bucket {info.bucket!r}: the SHA-256 digest of the "
                f"bytes read does not match its info ({info.digest}); it is corrupt"
            )

    def chunks(self) -> Iterator[bytes]:
        """Yield the rest of the object, chunk by chunk (no copies)."""
        if self.closed:
            raise ValueError("I/O operation on a closed object reader")
        if self._pos < len(self._chunk):
            rest = self._chunk[self._pos :] if self._pos else self._chunk
            self._chunk, self._pos = b"", 0
            yield rest
        while True:
            chunk = self._fetch()
            if chunk is None:
                return
            if chunk:
                yield chunk

    # -------------------------------------------------------------- io.RawIOBase

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        """Make sure there are unread bytes in the current chunk; False at the end."""
        if self.closed:
            raise ValueError("I/O operation on a closed object reader")
        while self._pos >= len(self._chunk):
            chunk = self._fetch()
            if chunk is None:
                return False
            self._chunk, self._pos = chunk, 0
        return True

    def _take(self, n: int) -> bytes:
        start = self._pos
        self._pos = min(start + n, len(self._chunk))
        if start == 0 and self._pos == len(self._chunk):
            return self._chunk
        return self._chunk[start : self._pos]

    def readinto(self, buffer: Any) -> int:
        if not self._fill():
            return 0
        out = memoryview(buffer).cast("B")
        n = min(len(out), len(self._chunk) - self._pos)
        out[:n] = memoryview(self._chunk)[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, size: Optional[int] = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if size == 0 or not self._fill():
            return b""
        return self._take(size)

    def readall(self) -> bytes:
        return b"".join(self.chunks())

    def readline(self, size: Optional[int] = -1) -> bytes:
        limit = -1 if size is None else size
        parts: List[bytes] = []
        have = 0
        while (limit < 0 or have < limit) and self._fill():
            stop = len(self._chunk) if limit < 0 else min(len(self._chunk), self._pos + limit - have)
            end = self._chunk.find(b"\n", self._pos, stop)
            piece = self._take((stop if end < 0 else end + 1) - self._pos)
            parts.append(piece)
            have += len(piece)
            if end >= 0:
                break
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            self._chunk, self._pos = b"", 0
            try:
                self._finish()
            finally:
                super().close()
