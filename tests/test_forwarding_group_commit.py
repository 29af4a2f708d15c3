"""The outbox's group commit: concurrent `forward_event` calls share one durable write."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import os
from pathlib import Path
import stat
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.json import json_bytes
from homeassistant.util.file import WriteError
import pytest

from custom_components.iot_zinx import outbox_files
from custom_components.iot_zinx.forwarding import ForwardingManager
from custom_components.iot_zinx.outbox import Endpoint, segment_key
from custom_components.iot_zinx.outbox_files import DurableStore, write_durably

from .forwarding_support import (  # noqa: F401 - fixtures
    STATION_A,
    envelope,
    event_id,
    forward,
    manager_fixture,
    receiver_fixture,
    settings_fixture,
    view,
)
from .webhook_receiver import Receiver, wait_until

STATIONS = ("04A228CD", "04AB373B", "04A20001", "04A20002", "04A20003")


class GatedWrites:
    """Segment writes held at a gate, recorded once done; a write may be made to fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate = asyncio.Event()
        self.started = 0
        self.done: list[tuple[str, list[str]]] = []  # (segment key, its event_ids) per write
        self.fail: Callable[[int], bool] = lambda _number: False
        original = DurableStore.async_write

        async def write(store: DurableStore[Any], data: Any) -> None:
            self.started += 1
            number = self.started
            await self.gate.wait()
            if self.fail(number):
                raise WriteError(OSError(28, "No space left on device"))
            await original(store, data)
            self.done.append((store.key, [entry["event_id"] for entry in data["entries"]]))

        monkeypatch.setattr(DurableStore, "async_write", write)

    def durable(self, event: str) -> bool:
        """Whether a finished write holds `event`."""
        return any(event in written for _key, written in self.done)


