"""Sensors: every entity snapshotted idle and charging; status codes; offline; new ports."""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.iot_zinx.protocol.codes import PortStatus
from custom_components.iot_zinx.protocol.simulator import (
    SimulatedPort,
    SimulatedStation,
    StationSimulator,
)
from custom_components.iot_zinx.sensor import PORT_STATUS_STATES

from .conftest import STATION_ID, snapshot_entities, wait_for_station

PORT_1 = "sensor.ap3000_04a228cd_port_1"


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "dual_socket")
async def test_sensors_idle(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """A dual socket after register and heartbeat: port 1 plugged, port 2 idle."""
    await snapshot_entities(hass, entity_registry, snapshot, init_integration.entry_id, "sensor")


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "charging_dual_socket")
async def test_sensors_charging(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Port 1 charging ORDER-0001, with the values of one power report."""
    await snapshot_entities(hass, entity_registry, snapshot, init_integration.entry_id, "sensor")
    assert hass.states.get(f"{PORT_1}_status").state == "charging"
    assert hass.states.get(f"{PORT_1}_power").state == "215.3"
    assert hass.states.get(f"{PORT_1}_current").state == "0.972"
    assert hass.states.get(f"{PORT_1}_session_energy").state == "0.12"
    assert hass.states.get(f"{PORT_1}_lifetime_energy").state == "0.12"
    # 600 s, shown in the suggested unit.
    assert hass.states.get(f"{PORT_1}_session_duration").state == "10.0"
    assert hass.states.get(f"{PORT_1}_temperature").state == "36"
    assert hass.states.get(f"{PORT_1}_current_order").state == "ORDER-0001"


@pytest.mark.usefixtures("dual_socket")
async def test_sensors_disabled_by_default(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """The readings few people need are created disabled (thousands of ports add up).

    Plugged in and fault follow from the port's status, the current order is diagnostic.
    """
    disabled = {
        entity_entry.entity_id
        for entity_entry in er.async_entries_for_config_entry(
            entity_registry, init_integration.entry_id
        )
        if entity_entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    }
    assert disabled == {
        "sensor.ap3000_04a228cd_signal",
        f"{PORT_1}_current",
        f"{PORT_1}_session_duration",
        f"{PORT_1}_temperature",
        "sensor.ap3000_04a228cd_port_2_current",
        "sensor.ap3000_04a228cd_port_2_session_duration",
        "sensor.ap3000_04a228cd_port_2_temperature",
        f"{PORT_1}_current_order",
        "sensor.ap3000_04a228cd_port_2_current_order",
        "binary_sensor.ap3000_04a228cd_port_1_plugged_in",
        "binary_sensor.ap3000_04a228cd_port_1_fault",
        "binary_sensor.ap3000_04a228cd_port_2_plugged_in",
        "binary_sensor.ap3000_04a228cd_port_2_fault",
    }


@pytest.mark.parametrize(
    ("code", "state"),
    [
        *((int(status), name) for status, name in PORT_STATUS_STATES.items()),
        (0x0C, "unknown"),  # not assigned by the station's table (docs/protocol.md 7.1)
        (0x1C, "unknown"),
    ],
)
async def test_port_status_states(
    hass: HomeAssistant, dual_socket: SimulatedStation, code: int, state: str
) -> None:
    """Every status code of table 7.1 has its state; other codes read "unknown"."""
    dual_socket.set_port_status(1, code)
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[2].status == code)
    assert hass.states.get("sensor.ap3000_04a228cd_port_2_status").state == state


def test_every_port_status_is_mapped() -> None:
    """A new member of PortStatus must get a translated state."""
    assert set(PORT_STATUS_STATES) == set(PortStatus)


async def test_sensors_unavailable_while_offline(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    dual_socket: SimulatedStation,
) -> None:
    """Everything of an offline station is unavailable, and back with the station."""
    await dual_socket.disconnect()
    await wait_for_station(hass, STATION_ID, lambda station: not station.online)
    sensors = [
        entity_entry.entity_id
        for entity_entry in er.async_entries_for_config_entry(
            entity_registry, init_integration.entry_id
        )
        if entity_entry.domain == "sensor" and not entity_entry.disabled_by
    ]
    assert len(sensors) == 12  # the current orders are disabled by default
    assert {hass.states.get(entity_id).state for entity_id in sensors} == {STATE_UNAVAILABLE}

    await dual_socket.reconnect()
    await wait_for_station(hass, STATION_ID, lambda station: station.online)
    assert hass.states.get(f"{PORT_1}_status").state == "plugged"
    assert hass.states.get("sensor.ap3000_04a228cd_voltage").state == "220.0"


async def test_ports_added_when_reported(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """Ports get entities as soon as the station tells its port count, and later ones too."""
    station = simulator.add_station(station_factory(port_count=1))
    await simulator.start()
    await wait_for_station(hass, STATION_ID, lambda state: state.last_heartbeat is not None)
    assert hass.states.get(f"{PORT_1}_status").state == "idle"
    assert hass.states.get("sensor.ap3000_04a228cd_port_2_status") is None

    # The station reports a second port (a board was swapped, or a newer firmware).
    station.port_count = 2
    station.ports.append(SimulatedPort(1, plugged=True))
    station.send_heartbeat()
    await wait_for_station(hass, STATION_ID, lambda state: state.port_count == 2)
    assert hass.states.get("sensor.ap3000_04a228cd_port_2_status").state == "plugged"


async def test_host_gateway_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """A host gateway has no mains readings of its own, nor buttons; its sub-stations do."""
    simulator.add_host(0x09000001, [station_factory()], auto_reconnect=False)
    await simulator.start()
    await wait_for_station(hass, "09000001", lambda state: state.last_heartbeat is not None)
    await wait_for_station(hass, STATION_ID, lambda state: state.last_heartbeat is not None)
    host_entities = {
        entity_entry.unique_id
        for entity_entry in er.async_entries_for_config_entry(
            entity_registry, init_integration.entry_id
        )
        if entity_entry.unique_id.startswith("09000001")
    }
    assert host_entities == {
        "09000001_connectivity",
        "09000001_signal",
        "09000001_last_heartbeat",
        "09000001_iccid",
        "09000001_firmware",  # the update entity: a host is upgraded too
    }
    assert hass.states.get("sensor.ap3000_09000001_iccid").state == "89860000000150994945"
    assert hass.states.get("sensor.ap3000_04a228cd_voltage").state == "220.0"
    assert hass.states.get("button.ap3000_04a228cd_restart") is not None


async def test_sensor_of_removed_station(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """An entity whose station vanished from the hub reads nothing instead of failing."""
    hub = init_integration.runtime_data
    sensor = hass.data["entity_components"]["sensor"].get_entity(f"{PORT_1}_status")
    voltage = hass.data["entity_components"]["sensor"].get_entity("sensor.ap3000_04a228cd_voltage")
    assert sensor.native_value == "plugged"
    station = hub.stations.pop(STATION_ID)
    try:
        assert not sensor.available
        assert sensor.native_value is None
        assert voltage.native_value is None
    finally:
        hub.stations[STATION_ID] = station


async def test_unchanged_readings_are_not_written(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """A heartbeat tells every station entity; only those whose reading changed write it."""
    voltage = "sensor.ap3000_04a228cd_voltage"
    heartbeat = "sensor.ap3000_04a228cd_last_heartbeat"
    station = init_integration.runtime_data.stations[STATION_ID]

    async def heartbeat_handled() -> None:
        last = station.last_heartbeat
        dual_socket.send(dual_socket.heartbeat_message())
        await wait_for_station(hass, STATION_ID, lambda state: state.last_heartbeat != last)
        await hass.async_block_till_done()

    await heartbeat_handled()  # the start's writes (device registry updates) are done
    # Home Assistant moves last_reported in place (same State object): keep the values.
    reported = hass.states.get(voltage).last_reported
    heartbeat_reported = hass.states.get(heartbeat).last_reported
    await heartbeat_handled()
    # The new heartbeat time is written (within the same second: reported again)...
    assert hass.states.get(heartbeat).last_reported > heartbeat_reported
    # ... the same voltage is not (Home Assistant would have moved its last_reported).
    assert hass.states.get(voltage).last_reported == reported

    dual_socket.voltage_v = 231.5
    await heartbeat_handled()
    assert hass.states.get(voltage).state == "231.5"
