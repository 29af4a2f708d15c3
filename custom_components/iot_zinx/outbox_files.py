"""The files of webhook forwarding's outbox: storage keys, stored formats, one segment.

Layout on disk (Home Assistant `Store` files in `.storage/`, private, written atomically):

* `iot_zinx.forwarding` — the index: live segment numbers, which of their entries are done,
  the retry state of queue heads, per-endpoint statistics and the dead letters.
* `iot_zinx.forwarding_outbox.<n>` — segments: up to `segment_entries` events (or
  `segment_bytes` of bodies) with the endpoint credentials they need.

Why segments: an enqueue must be on disk before the action returns, and rewriting one file
holding the whole backlog on every enqueue would cost O(backlog) per event (and wear out the
SD cards many Home Assistant hosts run on). An enqueue rewrites only the small head segment.
A segment is deleted once every event in it is delivered or dead-lettered, and rewritten with
only its pending events when most of it is done, so memory and disk hold about the backlog.

Every file is replaced atomically with two fsyncs (`write_durably`): the new file's, so its
content is on disk before its name is, and the directory's, so the rename is: without it a
crash could bring back the previous file, which lacks the events just acknowledged. Writers
share them: see `outbox_commit.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
import contextlib
import os
import tempfile
from typing import Any, Final, NotRequired, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import STORAGE_DIR, Store
from homeassistant.util.file import WriteError

from .const import DOMAIN
from .outbox_records import DeadLetter, Endpoint, EndpointStats, OutboxEntry

STORAGE_VERSION: Final = 1
INDEX_KEY: Final = f"{DOMAIN}.forwarding"
SEGMENT_KEY_PREFIX: Final = f"{DOMAIN}.forwarding_outbox."


def segment_key(number: int) -> str:
    """Storage key of segment `number`."""
    return f"{SEGMENT_KEY_PREFIX}{number:08d}"


def fsync(fd: int) -> None:
    """Flush a file or directory to disk: every fsync of the outbox's files goes through here.

    A name of its own so the tests and the benchmark can count the calls.
    """
    os.fsync(fd)


def write_durably(path: str, data: str | bytes) -> None:
    """Replace `path` with `data` all or nothing, and return only once both are on disk.

    Raises WriteError; the previous file is then intact (the new content went to a temporary
    file that is removed).
    """
    directory = os.path.dirname(path)
    payload = data.encode() if isinstance(data, str) else data
    try:
        os.makedirs(directory, exist_ok=True)
        # mkstemp creates the file with mode 0600, as Store's private files are.
        fd, temporary = tempfile.mkstemp(
            dir=directory, prefix=f"{os.path.basename(path)}.", suffix=".tmp"
        )
    except OSError as err:
        raise WriteError(err) from err
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(payload)
            file.flush()
            fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise WriteError(err) from err
    try:
        directory_fd = os.open(directory, os.O_RDONLY)
        try:
            fsync(directory_fd)
        finally:
            os.close(directory_fd)
    except OSError as err:
        raise WriteError(err) from err


class DurableStore[T: Mapping[str, Any] | Sequence[Any]](Store[T]):
    """A Store of the outbox: files written by `write_durably`, and a write that can fail.

    `Store.async_save` logs a failed write and returns as if it had succeeded; an enqueue must
    not be acknowledged then, so `async_write` raises instead. Files are always private (0600):
    they hold the endpoints' credentials.
    """

    async def async_write(self, data: T) -> None:
        """Write `data` now (Store's file format); raise HomeAssistantError when it fails."""
        await self._async_write_data(
            {
                "version": self.version,
                "minor_version": self.minor_version,
                "key": self.key,
                "data": data,
            }
        )

    def _write_prepared_data(self, mode: str, json_data: str | bytes) -> None:
        """Write in the executor, as Store does, with our two fsyncs."""
        write_durably(self.path, json_data)


# Raised by DurableStore.async_write: WriteError, or SerializationError (never with our data).
WRITE_ERRORS: Final = (HomeAssistantError, OSError)


class _EndpointData(TypedDict):
    url: str
    token: NotRequired[str]
    api_key: NotRequired[str]
    secret: NotRequired[str]


class _EntryData(TypedDict):
    seq: int
    endpoint: str
    device_id: str
    event_id: str
    event_type: str
    body: str
    enqueued_at: float


class _SegmentData(TypedDict):
    endpoints: dict[str, _EndpointData]
    entries: list[_EntryData]


class _StatsData(TypedDict):
    url: str
    delivered: int
    dead_letters: int
    last_success: float | None
    last_error: str | None
    last_error_at: float | None
    failing_since: float | None
    last_activity: float


class _DeadLetterData(TypedDict):
    endpoint_key: str
    url: str
    event_id: str
    event_type: str
    device_id: str
    reason: str
    status: int | None
    failures: int
    enqueued_at: float
    dead_at: float
    body: str


class _IndexData(TypedDict):
    next_seq: int
    next_segment: int
    segments: list[int]
    done: dict[str, list[int]]
    retries: dict[str, tuple[int, float, str | None]]
    endpoints: dict[str, _StatsData]
    dead_letters: list[_DeadLetterData]


def _dead_letter_from_data(data: _DeadLetterData) -> DeadLetter:
    """A stored dead letter; its ``device_id`` key (the station id) stays, so old outboxes load."""
    return DeadLetter(
        endpoint_key=data["endpoint_key"],
        url=data["url"],
        event_id=data["event_id"],
        event_type=data["event_type"],
        station_id=data["device_id"],
        reason=data["reason"],
        status=data["status"],
        failures=data["failures"],
        enqueued_at=data["enqueued_at"],
        dead_at=data["dead_at"],
        body=data["body"],
    )


def _dead_letter_to_data(letter: DeadLetter) -> _DeadLetterData:
    return {
        "endpoint_key": letter.endpoint_key,
        "url": letter.url,
        "event_id": letter.event_id,
        "event_type": letter.event_type,
        "device_id": letter.station_id,
        "reason": letter.reason,
        "status": letter.status,
        "failures": letter.failures,
        "enqueued_at": letter.enqueued_at,
        "dead_at": letter.dead_at,
        "body": letter.body,
    }


def _stats_to_data(stats: EndpointStats) -> _StatsData:
    return {
        "url": stats.url,
        "delivered": stats.delivered,
        "dead_letters": stats.dead_letters,
        "last_success": stats.last_success,
        "last_error": stats.last_error,
        "last_error_at": stats.last_error_at,
        "failing_since": stats.failing_since,
        "last_activity": stats.last_activity,
    }


def _endpoint_to_data(endpoint: Endpoint) -> _EndpointData:
    data: _EndpointData = {"url": endpoint.url}
    if endpoint.token:
        data["token"] = endpoint.token
    if endpoint.api_key:
        data["api_key"] = endpoint.api_key
    if endpoint.secret:
        data["secret"] = endpoint.secret
    return data


def _endpoint_from_data(data: _EndpointData) -> Endpoint:
    return Endpoint(data["url"], data.get("token"), data.get("api_key"), data.get("secret"))


class _Segment:
    """One segment file and what of it is in memory (pending entries only)."""

    __slots__ = (
        "appended",
        "done",
        "endpoints",
        "entries",
        "idle",
        "number",
        "registered",
        "removing",
        "rewriting",
        "saves",
        "sealed",
        "size",
        "store",
    )

    def __init__(self, hass: HomeAssistant, number: int, *, sealed: bool) -> None:
        self.number = number
        # Not serialised in the event loop: snapshots are fresh objects nobody mutates.
        self.store: DurableStore[_SegmentData] = DurableStore(
            hass,
            STORAGE_VERSION,
            segment_key(number),
            private=True,
            atomic_writes=True,
            serialize_in_event_loop=False,
        )
        self.entries: dict[int, OutboxEntry] = {}  # pending, in seq order
        self.endpoints: dict[str, Endpoint] = {}
        self.done: set[int] = set()  # finished, but possibly still in the file
        self.appended = 0
        self.size = 0
        self.sealed = sealed
        self.registered: asyncio.Task[None] | None = None  # index write listing this segment
        self.saves = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.removing = False
        self.rewriting = False

    def snapshot(self) -> tuple[_SegmentData, frozenset[int]]:
        """What to write (pending entries) and the done seqs this write drops from the file."""
        used = {entry.endpoint_key for entry in self.entries.values()}
        data: _SegmentData = {
            "endpoints": {
                key: _endpoint_to_data(endpoint)
                for key, endpoint in self.endpoints.items()
                if key in used
            },
            "entries": [
                {
                    "seq": entry.seq,
                    "endpoint": entry.endpoint_key,
                    "device_id": entry.station_id,
                    "event_id": entry.event_id,
                    "event_type": entry.event_type,
                    "body": entry.body.decode(),
                    "enqueued_at": entry.enqueued_at,
                }
                for entry in self.entries.values()
            ],
        }
        return data, frozenset(self.done)


def discover_segments(hass: HomeAssistant) -> list[int]:
    """Segment numbers of the segment files present in `.storage`."""
    try:
        names = os.listdir(hass.config.path(STORAGE_DIR))
    except OSError:
        return []
    numbers = []
    for name in names:
        suffix = name.removeprefix(SEGMENT_KEY_PREFIX)
        if suffix != name and suffix.isdigit():
            numbers.append(int(suffix))
    return numbers
