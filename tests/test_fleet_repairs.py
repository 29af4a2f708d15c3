"""Repair issues of a large fleet: iot_zinx_event recorded, Home Assistant's entity cap reached."""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_platform, entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_zinx import repairs as repairs_module
from custom_components.iot_zinx.const import DOMAIN, EVENT_IOT_ZINX
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator


async def two_stations(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    simulator.add_station(station_factory(0x04A228CD))
    simulator.add_station(station_factory(0x04A228CE))
    await simulator.start()
    await simulator.wait_registered(timeout=5)
    await hass.async_block_till_done()


@pytest.fixture
def one_station_is_many(monkeypatch: pytest.MonkeyPatch) -> None:
    """The threshold lowered to 1 station, so that two make a large fleet."""
    monkeypatch.setattr(repairs_module, "MANY_STATIONS_FOR_RECORDED_EVENTS", 1)


@pytest.mark.usefixtures("one_station_is_many")
async def test_recorded_events_of_a_large_fleet_raise_a_repair_issue(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """Beyond the threshold, with the events recorded, the user is told how to exclude them."""
    issue_id = f"recorded_events_{init_integration.entry_id}"
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, issue_id) is None  # no station yet

    await two_stations(hass, simulator, station_factory)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert not issue.is_fixable
    assert issue.translation_key == "recorded_events"
    assert issue.translation_placeholders == {
        "stations": "1",
        "title": init_integration.title,
        "event_type": "iot_zinx_event",
    }

    # Still there after a reload (the stored stations count), once only.
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert [i.issue_id for i in issues.issues.values() if i.domain == DOMAIN] == [issue_id]


@pytest.mark.parametrize("recorder_config", [{"exclude": {"event_types": [EVENT_IOT_ZINX]}}])
@pytest.mark.usefixtures("one_station_is_many")
async def test_excluded_events_raise_no_issue(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """With ``iot_zinx_event`` excluded, as the issue suggests, there is nothing to repair."""
    assert EVENT_IOT_ZINX in recorder_mock.exclude_event_types
    await two_stations(hass, simulator, station_factory)
    issue_id = f"recorded_events_{init_integration.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.usefixtures("one_station_is_many")
async def test_no_recorder_no_issue(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """Without the recorder nothing is recorded, whatever the fleet."""
    await two_stations(hass, simulator, station_factory)
    issue_id = f"recorded_events_{init_integration.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_the_entity_cap_reached_raises_a_repair_issue(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the entry has as many enabled entities as Home Assistant adds, the user is told.

    The cap lowered to what the station has (Home Assistant's is 10,000); checked as each new
    station appears and at each start, here the reload's.
    """
    issue_id = f"entity_cap_{init_integration.entry_id}"
    issues = ir.async_get(hass)
    simulator.add_station(station_factory(0x04A228CD))
    await simulator.start()
    await simulator.wait_registered(timeout=5)
    await hass.async_block_till_done()
    enabled = er.async_get(hass).entities.get_enabled_count_for_config_entry_id(
        init_integration.entry_id
    )
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    monkeypatch.setattr(entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", enabled)

    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "entity_cap"
    assert issue.translation_placeholders == {
        "cap": f"{enabled:,}",
        "title": init_integration.title,
    }
