"""A read-only, dict-like view of a protocol ``cloudstate.Metadata``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from cloudstate.protocol import entity_pb2


class Metadata(Mapping[str, str | bytes]):
    """Metadata entries (request headers, CloudEvent attributes) of a command.

    Keys are case-insensitive. ``metadata[key]`` is the first value for ``key``; use
    :meth:`get_all` when a key repeats::

        user_agent = ctx.metadata.get("user-agent", "")
    """

    def __init__(self, proto: entity_pb2.Metadata | None = None) -> None:
        self._entries: list[tuple[str, str | bytes]] = []
        if proto is not None:
            for entry in proto.entries:
                value: str | bytes = entry.string_value
                if entry.WhichOneof("value") == "bytes_value":
                    value = entry.bytes_value
                self._entries.append((entry.key, value))

    def __getitem__(self, key: str) -> str | bytes:
        wanted = key.lower()
        for name, value in self._entries:
            if name.lower() == wanted:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self._entries:
            if name.lower() not in seen:
                seen.add(name.lower())
                yield name

    def __len__(self) -> int:
        return len({name.lower() for name, _ in self._entries})

    def get_all(self, key: str) -> list[str | bytes]:
        """Every value of ``key``, in order."""
        wanted = key.lower()
        return [value for name, value in self._entries if name.lower() == wanted]

    def entries(self) -> list[tuple[str, str | bytes]]:
        """All ``(key, value)`` pairs in their original order and spelling."""
        return list(self._entries)

    def __repr__(self) -> str:
        return f"Metadata({self._entries!r})"
