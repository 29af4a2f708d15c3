"""The durable outbox of webhook forwarding: events survive restarts and crashes until delivered.

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

Only enqueues are written synchronously. Progress (done markers, retry state, statistics) is
written a moment later; a crash in between makes a few events be delivered again, which the
contract allows (at-least-once: a receiver de-duplicates on `event_id`, and the redelivered
body is byte-identical).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
import hashlib
import logging
import os
from typing import Any, Final, NotRequired, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import STORAGE_DIR, Store
from yarl import URL

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION: Final = 1
INDEX_KEY: Final = f"{DOMAIN}.forwarding"
SEGMENT_KEY_PREFIX: Final = f"{DOMAIN}.forwarding_outbox."

DEFAULT_SEGMENT_ENTRIES: Final = 100
DEFAULT_SEGMENT_BYTES: Final = 64 * 1024
DEFAULT_MAX_DEAD_LETTERS: Final = 200
# Progress is written this long after it changes; see the module docstring.
INDEX_SAVE_DELAY: Final = 2.0
# A sealed segment is rewritten without its finished events once they outnumber the pending
# ones and are at least this many, so one stuck event cannot pin a whole file in memory.
COMPACT_MIN_DONE: Final = 32


def segment_key(number: int) -> str:
    """Storage key of segment `number`."""
    return f"{SEGMENT_KEY_PREFIX}{number:08d}"


def endpoint_key(url: str, token: str | None, api_key: str | None, secret: str | None) -> str:
    """Identity of an endpoint: URL plus a fingerprint of its credentials, never the credentials.

    Changing a token makes a new endpoint: its events are sent with the new token while those
    queued with the old one keep theirs.
    """
    material = "\0".join((url, token or "", api_key or "", secret or ""))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def strip_credentials(url: str) -> str:
    """The URL as shown to people: without user info, query and fragment (tokens hide there)."""
    try:
        parsed = URL(url)
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except TypeError, ValueError:
        return "<invalid URL>"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to deliver: the action's url and credentials."""

    url: str
    token: str | None = None
    api_key: str | None = None
    secret: str | None = None
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        """Compute the identity once."""
        object.__setattr__(
            self, "key", endpoint_key(self.url, self.token, self.api_key, self.secret)
        )

    def __repr__(self) -> str:
        """Never print credentials (this ends up in logs)."""
        return f"Endpoint({self.display_url!r}, key={self.key})"

    @property
    def display_url(self) -> str:
        """The URL with credentials stripped."""
        return strip_credentials(self.url)


