"""The port_entities option: every, the essential or no port entities; station totals."""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import re

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_zinx import repairs as repairs_module
from custom_components.iot_zinx.const import (
    CONF_HEARTBEAT_TIMEOUT,
    CONF_PORT_ENTITIES,
    DOMAIN,
    STATION_TOTAL_KEYS,
)
from custom_components.iot_zinx.models import PortState, StationState
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator
from custom_components.iot_zinx.sensor import STATION_TOTAL_SENSORS

from .conftest import POWER_REPORT, STATION_ID, set_port_entities, wait_for_station

STATION = "sensor.ap3000_04a228cd"
TOTALS = {"charging_ports", "total_power", "total_lifetime_energy"}
# A station's own entities with "all" (signal is there, disabled by default) and with "none".
STATION_ENTITIES = {
    ("binary_sensor", "connectivity"),
    ("sensor", "voltage"),
    ("sensor", "temperature"),
    ("sensor", "signal"),
    ("sensor", "last_heartbeat"),
    ("sensor", "iccid"),
    ("button", "reboot"),
    ("button", "query_status"),
    ("button", "identify"),
    ("update", "firmware"),
}
FLEET_STATION_ENTITIES = {
    ("binary_sensor", "connectivity"),
    ("sensor", "voltage"),
    ("sensor", "temperature"),
    *(("sensor", key) for key in TOTALS),
}
# Every entity a port has with the default option ("all"), as (platform, key).
ALL_PORT_ENTITIES = {
    ("sensor", "status"),
    ("sensor", "power"),
    ("sensor", "current"),
    ("sensor", "session_energy"),
    ("sensor", "lifetime_energy"),
    ("sensor", "session_duration"),
    ("sensor", "temperature"),
    ("sensor", "order"),
    ("binary_sensor", "plugged"),
    ("binary_sensor", "fault"),
    ("switch", "charging"),
}
ESSENTIAL_PORT_ENTITIES = {
    ("sensor", "status"),
    ("sensor", "power"),
    ("sensor", "lifetime_energy"),
    ("switch", "charging"),
}


def port_entities(registry: er.EntityRegistry, entry_id: str) -> set[tuple[str, int, str]]:
    """(platform, port, key) of the entry's port entities, from their unique ids."""
    found = set()
    for entity in er.async_entries_for_config_entry(registry, entry_id):
        station, _, rest = entity.unique_id.partition("_port")
        if station == STATION_ID and rest:
            number, _, key = rest.partition("_")
            found.add((entity.domain, int(number), key))
    return found


def station_entities(registry: er.EntityRegistry, entry_id: str) -> set[tuple[str, str]]:
    """(platform, key) of the station's own entities."""
    return {
        (entity.domain, entity.unique_id.removeprefix(f"{STATION_ID}_"))
        for entity in er.async_entries_for_config_entry(registry, entry_id)
        if entity.unique_id.startswith(f"{STATION_ID}_")
        and not re.match(rf"{STATION_ID}_port\d+_", entity.unique_id)
    }


def station_keys(registry: er.EntityRegistry, entry_id: str) -> set[str]:
    """Description keys of the station's own entities."""
    return {
        entity.unique_id.removeprefix(f"{STATION_ID}_")
        for entity in er.async_entries_for_config_entry(registry, entry_id)
        if entity.unique_id.startswith(f"{STATION_ID}_")
        and not entity.unique_id.startswith(f"{STATION_ID}_port")
    }


def per_port(keys: set[tuple[str, str]], ports: int = 2) -> set[tuple[str, int, str]]:
    return {(platform, port, key) for platform, key in keys for port in range(1, ports + 1)}


