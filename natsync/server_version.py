"""ServerVersion: the connected server's version, comparable with a version string."""

from __future__ import annotations

import re
from typing import Tuple, Union

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-(.+))?")


class ServerVersion:
    """``major``, ``minor``, ``patch`` and ``dev`` of a server version ("2.10.4-beta")."""

    __slots__ = ("_raw", "major", "minor", "patch", "dev")

    def __init__(self, raw: str) -> None:
        self._raw = raw
        m = _SEMVER.match(raw.strip()) if raw else None
        if m:
            self.major, self.minor, self.patch = int(m[1]), int(m[2]), int(m[3])
            self.dev = m[4] or ""
        else:
            self.major = self.minor = self.patch = 0
            self.dev = ""

    def _key(self) -> Tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    @staticmethod
    def _other(other: object) -> Union[ServerVersion, None]:
        if isinstance(other, ServerVersion):
            return other
        if isinstance(other, str):
            return ServerVersion(other)
        return None

    def __eq__(self, other: object) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else (self._key(), self.dev) == (o._key(), o.dev)

    def __lt__(self, other: object) -> bool:
        o = self._other(other)
        if o is None:
            return NotImplemented
        if self._key() != o._key():
            return self._key() < o._key()
        # a pre-release sorts before the release
        return bool(self.dev) and (not o.dev or self.dev < o.dev)

    def __le__(self, other: object) -> bool:
        return self == other or self < other

    def __gt__(self, other: object) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else o < self

    def __ge__(self, other: object) -> bool:
        return self == other or self > other

    def __hash__(self) -> int:
        return hash((self._key(), self.dev))

    def __str__(self) -> str:
        return self._raw

    def __repr__(self) -> str:
        return f"<ServerVersion {self._raw}>"