async def test_concurrent_calls_share_one_write(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    hass_storage: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """50 calls while a write is under way: one more write holds them all, in call order; no
    call returns before the write covering its event is done."""
    writes = GatedWrites(monkeypatch)
    acknowledged: dict[str, bool] = {}  # event_id -> on disk when its call returned

    async def call(number: int) -> None:
        await forward(hass, receiver.url, envelope(number, STATIONS[number % len(STATIONS)]))
        acknowledged[event_id(number)] = writes.durable(event_id(number))

    first = hass.async_create_task(call(0))
    await wait_until(lambda: writes.started == 1)
    rest = [hass.async_create_task(call(number)) for number in range(1, 50)]
    await wait_until(
        lambda: manager.outbox.pending_count + view(manager, receiver.url).delivered == 50
    )
    assert writes.started == 1  # the others wait for the next batch
    assert not first.done()
    assert not any(task.done() for task in rest)

    writes.gate.set()
    await asyncio.gather(first, *rest)
    assert acknowledged == {event_id(number): True for number in range(50)}
    # One write for the first call, one for the 49 that came while it was under way.
    assert writes.done == [
        (segment_key(1), [event_id(0)]),
        (segment_key(1), [event_id(number) for number in range(50)]),
    ]
    assert [entry["event_id"] for entry in hass_storage[segment_key(1)]["data"]["entries"]] == [
        event_id(number) for number in range(50)
    ]
    # Each station's events reach the platform in the order of the calls.
    await wait_until(lambda: view(manager, receiver.url).delivered == 50)
    for index, station in enumerate(STATIONS):
        assert receiver.bodies_of(station) == [
            event_id(number) for number in range(index, 50, len(STATIONS))
        ]


async def test_a_failed_write_fails_its_whole_batch_and_keeps_what_was_acknowledged(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    hass_storage: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every call of the failed batch raises a translated error; the events acknowledged before
    stay on disk; calling again (as an automation retrying does) writes them, each sent once."""
    receiver.respond(receiver.processed_then(receiver.hang()))  # holds the station's queue
    writes = GatedWrites(monkeypatch)
    writes.fail = lambda number: number == 2

    first = hass.async_create_task(forward(hass, receiver.url, envelope(1)))
    await wait_until(lambda: writes.started == 1)
    batch = [
        hass.async_create_task(forward(hass, receiver.url, envelope(number)))
        for number in range(2, 12)
    ]
    await wait_until(lambda: manager.outbox.pending_count == 11)
    writes.gate.set()
    await first
    results = await asyncio.gather(*batch, return_exceptions=True)
    errors = [result for result in results if isinstance(result, HomeAssistantError)]
    assert len(errors) == 10
    assert {error.translation_key for error in errors} == {"outbox_write_failed"}
    assert errors[0].translation_placeholders == {"error": "[Errno 28] No space left on device"}
    # The acknowledged event is still on disk, alone: nothing of the failed batch was.
    assert [entry["event_id"] for entry in hass_storage[segment_key(1)]["data"]["entries"]] == [
        event_id(1)
    ]

    for number in range(2, 12):  # the automation runs again: the events are written now
        await forward(hass, receiver.url, envelope(number))
    assert [entry["event_id"] for entry in hass_storage[segment_key(1)]["data"]["entries"]] == [
        event_id(number) for number in range(1, 12)
    ]
    receiver.release.set()
    await wait_until(lambda: view(manager, receiver.url).delivered == 11)
    assert receiver.processed == [event_id(number) for number in range(1, 12)]


def _kind(fd: int) -> str:
    return "directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"


def test_write_durably_fsyncs_the_file_then_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new content is fsynced before it replaces the file, the directory after."""
    target = tmp_path / "iot_zinx.forwarding_outbox.00000001"
    target.write_text("old")
    calls: list[tuple[str, str]] = []  # (what was fsynced, what the target held then)
    real_fsync = outbox_files.fsync

    def fsync(fd: int) -> None:
        calls.append((_kind(fd), target.read_text()))
        real_fsync(fd)

    monkeypatch.setattr(outbox_files, "fsync", fsync)
    write_durably(str(target), b'{"new": true}')
    assert calls == [("file", "old"), ("directory", '{"new": true}')]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [path.name for path in tmp_path.iterdir()] == [target.name]


def test_write_durably_failure_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed write raises WriteError, leaves the old file whole and no temporary file."""
    target = tmp_path / "iot_zinx.forwarding_outbox.00000001"
    target.write_text("old")

    def fail(_source: str, _destination: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(WriteError, match="Input/output error"):
        write_durably(str(target), "new")
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == [target.name]


async def test_the_segment_the_index_names_next_is_loaded(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    receiver: Receiver,
) -> None:
    """A new segment's first write does not wait for an index listing it: the index written
    when the previous segment started names it as `next_segment`, and loading reads that."""
    hass_storage["iot_zinx.forwarding"] = {
        "version": 1,
        "data": {
            "next_seq": 5,
            "next_segment": 2,
            "segments": [],
            "done": {},
            "retries": {},
            "endpoints": {},
            "dead_letters": [],
        },
    }
    endpoint = Endpoint(receiver.url)
    hass_storage[segment_key(2)] = {
        "version": 1,
        "data": {
            "endpoints": {endpoint.key: {"url": receiver.url}},
            "entries": [
                {
                    "seq": 5,
                    "endpoint": endpoint.key,
                    "device_id": STATION_A,
                    "event_id": event_id(5),
                    "event_type": "charging_start",
                    "body": json_bytes(envelope(5)).decode(),
                    "enqueued_at": 1_767_254_400,
                }
            ],
        },
    }
    manager = ForwardingManager(hass)
    await manager.async_start()
    try:
        await wait_until(lambda: receiver.processed == [event_id(5)])
        await manager.async_forward(endpoint, envelope(6))
        # The new segment comes after the one found, and the index names the one after it.
        [stored] = hass_storage[segment_key(3)]["data"]["entries"]
        assert stored["event_id"] == event_id(6)
        assert hass_storage["iot_zinx.forwarding"]["data"]["next_segment"] == 4
    finally:
        await manager.async_stop()


async def test_a_cancelled_writer_leaves_no_call_waiting(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    hass_storage: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelled mid-write (Home Assistant ending), the writer cancels its batch's calls; the
    event is written by the next write (here: the flush on stop)."""
    writes = GatedWrites(monkeypatch)
    call = hass.async_create_task(forward(hass, receiver.url, envelope(1)))
    await wait_until(lambda: writes.started == 1)
    writer = manager.outbox._commit._task  # what Home Assistant would cancel
    assert writer is not None
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    writes.gate.set()
    await manager.async_stop()
    [stored] = hass_storage[segment_key(1)]["data"]["entries"]
    assert stored["event_id"] == event_id(1)
