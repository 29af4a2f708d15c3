"""Binary sensors: connectivity, and per port plugged in and fault."""

from __future__ import annotations

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.iot_zinx.protocol.codes import PortStatus
from custom_components.iot_zinx.protocol.simulator import SimulatedStation

from .conftest import STATION_ID, snapshot_entities, wait_for_station

CONNECTIVITY = "binary_sensor.ap3000_04a228cd_connectivity"
PORT_1_PLUGGED = "binary_sensor.ap3000_04a228cd_port_1_plugged_in"
PORT_1_FAULT = "binary_sensor.ap3000_04a228cd_port_1_fault"
PORT_2_PLUGGED = "binary_sensor.ap3000_04a228cd_port_2_plugged_in"
PORT_2_FAULT = "binary_sensor.ap3000_04a228cd_port_2_fault"


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "dual_socket")
async def test_binary_sensors_idle(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Online; a charger in port 1, none in port 2, no fault."""
    await snapshot_entities(
        hass, entity_registry, snapshot, init_integration.entry_id, "binary_sensor"
    )
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert hass.states.get(PORT_1_PLUGGED).state == STATE_ON
    assert hass.states.get(PORT_2_PLUGGED).state == STATE_OFF
    assert hass.states.get(PORT_1_FAULT).state == STATE_OFF


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "charging_dual_socket")
async def test_binary_sensors_charging(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """A charging port is plugged in."""
    await snapshot_entities(
        hass, entity_registry, snapshot, init_integration.entry_id, "binary_sensor"
    )
    assert hass.states.get(PORT_1_PLUGGED).state == STATE_ON


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_fault(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """A fault status turns the fault sensor on (and the port is not "plugged" then)."""
    dual_socket.set_port_status(1, PortStatus.PRECHECK_SHORT_CIRCUIT)
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[2].status == 0x0D)
    assert hass.states.get(PORT_2_FAULT).state == STATE_ON
    assert hass.states.get(PORT_2_PLUGGED).state == STATE_OFF

    dual_socket.set_port_status(1, None)
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[2].status == 0)
    assert hass.states.get(PORT_2_FAULT).state == STATE_OFF


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_connectivity_while_offline(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """Connectivity stays available and reads off; the port sensors are unavailable."""
    await dual_socket.disconnect()
    await wait_for_station(hass, STATION_ID, lambda station: not station.online)
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    for entity_id in (PORT_1_PLUGGED, PORT_1_FAULT, PORT_2_PLUGGED, PORT_2_FAULT):
        assert hass.states.get(entity_id).state == STATE_UNAVAILABLE

    await dual_socket.reconnect()
    await wait_for_station(hass, STATION_ID, lambda station: station.online)
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert hass.states.get(PORT_1_PLUGGED).state == STATE_ON


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_removed_station(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """Entities whose station vanished from the hub read nothing instead of failing."""
    hub = init_integration.runtime_data
    component = hass.data["entity_components"]["binary_sensor"]
    connectivity = component.get_entity(CONNECTIVITY)
    plugged = component.get_entity(PORT_1_PLUGGED)
    station = hub.stations.pop(STATION_ID)
    try:
        assert not connectivity.available
        assert connectivity.is_on is None
        assert plugged.is_on is None
    finally:
        hub.stations[STATION_ID] = station
