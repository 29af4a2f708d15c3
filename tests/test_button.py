"""Buttons: reboot and query status."""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.iot_zinx.protocol.messages import QueryStatus, Reboot
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator

from .conftest import STATION_ID, snapshot_entities, wait_for_station

RESTART = "button.ap3000_04a228cd_restart"
QUERY_STATUS = "button.ap3000_04a228cd_query_status"


async def press(hass: HomeAssistant, entity_id: str) -> None:
    """Press a button, waiting for the command to go out."""
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


@pytest.mark.usefixtures("dual_socket")
async def test_buttons(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Restart (configuration) and query status (diagnostic)."""
    await snapshot_entities(hass, entity_registry, snapshot, init_integration.entry_id, "button")


async def test_reboot(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """0x87 goes out; the station restarts and comes back on a new connection."""
    station = simulator.add_station(station_factory(reboot_delay=0.05))
    await simulator.start()
    await wait_for_station(hass, STATION_ID, lambda state: state.last_heartbeat is not None)

    await press(hass, RESTART)
    await station.wait_for(lambda: station.reboots == 1 and station.registered.is_set())
    assert isinstance(station.commands[-1], Reboot)
    assert station.connections == 2
    await wait_for_station(hass, STATION_ID, lambda state: state.online)
    assert hass.states.get("binary_sensor.ap3000_04a228cd_connectivity").state == "on"


async def test_query_status(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """0x81 makes the station register and heartbeat again, at once."""
    registrations = dual_socket.registrations
    await press(hass, QUERY_STATUS)
    # 0x81 has no reply: the press returns once it is sent; the station answers by reporting.
    await dual_socket.wait_for(lambda: dual_socket.registrations == registrations + 1)
    assert isinstance(dual_socket.commands[-1], QueryStatus)
