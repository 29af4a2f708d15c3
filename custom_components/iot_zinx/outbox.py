"""The durable outbox of webhook forwarding: events survive restarts and crashes until delivered.

Its files (the index and the segments, and why segments) are described in `outbox_files.py`.
Only enqueues are written synchronously, concurrent ones together (`outbox_commit.py`).
Progress (done markers, retry state, statistics) is written a moment later; a crash in between
makes a few events be delivered again, which the contract allows (at-least-once: a receiver
de-duplicates on `event_id`, and the redelivered body is byte-identical).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine, Iterable
import contextlib
import logging
from typing import Any, Final

from homeassistant.core import HomeAssistant

from .const import DOMAIN
from .outbox_commit import GroupCommit
from .outbox_files import (
    INDEX_KEY,
    STORAGE_VERSION,
    WRITE_ERRORS,
    DurableStore,
    _dead_letter_from_data,
    _dead_letter_to_data,
    _endpoint_from_data,
    _IndexData,
    _Segment,
    _stats_to_data,
    discover_segments,
    segment_key,
)
from .outbox_records import (
    DeadLetter,
    Endpoint,
    EndpointStats,
    OutboxEntry,
    RetryState,
    endpoint_name,
    strip_credentials,
)

__all__ = [
    "INDEX_KEY",
    "DeadLetter",
    "Endpoint",
    "Outbox",
    "OutboxEntry",
    "endpoint_name",
    "segment_key",
    "strip_credentials",
]

_LOGGER = logging.getLogger(__name__)

DEFAULT_SEGMENT_ENTRIES: Final = 100
DEFAULT_SEGMENT_BYTES: Final = 64 * 1024
DEFAULT_MAX_DEAD_LETTERS: Final = 200
# Progress is written this long after it changes; see the module docstring.
INDEX_SAVE_DELAY: Final = 2.0
# A sealed segment is rewritten without its finished events once they outnumber the pending
# ones and are at least this many, so one stuck event cannot pin a whole file in memory.
COMPACT_MIN_DONE: Final = 32


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
        self._index: DurableStore[_IndexData] = DurableStore(
            hass, STORAGE_VERSION, INDEX_KEY, private=True, atomic_writes=True
        )
        self._segments: dict[int, _Segment] = {}
        self._segment_of: dict[int, _Segment] = {}  # pending seq -> its segment
        self._head: _Segment | None = None
        self._next_seq = 1
        self._next_segment = 1
        self._tasks: set[asyncio.Task[None]] = set()
        self._naming_next: asyncio.Task[None] | None = None  # index write naming the next segment
        self._commit = GroupCommit(hass, self._async_write)
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
            numbers.add(index["next_segment"])  # written, maybe, after the index (see _new_segment)
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
        numbers.update(await self._hass.async_add_executor_job(discover_segments, self._hass))

        pending: list[OutboxEntry] = []
        for number in sorted(numbers):
            # Loaded segments take no more appends; new events start a new segment.
            segment = _Segment(self._hass, number, sealed=True)
            data = await segment.store.async_load()
            if data is None:
                continue
            self._next_segment = max(self._next_segment, number + 1)
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
        the order of this call, never the order in which writes happen to finish. Concurrent
        appends share one write (`outbox_commit.py`); the coroutine raises HomeAssistantError
        when the write covering this event fails.
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
        # The index must name a segment before the segment file exists, or a crash in between
        # would leave a file nobody looks for. Each index write names the next segment to come
        # too (`next_segment`, loaded as well), so this one was named by the write made when
        # the previous segment started, long done: its first write need not wait for the
        # index (the group commit would stall on it at every new segment). After a start,
        # the first segment waits for its own.
        write = self._hass.async_create_task(
            self._async_save_index(), f"{DOMAIN} outbox index", eager_start=True
        )
        segment.registered = self._naming_next or write
        self._naming_next = write
        return segment

    def _write_segment(self, segment: _Segment) -> Coroutine[Any, Any, None]:
        # Counted before the coroutine runs, so a removal can never overtake a queued write.
        segment.saves += 1
        segment.idle.clear()
        return self._async_wait_written(segment, self._commit.request(segment))

    async def _async_wait_written(self, segment: _Segment, written: asyncio.Future[None]) -> None:
        try:
            await written
        finally:
            segment.saves -= 1
            if not segment.saves:
                segment.idle.set()

    async def _async_write(self, segment: _Segment) -> None:
        """Write one segment for the group commit: its snapshot holds every pending event."""
        data, dropped = segment.snapshot()
        await segment.store.async_write(data)
        if dropped:
            segment.done -= dropped
            self.changed()

    async def async_commit(self) -> None:
        """Return once every event appended so far is on disk (raises when a write fails)."""
        if not self._commit.idle:
            await self._commit.request(None)

    @property
    def commits(self) -> int:
        """Batches written by the group commit so far."""
        return self._commit.batches

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
        except WRITE_ERRORS:
            pass  # logged by the group commit; the file keeps the finished events a while longer
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
            "endpoints": {key: _stats_to_data(stats) for key, stats in self.stats.items()},
            "dead_letters": [_dead_letter_to_data(letter) for letter in self.dead_letters],
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
        with contextlib.suppress(*WRITE_ERRORS):  # logged by the group commit
            await self.async_commit()
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
