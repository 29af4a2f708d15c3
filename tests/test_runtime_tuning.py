"""The large-site tuning freeze: when it freezes, refreezes and thaws, and what it reports.

The freeze is Python's own (``gc.freeze()`` in this very test process), so every test ends
with the tuning thawed; ``thawed`` sees to it even when a test fails (the test plugin itself
freezes once per module, see its ``garbage_collection`` fixture). ``freezer`` comes before
``init_integration`` so the schedule is made on the frozen clock. The first pass is due
two and a half minutes after the option is on, young ones every minute (never at the same
moment as the first), full ones every hour from the option on.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
import gc
import logging
import sys
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

from custom_components.iot_zinx.const import CONF_HEARTBEAT_TIMEOUT, CONF_LARGE_SITE_TUNING, DOMAIN
from custom_components.iot_zinx.runtime_tuning import (
    DATA_RUNTIME_TUNING,
    FIRST_FREEZE_DELAY,
    FULL_FREEZE_INTERVAL,
    RETRY_DELAY,
    SWITCH_INTERVAL_S,
    YOUNG_FREEZE_INTERVAL,
    RuntimeTuning,
)


@pytest.fixture(autouse=True)
def thawed() -> Generator[None]:
    """The test process's tuning is thawed, and its switch interval Python's, around each test."""
    gc.unfreeze()
    interval = sys.getswitchinterval()
    yield
    gc.unfreeze()
    sys.setswitchinterval(interval)


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """The option on."""
    return {CONF_HEARTBEAT_TIMEOUT: 420, CONF_LARGE_SITE_TUNING: True}


async def _advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: Any) -> None:
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


@contextmanager
def _another_thread_collecting() -> Iterator[None]:
    """A real collection in another thread, in progress until the block ends.

    Its collection runs the finalizer of a garbage cycle, which blocks (releasing the GIL)
    until the block ends, so a collection asked for meanwhile is skipped by CPython.
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
        yield
    finally:
        release.set()
        collector.join(10)


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
    tuning = hass.data[DATA_RUNTIME_TUNING]
    assert tuning.active
    # Young passes are due every minute, but nothing is frozen before the stations have had
    # time to connect.
    await _advance(hass, freezer, YOUNG_FREEZE_INTERVAL * 2)
    assert gc.get_freeze_count() == 0
    assert (tuning.full_passes, tuning.young_passes) == (0, 0)

    caplog.set_level(logging.INFO, logger="custom_components.iot_zinx")
    await _advance(hass, freezer, FIRST_FREEZE_DELAY - YOUNG_FREEZE_INTERVAL * 2)
    assert (tuning.full_passes, tuning.young_passes) == (1, 0)
    assert tuning.last is tuning.last_full
    assert tuning.last is not None
    assert tuning.last.kind == "full"
    # Everything alive is frozen (this test's own objects among them); reference counting
    # still frees frozen objects (the timer that just ran, for one).
    assert tuning.last.frozen > 10_000
    assert tuning.last.frozen - 1_000 < gc.get_freeze_count() <= tuning.last.frozen
    assert tuning.last.pause_ms >= 0  # freezegun stops time.perf_counter too
    assert f"Heap frozen: {tuning.last.frozen} long-lived objects" in caplog.text

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert not tuning.active
    assert gc.get_freeze_count() == 0
    assert "Heap thawed" in caplog.text
    assert sys.getswitchinterval() == pytest.approx(0.005)
    # No more passes once no entry wants them.
    await _advance(hass, freezer, FULL_FREEZE_INTERVAL)
    assert (tuning.full_passes, tuning.young_passes) == (1, 0)
    assert gc.get_freeze_count() == 0


async def test_young_pass_freezes_what_came_since(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, init_integration: MockConfigEntry
) -> None:
    """Every minute what survived since the last pass is frozen too, without a thaw."""
    tuning = hass.data[DATA_RUNTIME_TUNING]
    await _advance(hass, freezer, FIRST_FREEZE_DELAY)
    assert tuning.full_passes == 1
    frozen_first = gc.get_freeze_count()

    made_after: list[object] = ["made after the first freeze"]
    assert gc.is_tracked(made_after)
    assert _tracked(made_after)
    await _advance(hass, freezer, YOUNG_FREEZE_INTERVAL)
    assert (tuning.full_passes, tuning.young_passes) == (1, 1)
    assert tuning.last is not None
    assert tuning.last.kind == "young"
    assert tuning.last_full is not None
    assert tuning.last_full.kind == "full"
    assert not _tracked(made_after)
    # Added to what was frozen (a young pass does not count it: that walks every object).
    assert tuning.last.frozen is None
    assert gc.get_freeze_count() > frozen_first - 1_000

    await _advance(hass, freezer, YOUNG_FREEZE_INTERVAL)
    assert (tuning.full_passes, tuning.young_passes) == (1, 2)


