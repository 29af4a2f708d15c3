"""The order book reaches the disk while changes keep coming (a crash loses 10 s at most).

``Store.async_delay_save`` alone moves a pending write later on every call; a site whose
stations change something every few seconds would then never be saved before a clean stop,
and a crash (scripts/fault_restart) lost every open order and the lifetime energy. So the
hub asks for a delayed write once per burst: the first change schedules it, the changes
after it ride along, and the next change after the write schedules the next one.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import itertools
from typing import Any
from unittest.mock import AsyncMock, MagicMock

from homeassistant.core import HomeAssistant
from homeassistant.helpers.json import json_bytes, json_fragment
import homeassistant.util.dt as dt_util
from homeassistant.util.json import json_loads
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.iot_zinx.models import Order, StationState
from custom_components.iot_zinx.store import SAVE_DELAY, HubStore, OrderBook


def as_json(document: Any) -> Any:
    """The document as written to disk and read back (its parts are pre-serialized)."""
    return json_loads(json_bytes(document))


async def test_one_delayed_write_per_burst(hass: HomeAssistant) -> None:
    stations: dict[str, StationState] = {}
    store = HubStore(hass, "entry", OrderBook(), stations)
    backend = MagicMock()
    backend.async_save = AsyncMock()
    store._store = backend

    for _ in range(3):
        store.schedule_save()
    backend.async_delay_save.assert_called_once()
    data_func, delay = backend.async_delay_save.call_args.args
    assert delay == SAVE_DELAY

    # The write happens (the store calls data_func): the next change schedules a new one.
    stations["04A228CD"] = StationState("04A228CD", 0x04A228CD)
    assert set(data_func()["stations"]) == {"04A228CD"}
    store.schedule_save()
    store.schedule_save()
    assert backend.async_delay_save.call_count == 2

    # A save at stop also ends the burst.
    await store.async_save()
    backend.async_save.assert_awaited_once()
    store.schedule_save()
    assert backend.async_delay_save.call_count == 3


async def test_an_opened_order_brings_the_write_forward(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """A pending delayed write is brought forward when an order opens (schedule_save(0))."""
    book = OrderBook()
    stations: dict[str, StationState] = {}
    store = HubStore(hass, "entry", book, stations)
    store.schedule_save()
    await hass.async_block_till_done()
    assert "iot_zinx.entry" not in hass_storage  # waits SAVE_DELAY
    store.schedule_save(0)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1))
    await hass.async_block_till_done()
    assert "iot_zinx.entry" in hass_storage


async def test_saves_waiting_behind_a_write_share_the_next(hass: HomeAssistant) -> None:
    """A hundred settlements at once: two writes, each caller covered by one that followed."""
    stations: dict[str, StationState] = {}
    store = HubStore(hass, "entry", OrderBook(), stations)
    written: list[set[str]] = []
    release = asyncio.Event()

    async def slow_save(data: Any) -> None:
        written.append(set(data["stations"]))
        await release.wait()

    backend = MagicMock()
    backend.async_save = slow_save
    store._store = backend

    # The first call starts a write of the state it saw.
    stations["04A228CD"] = StationState("04A228CD", 0x04A228CD)
    first = asyncio.ensure_future(store.async_save())
    await asyncio.sleep(0)
    assert written == [{"04A228CD"}]
    # 99 more arrive while it runs, each after changing the state.
    later = []
    for number in range(99):
        station_id = f"{0x04A22900 + number:08X}"
        stations[station_id] = StationState(station_id, 0x04A22900 + number)
        store.mark_changed(station_id)
        later.append(asyncio.ensure_future(store.async_save()))
    await asyncio.sleep(0)
    assert not first.done()
    release.set()
    await asyncio.gather(first, *later)
    # One more write, with every station the 99 added.
    assert len(written) == 2
    assert written[1] == set(stations)


async def test_a_write_rebuilds_only_the_changed_stations(hass: HomeAssistant) -> None:
    """The incremental dump equals a full one for what the hub marked as changed."""
    stations: dict[str, StationState] = {}
    book = OrderBook(stations)
    store = HubStore(hass, "entry", book, stations)
    for number in range(3):
        station_id = f"{0x04A22900 + number:08X}"
        stations[station_id] = StationState(station_id, 0x04A22900 + number, port_count=2)
        stations[station_id].port(1)
    book.open("04A22900:aa", Order("A", b"\xaa", 1, 100.0, 1))
    first_dump = store._dump()  # the first write after loading: everything
    first = as_json(first_dump)
    assert first == as_json(book.dump(stations))
    # Its parts are pre-serialized: a write encodes only what changed.
    assert all(isinstance(doc, json_fragment) for doc in first_dump["stations"].values())
    assert all(isinstance(doc, json_fragment) for doc in first_dump["orders"])

    # Changed without being marked: not rebuilt (the hub marks everything it changes).
    stations["04A22901"].port(1).lifetime_energy_kwh = 9.0
    # Marked: rebuilt, with its order; a new order and a removed station too.
    stations["04A22900"].port(1).lifetime_energy_kwh = 1.5
    stations["04A22900"].ports[1].order = book.orders["04A22900:aa"]
    book.orders["04A22900:aa"].energy_kwh = 1.5
    book.open("04A22902:bb", Order("B", b"\xbb", 1, 200.0, 1))
    del stations["04A22902"]
    for station_id in ("04A22900", "04A22902"):
        store.mark_changed(station_id)
    second_dump = store._dump()
    second = as_json(second_dump)
    # The unmarked station's part is the very same bytes as before.
    assert second_dump["stations"]["04A22901"] is first_dump["stations"]["04A22901"]
    assert second["stations"]["04A22900"]["ports"]["1"]["lifetime_kwh"] == 1.5
    assert second["stations"]["04A22901"] == first["stations"]["04A22901"]
    assert "04A22902" not in second["stations"]
    assert [(o["order_number"], o["energy_kwh"]) for o in second["orders"]] == [
        ("A", 1.5),
        ("B", 0.0),
    ]
    # What was handed out before is never modified afterwards.
    first_again = as_json(first_dump)
    assert first_again["stations"]["04A22900"]["ports"]["1"]["lifetime_kwh"] == 0.0
    assert first_again["orders"][0]["energy_kwh"] == 0.0
    # The unmarked change is in a full dump only (the hub marks everything it changes).
    assert as_json(book.dump(stations))["stations"]["04A22901"]["ports"]["1"]["lifetime_kwh"] == 9.0


async def test_steady_settlements_share_writes(hass: HomeAssistant) -> None:
    """Settlements arriving steadily: the first is written at once, then one write per interval.

    Each call still returns only after a write that started after it, with its station in it.
    """
    stations: dict[str, StationState] = {}
    store = HubStore(hass, "entry", OrderBook(), stations)
    store.commit_interval = 0.2
    loop = asyncio.get_running_loop()
    writes: list[tuple[float, set[str]]] = []

    async def save(data: Any) -> None:
        writes.append((loop.time(), set(data["stations"])))

    backend = MagicMock()
    backend.async_save = save
    store._store = backend

    start = loop.time()
    calls = []
    for number in range(10):  # one settlement every 50 ms for half a second
        station_id = f"{0x04A22900 + number:08X}"
        stations[station_id] = StationState(station_id, 0x04A22900 + number)
        store.mark_changed(station_id)
        call = asyncio.ensure_future(store.async_save())
        calls.append((station_id, loop.time(), call))
        await asyncio.sleep(0.05)
    await asyncio.gather(*(call for _, _, call in calls))

    assert writes[0][0] - start < 0.05  # the first, after a quiet interval: at once
    assert 3 <= len(writes) <= 4  # not ten
    assert all(b[0] - a[0] >= 0.19 for a, b in itertools.pairwise(writes))
    for station_id, called_at, _ in calls:
        # Covered by a write that started after the call and contains its station.
        assert any(at >= called_at and station_id in saved for at, saved in writes)


async def test_an_opened_order_right_after_a_write_waits_for_the_interval(
    hass: HomeAssistant,
) -> None:
    """schedule_save(0) within commit_interval of a write: brought forward to the interval."""
    store = HubStore(hass, "entry", OrderBook(), {})
    backend = MagicMock()
    backend.async_save = AsyncMock()
    store._store = backend

    store.schedule_save(0)  # nothing written yet: at once
    assert backend.async_delay_save.call_args.args[1] == 0
    data_func = backend.async_delay_save.call_args.args[0]
    data_func()  # the Store starts that write
    store.schedule_save(0)  # an order opens right after it
    delay = backend.async_delay_save.call_args.args[1]
    assert store.commit_interval - 0.1 < delay <= store.commit_interval

    await store.async_save()  # a settlement now shares the interval too
    backend.async_save.assert_awaited_once()
    loop = asyncio.get_running_loop()
    assert store._last_write_start is not None
    assert loop.time() - store._last_write_start < 0.1


async def test_the_final_write_does_not_wait(hass: HomeAssistant) -> None:
    """The hub stopping writes at once, even right after another write."""
    store = HubStore(hass, "entry", OrderBook(), {})
    backend = MagicMock()
    backend.async_save = AsyncMock()
    store._store = backend
    loop = asyncio.get_running_loop()

    await store.async_save()
    start = loop.time()
    await store.async_save(final=True)
    assert loop.time() - start < 0.1
    assert backend.async_save.await_count == 2
