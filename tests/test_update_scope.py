"""Which entities a frame rewrites: a port's report only its port's, a heartbeat the station's.

At thousands of stations this is what keeps Home Assistant's event loop free: a 10-port
station has about 90 entities, and a 0x06 power report concerns the 8 of one port.
"""

from __future__ import annotations

import dataclasses

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_zinx.protocol.simulator import SimulatedStation
from custom_components.iot_zinx.signals import signal_port_update, signal_station_update

from .conftest import POWER_REPORT, STATION_ID, wait_for_station


async def test_power_report_updates_only_its_port(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    charging_dual_socket: SimulatedStation,
) -> None:
    """A 0x06 of port 1 signals port 1 only; a heartbeat signals the station."""
    entry_id = init_integration.entry_id
    counts = {"station": 0, 1: 0, 2: 0}

    def count(key: str | int) -> None:
        counts[key] += 1

    # @callback targets run in the event loop; plain functions would run in an executor
    # thread and race the assertions below.
    async_dispatcher_connect(
        hass, signal_station_update(entry_id, STATION_ID), callback(lambda: count("station"))
    )
    for port in (1, 2):
        async_dispatcher_connect(
            hass,
            signal_port_update(entry_id, STATION_ID, port),
            callback(lambda port=port: count(port)),
        )
    charging_dual_socket.send(dataclasses.replace(POWER_REPORT, power_w=199.9))
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].power_w == 199.9)
    assert counts == {"station": 0, 1: 1, 2: 0}
    state = hass.states.get("sensor.ap3000_04a228cd_port_1_power")
    assert state is not None
    assert state.state == "199.9"

    # A heartbeat whose port statuses did not change: the station's entities only.
    charging_dual_socket.send(charging_dual_socket.heartbeat_message())
    await wait_for_station(hass, STATION_ID, lambda _station: counts["station"] == 1)
    assert counts == {"station": 1, 1: 1, 2: 0}