@pytest.mark.parametrize(
    "entry_options", [{CONF_HEARTBEAT_TIMEOUT: 420, CONF_PORT_ENTITIES: "essential"}]
)
@pytest.mark.usefixtures("charging_dual_socket")
async def test_essential(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Status, power, lifetime energy and the switch per port; no station totals."""
    entry_id = init_integration.entry_id
    assert port_entities(entity_registry, entry_id) == per_port(ESSENTIAL_PORT_ENTITIES)
    assert not station_keys(entity_registry, entry_id) & TOTALS
    assert hass.states.get(f"{STATION}_port_1_power").state == "215.3"
    assert hass.states.get(f"{STATION}_port_1_lifetime_energy").state == "0.12"
    assert hass.states.get("switch.ap3000_04a228cd_port_1_charging").state == "on"


@pytest.mark.parametrize(
    "entry_options", [{CONF_HEARTBEAT_TIMEOUT: 420, CONF_PORT_ENTITIES: "none"}]
)
async def test_none_station_totals(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    charging_dual_socket: SimulatedStation,
) -> None:
    """No port entity at all; the station's totals follow every port's report."""
    entry_id = init_integration.entry_id
    assert port_entities(entity_registry, entry_id) == set()
    # A fleet's station keeps connectivity, voltage, temperature and the totals only.
    assert station_entities(entity_registry, entry_id) == FLEET_STATION_ENTITIES
    assert hass.states.get("button.ap3000_04a228cd_reboot") is None
    assert hass.states.get(f"{STATION}_charging_ports").state == "1"
    assert hass.states.get(f"{STATION}_total_power").state == "215.3"
    assert hass.states.get(f"{STATION}_total_lifetime_energy").state == "0.12"
    assert hass.states.get(f"{STATION}_total_lifetime_energy").attributes == {
        "device_class": "energy",
        "friendly_name": "AP3000 04A228CD Total lifetime energy",
        "state_class": "total_increasing",
        "unit_of_measurement": "kWh",
    }

    # A port's 0x06 alone (no station-level change) rewrites the totals.
    charging_dual_socket.send(dataclasses.replace(POWER_REPORT, power_w=300.5, energy_kwh=0.2))
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].power_w == 300.5)
    assert hass.states.get(f"{STATION}_total_power").state == "300.5"
    assert hass.states.get(f"{STATION}_total_lifetime_energy").state == "0.2"


async def test_changing_the_level_removes_what_it_drops(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """all -> none -> essential: each reload removes the entities the new level drops."""
    entry_id = init_integration.entry_id

    async def station_talks() -> None:
        # Each reload binds a new port (the test entry asks the OS for one): a new simulator.
        simulator = StationSimulator("127.0.0.1", init_integration.runtime_data.server.port)
        simulator.add_station(station_factory(plugged=(0,)))
        try:
            await simulator.start()
            await simulator.wait_registered(timeout=5)
            await wait_for_station(hass, STATION_ID, lambda state: state.port_count == 2)
            await hass.async_block_till_done()
        finally:
            await simulator.stop()

    await station_talks()
    assert port_entities(entity_registry, entry_id) == per_port(ALL_PORT_ENTITIES)
    assert station_entities(entity_registry, entry_id) == STATION_ENTITIES

    # An entity that is neither a station's nor a port's (a webhook endpoint's sensor).
    endpoint_sensor = entity_registry.async_get_or_create(
        "sensor", DOMAIN, "forwarding_0A1B2C3D_queued", config_entry=init_integration
    )

    await set_port_entities(hass, entry_id, "none")
    assert entity_registry.async_get(endpoint_sensor.entity_id) is not None
    # Gone at once, before the station is back.
    assert port_entities(entity_registry, entry_id) == set()
    assert station_entities(entity_registry, entry_id) <= FLEET_STATION_ENTITIES
    await station_talks()
    assert port_entities(entity_registry, entry_id) == set()
    assert station_entities(entity_registry, entry_id) == FLEET_STATION_ENTITIES
    assert hass.states.get("switch.ap3000_04a228cd_port_1_charging") is None

    await set_port_entities(hass, entry_id, "essential")
    assert not station_keys(entity_registry, entry_id) & TOTALS
    assert hass.states.get(f"{STATION}_total_power") is None
    await station_talks()
    assert port_entities(entity_registry, entry_id) == per_port(ESSENTIAL_PORT_ENTITIES)
    # The station's diagnostics and buttons are back.
    assert station_entities(entity_registry, entry_id) == STATION_ENTITIES


def test_totals_never_go_backwards() -> None:
    """A port whose lifetime energy is unconfirmed after a restart makes the total unknown."""
    station = StationState("04A228CD", 0x04A228CD)
    station.ports[1] = PortState(1, status=1, power_w=200.04, lifetime_energy_kwh=3.0)
    station.ports[2] = PortState(2, status=0, power_w=None, lifetime_energy_kwh=1.254)
    assert (station.charging_ports, station.total_power_w) == (1, 200.0)
    assert station.total_lifetime_energy_kwh == 4.25  # rounded to 0.01 kWh (4.254)
    station.ports[2].lifetime_confirmed = False
    assert station.total_lifetime_energy_kwh is None


async def test_a_large_fleet_with_every_port_entity_raises_a_repair_issue(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond the threshold (here 1) the user is told to choose fewer port entities."""
    monkeypatch.setattr(repairs_module, "MANY_STATIONS_FOR_ALL_PORT_ENTITIES", 1)
    issue_id = f"many_port_entities_{init_integration.entry_id}"
    issues = ir.async_get(hass)
    simulator.add_station(station_factory(0x04A228CD))
    simulator.add_station(station_factory(0x04A228CE))
    await simulator.start()
    await simulator.wait_registered(timeout=5)
    await hass.async_block_till_done()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {"stations": "1", "title": init_integration.title}

    # Choosing fewer entities removes it (the stored stations still count: 2 > 1).
    await set_port_entities(hass, init_integration.entry_id, "essential")
    assert issues.async_get_issue(DOMAIN, issue_id) is None


def test_total_keys_are_the_total_sensors() -> None:
    """const.STATION_TOTAL_KEYS (read by the option and the clean-up) are sensor.py's totals."""
    assert {d.key for d in STATION_TOTAL_SENSORS} == STATION_TOTAL_KEYS