def endpoint_name(url: str) -> str:
    """A short name for an endpoint's device: host (and explicit port) plus path."""
    try:
        parsed = URL(url)
    except TypeError, ValueError:
        return url
    host = parsed.host or url
    if parsed.explicit_port is not None:
        host = f"{host}:{parsed.explicit_port}"
    path = parsed.path.rstrip("/")
    return f"{host}{path}"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One queued event for one endpoint. Immutable: every attempt sends `body` as is."""

    seq: int
    endpoint_key: str
    station_id: str
    event_id: str
    event_type: str
    body: bytes
    enqueued_at: float


@dataclass(slots=True)
class RetryState:
    """Why and until when the head of a queue waits."""

    failures: int = 0
    next_at: float = 0.0
    error: str | None = None


@dataclass(slots=True)
class EndpointStats:
    """Per-endpoint counters and times (Unix seconds) shown by sensors and diagnostics."""

    url: str
    delivered: int = 0
    dead_letters: int = 0
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    failing_since: float | None = None
    last_activity: float = 0.0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event given up on, kept (bounded) for diagnostics and manual replay."""

    endpoint_key: str
    url: str
    event_id: str
    event_type: str
    station_id: str
    reason: str
    status: int | None
    failures: int
    enqueued_at: float
    dead_at: float
    body: str


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
        self.store: Store[_SegmentData] = Store(
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


class Outbox:
    """The durable store of pending events, progress, statistics and dead letters."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        segment_entries: int = DEFAULT_SEGMENT_ENTRIES,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        max_dead_letters: int = DEFAULT_MAX_DEAD_LETTERS,
    ) -> None:
        """Create an empty outbox; call `async_load` before use."""
        self._hass = hass
        self._segment_entries = segment_entries
        self._segment_bytes = segment_bytes
        self._max_dead_letters = max_dead_letters
        self._index: Store[_IndexData] = Store(
            hass, STORAGE_VERSION, INDEX_KEY, private=True, atomic_writes=True
        )
        self._segments: dict[int, _Segment] = {}
        self._segment_of: dict[int, _Segment] = {}  # pending seq -> its segment
        self._head: _Segment | None = None
        self._next_seq = 1
        self._next_segment = 1
        self._tasks: set[asyncio.Task[None]] = set()
        self.endpoints: dict[str, Endpoint] = {}
        self.stats: dict[str, EndpointStats] = {}
        self.retries: dict[int, RetryState] = {}
        self.dead_letters: deque[DeadLetter] = deque()

    # -- loading ----------------------------------------------------------------------------

    async def async_load(self) -> list[OutboxEntry]:
        """Read index and segments; return the pending entries in enqueue order."""
        index = await self._index.async_load()
        done: dict[int, set[int]] = {}
        numbers: set[int] = set()
        if index is not None:
            self._next_seq = index["next_seq"]
            self._next_segment = index["next_segment"]
            numbers.update(index["segments"])
            done = {int(number): set(seqs) for number, seqs in index["done"].items()}
            for key, stats_data in index["endpoints"].items():
                self.stats[key] = EndpointStats(**stats_data)
            self.dead_letters.extend(map(_dead_letter_from_data, index["dead_letters"]))
            retries = {
                int(seq): RetryState(failures, next_at, error)
                for seq, (failures, next_at, error) in index["retries"].items()
            }
        else:
            retries = {}
        # A lost or corrupt index must not lose the segments: find them by file name too.
        numbers.update(await self._hass.async_add_executor_job(self._discover_segments))

        pending: list[OutboxEntry] = []
        for number in sorted(numbers):
            # Loaded segments take no more appends; new events start a new segment.
            segment = _Segment(self._hass, number, sealed=True)
            data = await segment.store.async_load()
            self._next_segment = max(self._next_segment, number + 1)
            if data is None:
                continue
            self._segments[number] = segment
            finished = done.get(number, set())
            endpoints = {
                key: _endpoint_from_data(endpoint) for key, endpoint in data["endpoints"].items()
            }
            for item in data["entries"]:
                self._next_seq = max(self._next_seq, item["seq"] + 1)
                if item["seq"] in finished:
                    segment.done.add(item["seq"])
                    continue
                if (endpoint := endpoints.get(item["endpoint"])) is None:
                    _LOGGER.error(
                        "Outbox segment %s holds event %s without its endpoint; skipped",
                        number,
                        item["event_id"],
                    )
                    continue
                entry = OutboxEntry(
                    seq=item["seq"],
                    endpoint_key=item["endpoint"],
                    station_id=item["device_id"],
                    event_id=item["event_id"],
                    event_type=item["event_type"],
                    body=item["body"].encode(),
                    enqueued_at=item["enqueued_at"],
                )
                segment.entries[entry.seq] = entry
                self._segment_of[entry.seq] = segment
                segment.endpoints[endpoint.key] = endpoint
                self.endpoints.setdefault(endpoint.key, endpoint)
                stats = self.stats.setdefault(endpoint.key, EndpointStats(endpoint.url))
                stats.last_activity = max(stats.last_activity, entry.enqueued_at)
                pending.append(entry)
            if not segment.entries:
                self._schedule(self._async_remove(segment))

        live = {entry.seq for entry in pending}
        self.retries = {seq: state for seq, state in retries.items() if seq in live}
        pending.sort(key=lambda entry: entry.seq)
        return pending

    def _discover_segments(self) -> list[int]:
        """Segment numbers of the segment files present in `.storage`."""
        try:
            names = os.listdir(self._hass.config.path(STORAGE_DIR))
        except OSError:
            return []
        numbers = []
        for name in names:
            suffix = name.removeprefix(SEGMENT_KEY_PREFIX)
            if suffix != name and suffix.isdigit():
                numbers.append(int(suffix))
        return numbers

    def forget_endpoints(self, keys: Iterable[str]) -> None:
        """Drop the statistics of endpoints nobody uses any more."""
        for key in keys:
            self.stats.pop(key, None)
            self.endpoints.pop(key, None)
        self.changed()

    # -- appending --------------------------------------------------------------------------

    def append(
        self,
        endpoint: Endpoint,
        *,
        station_id: str,
        event_id: str,
        event_type: str,
        body: bytes,
        now: float,
    ) -> tuple[OutboxEntry, Coroutine[Any, Any, None]]:
        """Queue an event in memory now; the returned coroutine returns once it is on disk.

        The entry exists (and may be delivered) before it is durable, so enqueue order is
        the order of this call, never the order in which writes happen to finish.
        """
        segment = self._head
        if segment is None or segment.sealed:
            segment = self._head = self._new_segment()
        entry = OutboxEntry(
            seq=self._next_seq,
            endpoint_key=endpoint.key,
            station_id=station_id,
            event_id=event_id,
            event_type=event_type,
            body=body,
            enqueued_at=now,
        )
        self._next_seq += 1
        segment.entries[entry.seq] = entry
        self._segment_of[entry.seq] = segment
        segment.endpoints.setdefault(endpoint.key, endpoint)
        segment.appended += 1
        segment.size += len(body)
        if segment.appended >= self._segment_entries or segment.size >= self._segment_bytes:
            segment.sealed = True
        self.endpoints.setdefault(endpoint.key, endpoint)
        stats = self.stats.setdefault(endpoint.key, EndpointStats(endpoint.url))
        stats.last_activity = now
        return entry, self._write_segment(segment)

    def _new_segment(self) -> _Segment:
        number = self._next_segment
        self._next_segment += 1
        segment = _Segment(self._hass, number, sealed=False)
        self._segments[number] = segment
        # The index must list a segment before the segment file exists, or a crash in between
        # would leave a file nobody looks for. Writes of the segment wait for this one.
        segment.registered = self._hass.async_create_task(
            self._async_save_index(), f"{DOMAIN} outbox index", eager_start=True
        )
        return segment

    def _write_segment(self, segment: _Segment) -> Coroutine[Any, Any, None]:
        # Counted before the coroutine runs, so a removal can never overtake a queued write.
        segment.saves += 1
        segment.idle.clear()
        return self._async_write_segment(segment)

    async def _async_write_segment(self, segment: _Segment) -> None:
        try:
            if segment.registered is not None:
                await segment.registered
            data, dropped = segment.snapshot()
            # Store coalesces concurrent saves: this returns once this snapshot, or a later
            # one (which holds everything this one does), is written.
            await segment.store.async_save(data)
            if dropped:
                segment.done -= dropped
                self.changed()
        finally:
            segment.saves -= 1
            if not segment.saves:
                segment.idle.set()

    # -- progress ---------------------------------------------------------------------------

    def complete(self, entry: OutboxEntry) -> None:
        """Mark an entry delivered or dead-lettered; written shortly after."""
        self.retries.pop(entry.seq, None)
        if (segment := self._segment_of.pop(entry.seq, None)) is not None:
            del segment.entries[entry.seq]
            segment.done.add(entry.seq)
            self._tidy(segment)
        self.changed()

    def _tidy(self, segment: _Segment) -> None:
        if not segment.sealed or segment.removing:
            return
        if not segment.entries:
            segment.removing = True
            self._schedule(self._async_remove(segment))
        elif (
            not segment.rewriting
            and len(segment.done) >= COMPACT_MIN_DONE
            and len(segment.done) > len(segment.entries)
        ):
            segment.rewriting = True
            self._schedule(self._async_rewrite(segment))

    async def _async_rewrite(self, segment: _Segment) -> None:
        try:
            await self._write_segment(segment)
        finally:
            segment.rewriting = False

    async def _async_remove(self, segment: _Segment) -> None:
        segment.removing = True
        await segment.idle.wait()
        if segment.entries:  # pragma: no cover - sealed segments take no appends
            segment.removing = False
            return
        # Delete the file first: an index still listing a missing segment is harmless.
        await segment.store.async_remove()
        self._segments.pop(segment.number, None)
        if self._head is segment:
            self._head = None
        self.changed()

    def add_dead_letter(self, letter: DeadLetter) -> None:
        """Keep a dead letter; the oldest are dropped (logged) beyond the bound."""
        self.dead_letters.append(letter)
        while len(self.dead_letters) > self._max_dead_letters:
            dropped = self.dead_letters.popleft()
            _LOGGER.warning(
                "Dead-letter list full (%s); discarding the oldest: %s event %s of %s for %s",
                self._max_dead_letters,
                dropped.event_type,
                dropped.event_id,
                dropped.station_id,
                strip_credentials(dropped.url),
            )
        self.changed()

    def clear_dead_letters(self, endpoint_key: str | None = None) -> int:
        """Forget dead letters (of one endpoint, or all); returns how many."""
        before = len(self.dead_letters)
        self.dead_letters = deque(
            letter
            for letter in self.dead_letters
            if endpoint_key is not None and letter.endpoint_key != endpoint_key
        )
        self.changed()
        return before - len(self.dead_letters)

    # -- persistence of the index -----------------------------------------------------------

    def changed(self) -> None:
        """Progress, statistics or dead letters changed: write the index soon."""
        self._index.async_delay_save(self._index_data, INDEX_SAVE_DELAY)

    async def _async_save_index(self) -> None:
        await self._index.async_save(self._index_data())

    def _index_data(self) -> _IndexData:
        return {
            "next_seq": self._next_seq,
            "next_segment": self._next_segment,
            "segments": sorted(self._segments),
            "done": {
                str(number): sorted(segment.done)
                for number, segment in self._segments.items()
                if segment.done
            },
            "retries": {
                str(seq): (state.failures, state.next_at, state.error)
                for seq, state in self.retries.items()
            },
            "endpoints": {
                key: {
                    "url": stats.url,
                    "delivered": stats.delivered,
                    "dead_letters": stats.dead_letters,
                    "last_success": stats.last_success,
                    "last_error": stats.last_error,
                    "last_error_at": stats.last_error_at,
                    "failing_since": stats.failing_since,
                    "last_activity": stats.last_activity,
                }
                for key, stats in self.stats.items()
            },
            "dead_letters": [
                {
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
                for letter in self.dead_letters
            ],
        }

    def _schedule(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._hass.async_create_task(coro, f"{DOMAIN} outbox", eager_start=True)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def async_flush(self) -> None:
        """Finish pending file operations and write the index now (on stop)."""
        # Not `while self._tasks`: a task that finished eagerly leaves the set only in a later
        # loop iteration, and gathering finished tasks does not yield to let that happen.
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.gather(*pending)
        for segment in list(self._segments.values()):
            await segment.idle.wait()
        await self._async_save_index()

    # -- figures ----------------------------------------------------------------------------

    @property
    def segment_count(self) -> int:
        """Number of live segment files."""
        return len(self._segments)

    @property
    def pending_count(self) -> int:
        """Number of events not yet delivered or dead-lettered."""
        return len(self._segment_of)