async def test_full_pass_every_hour(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, init_integration: MockConfigEntry
) -> None:
    """Once an hour everything is thawed, collected and frozen again."""
    tuning = hass.data[DATA_RUNTIME_TUNING]
    await _advance(hass, freezer, FIRST_FREEZE_DELAY)
    first = tuning.last_full
    # The hour's timer started with the option; its first tick is an hour after that.
    await _advance(hass, freezer, FULL_FREEZE_INTERVAL - FIRST_FREEZE_DELAY)
    assert tuning.full_passes == 2
    assert tuning.last_full is not first
    assert tuning.last_full is not None
    assert tuning.last_full.kind == "full"
    # The clock jumped: each interval timer fired once.
    assert tuning.young_passes == 1


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
    assert hass.data[DATA_RUNTIME_TUNING].young_passes == 1
    assert nodes() == 2

    await _advance(hass, freezer, FULL_FREEZE_INTERVAL - FIRST_FREEZE_DELAY)
    tuning = hass.data[DATA_RUNTIME_TUNING]
    assert tuning.full_passes == 2
    assert tuning.last_full is not None
    assert tuning.last_full.collected >= 2
    assert nodes() == 0


async def test_pass_retried_while_another_thread_collects(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, init_integration: MockConfigEntry
) -> None:
    """CPython skips a collection asked for during another thread's: the pass is retried."""
    tuning: RuntimeTuning = hass.data[DATA_RUNTIME_TUNING]
    with _another_thread_collecting():
        await _advance(hass, freezer, FIRST_FREEZE_DELAY)
        # Skipped: nothing frozen, nothing counted, a retry pending.
        assert (tuning.full_passes, tuning.retries) == (0, 1)
        assert gc.get_freeze_count() == 0
    await _advance(hass, freezer, RETRY_DELAY)
    assert (tuning.full_passes, tuning.retries) == (1, 1)
    assert gc.get_freeze_count() > 0


async def test_young_pass_due_during_a_full_retry_runs_the_full_pass(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A full pass waiting for its retry is not replaced by a young one due meanwhile."""
    tuning: RuntimeTuning = hass.data[DATA_RUNTIME_TUNING]
    with _another_thread_collecting():
        tuning._run("full")
        tuning._run("young")  # skipped too, as the full pass it stands in for
        assert (tuning.full_passes, tuning.young_passes, tuning.retries) == (0, 0, 2)
    tuning._run("young")
    assert (tuning.full_passes, tuning.young_passes) == (1, 0)
    assert tuning.last is not None
    assert tuning.last.kind == "full"


async def test_switch_interval_while_the_option_is_on(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The GIL switch interval is short from the start, and Python's again at the last unload."""
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
    assert SWITCH_INTERVAL_S < 0.005
    other = MockConfigEntry(
        domain=DOMAIN,
        unique_id="1",
        data={CONF_HOST: "127.0.0.1", CONF_PORT: 0},
        options={CONF_HEARTBEAT_TIMEOUT: 420, CONF_LARGE_SITE_TUNING: True},
    )
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    # Another entry still wants it.
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
    assert await hass.config_entries.async_unload(other.entry_id)
    assert sys.getswitchinterval() == pytest.approx(0.005)


async def test_diagnostics_show_the_passes(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
) -> None:
    """Diagnostics tell whether the tuning is frozen, how often, and the last passes."""
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert diagnostics["runtime_tuning"] == {
        "active": True,
        "full_passes": 0,
        "young_passes": 0,
        "retries": 0,
        "frozen_objects": 0,
        "switch_interval_ms": 0.5,
        "last": None,
        "last_full": None,
    }
    await _advance(hass, freezer, FIRST_FREEZE_DELAY)
    await _advance(hass, freezer, YOUNG_FREEZE_INTERVAL)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    runtime = diagnostics["runtime_tuning"]
    assert (runtime["active"], runtime["full_passes"], runtime["young_passes"]) == (True, 1, 1)
    assert runtime["frozen_objects"] > 0
    assert runtime["last"]["kind"] == "young"
    assert runtime["last"]["frozen"] is None
    assert 0 < runtime["frozen_objects"] <= runtime["last_full"]["frozen"] + 1_000
    assert runtime["last_full"]["kind"] == "full"
    assert set(runtime["last"]) == {"kind", "at", "pause_ms", "collected", "frozen"}


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
    assert DATA_RUNTIME_TUNING not in hass.data
    assert gc.get_freeze_count() == 0
    assert sys.getswitchinterval() == pytest.approx(0.005)
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert DATA_RUNTIME_TUNING not in hass.data


async def test_two_entries_share_one_freezer(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, init_integration: MockConfigEntry
) -> None:
    """One schedule for every entry; the tuning stays frozen until the last one unloads."""
    other = MockConfigEntry(
        domain=DOMAIN,
        unique_id="1",
        data={CONF_HOST: "127.0.0.1", CONF_PORT: 0},
        options={CONF_HEARTBEAT_TIMEOUT: 420, CONF_LARGE_SITE_TUNING: True},
    )
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    await _advance(hass, freezer, FIRST_FREEZE_DELAY)
    tuning = hass.data[DATA_RUNTIME_TUNING]
    # One schedule, not one per entry.
    assert tuning.full_passes == 1

    assert await hass.config_entries.async_unload(other.entry_id)
    assert tuning.active
    assert gc.get_freeze_count() > 0
    await _advance(hass, freezer, YOUNG_FREEZE_INTERVAL)
    assert tuning.young_passes == 1

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert not tuning.active
    assert gc.get_freeze_count() == 0
