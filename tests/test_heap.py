"""The large-site heap freeze: when it freezes, refreezes and thaws, and what it reports.

The freeze is Python's own (``gc.freeze()`` in this very test process), so every test ends
with the heap thawed; ``thawed`` sees to it even when a test fails (the test plugin itself
freezes once per module, see its ``garbage_collection`` fixture). ``freezer`` comes before
``init_integration`` so the schedule is made on the frozen clock. The first pass is due
two and a half minutes after the option is on, young ones every minute (never at the same
moment as the first), full ones every hour from the option on.
"""

from __future__ import annotations

from collections.abc import Generator
import gc
import logging
import threading
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.iot_zinx.const import CONF_FREEZE_HEAP, CONF_HEARTBEAT_TIMEOUT, DOMAIN
from custom_components.iot_zinx.heap import (
    DATA_HEAP,
    FIRST_FREEZE_DELAY,
    FULL_FREEZE_INTERVAL,
    RETRY_DELAY,
    YOUNG_FREEZE_INTERVAL,
    HeapFreezer,
)


@pytest.fixture(autouse=True)
def thawed() -> Generator[None]:
    """The test process's heap is thawed before and after each test."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """The option on."""
    return {CONF_HEARTBEAT_TIMEOUT: 420, CONF_FREEZE_HEAP: True}


async def _advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: Any) -> None:
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def _tracked(obj: object) -> bool:
    """Whether the collector walks ``obj`` (frozen objects it does not see)."""
    return any(candidate is obj for candidate in gc.get_objects())


async def test_first_pass_after_the_delay_and_thawed_at_unload(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing frozen before the first delay; then a full pass; thawed when the entry unloads."""
    heap = hass.data[DATA_HEAP]
    assert heap.active
    # Young passes are due every minute, but nothing is frozen before the stations have had
    # time to connect.
    await _advance(hass, freezer, YOUNG_FREEZE_INTERVAL * 2)
    assert gc.get_freeze_count() == 0
    assert (heap.full_passes, heap.young_passes) == (0, 0)

    caplog.set_level(logging.INFO, logger="custom_components.iot_zinx")
    await _advance(hass, freezer, FIRST_FREEZE_DELAY - YOUNG_FREEZE_INTERVAL * 2)
    assert (heap.full_passes, heap.young_passes) == (1, 0)
    assert heap.last is heap.last_full
    assert heap.last is not None
    assert heap.last.kind == "full"
    # Everything alive is frozen (this test's own objects among them); reference counting
    # still frees frozen objects (the timer that just ran, for one).
    assert heap.last.frozen > 10_000
    assert heap.last.frozen - 1_000 < gc.get_freeze_count() <= heap.last.frozen
    assert heap.last.pause_ms >= 0  # freezegun stops time.perf_counter too
    assert f"Heap frozen: {heap.last.frozen} long-lived objects" in caplog.text

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert not heap.active
    assert gc.get_freeze_count() == 0
    assert "Heap thawed" in caplog.text
    # No more passes once no entry wants them.
    await _advance(hass, freezer, FULL_FREEZE_INTERVAL)
    assert (heap.full_passes, heap.young_passes) == (1, 0)
    assert gc.get_freeze_count() == 0


async def test_young_pass_freezes_what_came_since(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, init_integration: MockConfigEntry
) -> None:
    """Every minute what survived since the last pass is frozen too, without a thaw."""
    heap = hass.data[DATA_HEAP]
    await _advance(hass, freezer, FIRST_FREEZE_DELAY)
    assert heap.full_passes == 1
    frozen_first = gc.get_freeze_count()

    made_after: list[object] = ["made after the first freeze"]
    assert gc.is_tracked(made_after)
    assert _tracked(made_after)
    await _advance(hass, freezer, YOUNG_FREEZE_INTERVAL)
    assert (heap.full_passes, heap.young_passes) == (1, 1)
    assert heap.last is not None
    assert heap.last.kind == "young"
    assert heap.last_full is not None
    assert heap.last_full.kind == "full"
    assert not _tracked(made_after)
    # Added to what was frozen: the first pass's objects are still frozen.
    assert heap.last.frozen > frozen_first - 1_000

    await _advance(hass, freezer, YOUNG_FREEZE_INTERVAL)
    assert (heap.full_passes, heap.young_passes) == (1, 2)


async def test_full_pass_every_hour(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, init_integration: MockConfigEntry
) -> None:
    """Once an hour everything is thawed, collected and frozen again."""
    heap = hass.data[DATA_HEAP]
    await _advance(hass, freezer, FIRST_FREEZE_DELAY)
    first = heap.last_full
    # The hour's timer started with the option; its first tick is an hour after that.
    await _advance(hass, freezer, FULL_FREEZE_INTERVAL - FIRST_FREEZE_DELAY)
    assert heap.full_passes == 2
    assert heap.last_full is not first
    assert heap.last_full is not None
    assert heap.last_full.kind == "full"
    # The clock jumped: each interval timer fired once.
    assert heap.young_passes == 1


async def test_full_pass_collects_cycles_among_frozen_objects(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, init_integration: MockConfigEntry
) -> None:
    """A cycle that became garbage while frozen survives young passes, not the full one."""

    class Node:
        def __init__(self) -> None:
            self.other: Node | None = None

    def nodes() -> int:
        gc.unfreeze()
        count = sum(type(obj) is Node for obj in gc.get_objects())
        gc.freeze()
        return count

    first, second = Node(), Node()
    first.other, second.other = second, first
    await _advance(hass, freezer, FIRST_FREEZE_DELAY)
    assert gc.get_freeze_count() > 0
    assert not _tracked(first)

    # The cycle is frozen; dropped now, the collector does not see it, young passes neither.
    del first, second
    gc.collect()
    await _advance(hass, freezer, YOUNG_FREEZE_INTERVAL)
    assert hass.data[DATA_HEAP].young_passes == 1
    assert nodes() == 2

    await _advance(hass, freezer, FULL_FREEZE_INTERVAL - FIRST_FREEZE_DELAY)
    heap = hass.data[DATA_HEAP]
    assert heap.full_passes == 2
    assert heap.last_full is not None
    assert heap.last_full.collected >= 2
    assert nodes() == 0


async def test_pass_retried_while_another_thread_collects(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, init_integration: MockConfigEntry
) -> None:
    """CPython skips a collection asked for during another thread's: the pass is retried.

    The other thread is real: its collection runs the finalizer of a garbage cycle, which
    blocks (releasing the GIL) until the test lets it go, so the collection is in progress
    when the first pass is due.
    """
    entered, release = threading.Event(), threading.Event()

    class Blocker:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            entered.set()
            release.wait(10)

    Blocker()
    collector = threading.Thread(target=gc.collect, name="other collector")
    collector.start()
    try:
        assert entered.wait(10)
        heap: HeapFreezer = hass.data[DATA_HEAP]
        await _advance(hass, freezer, FIRST_FREEZE_DELAY)
        # Skipped: nothing frozen, nothing counted, a retry pending.
        assert (heap.full_passes, heap.retries) == (0, 1)
        assert gc.get_freeze_count() == 0
    finally:
        release.set()
        collector.join(10)
    await _advance(hass, freezer, RETRY_DELAY)
    assert (heap.full_passes, heap.retries) == (1, 1)
    assert gc.get_freeze_count() > 0


async def test_diagnostics_show_the_passes(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
) -> None:
    """Diagnostics tell whether the heap is frozen, how often, and the last passes."""
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert diagnostics["heap"] == {
        "active": True,
        "full_passes": 0,
        "young_passes": 0,
        "retries": 0,
        "frozen_objects": 0,
        "last": None,
        "last_full": None,
    }
    await _advance(hass, freezer, FIRST_FREEZE_DELAY)
    await _advance(hass, freezer, YOUNG_FREEZE_INTERVAL)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    heap = diagnostics["heap"]
    assert (heap["active"], heap["full_passes"], heap["young_passes"]) == (True, 1, 1)
    assert 0 < heap["frozen_objects"] <= heap["last"]["frozen"]
    assert heap["last"]["kind"] == "young"
    assert heap["last_full"]["kind"] == "full"
    assert set(heap["last"]) == {"kind", "at", "pause_ms", "collected", "frozen"}


async def test_off_by_default(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Without the option nothing is frozen, ever."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="1",
        data={CONF_HOST: "127.0.0.1", CONF_PORT: 0},
        options={CONF_HEARTBEAT_TIMEOUT: 420},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await _advance(hass, freezer, FIRST_FREEZE_DELAY + FULL_FREEZE_INTERVAL)
    assert DATA_HEAP not in hass.data
    assert gc.get_freeze_count() == 0
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_two_entries_share_one_freezer(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, init_integration: MockConfigEntry
) -> None:
    """One schedule for every entry; the heap stays frozen until the last one unloads."""
    other = MockConfigEntry(
        domain=DOMAIN,
        unique_id="1",
        data={CONF_HOST: "127.0.0.1", CONF_PORT: 0},
        options={CONF_HEARTBEAT_TIMEOUT: 420, CONF_FREEZE_HEAP: True},
    )
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    await _advance(hass, freezer, FIRST_FREEZE_DELAY)
    heap = hass.data[DATA_HEAP]
    # One schedule, not one per entry.
    assert heap.full_passes == 1

    assert await hass.config_entries.async_unload(other.entry_id)
    assert heap.active
    assert gc.get_freeze_count() > 0
    await _advance(hass, freezer, YOUNG_FREEZE_INTERVAL)
    assert heap.young_passes == 1

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert not heap.active
    assert gc.get_freeze_count() == 0
