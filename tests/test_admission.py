"""Station admission through Home Assistant: an unlisted station leaves no trace and gets no reply.

``test_hub.test_admission_allow_list`` checks the hub's stations and events; this module
checks what an operator would look at (device and entity registries, the event bus) and
what the station itself sees on the wire: not one byte in reply to its register.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.iot_zinx.const import (
    ADMISSION_ALLOW_LIST,
    CONF_ADMISSION,
    CONF_STATION_ALLOW_LIST,
    DOMAIN,
    EVENT_IOT_ZINX,
)
from custom_components.iot_zinx.protocol.frame import Frame
from custom_components.iot_zinx.protocol.messages import Heartbeat, Register
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator

from .conftest import device_by_identifier, wait_for_station

LISTED = 0x04A228CE
UNLISTED = 0x04A228CD
ICCID = b"89860413161892009275"


@pytest.fixture
def entry_options() -> dict[str, Any]:
    return {CONF_ADMISSION: ADMISSION_ALLOW_LIST, CONF_STATION_ALLOW_LIST: ["04A228CE"]}


def station_frames(physical_id: int) -> bytes:
    """What a station sends after connecting: ICCID, register, heartbeat."""
    register = Frame(physical_id, 1, 0x20, Register(126, 2, 0, 0x21, 0, 0).encode())
    heartbeat = Frame(physical_id, 2, 0x21, Heartbeat(220.0, 2, (0, 0), 20, 30).encode())
    return ICCID + register.encode() + heartbeat.encode()


async def test_unlisted_station_is_invisible_and_unanswered(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    entity_registry = er.async_get(hass)
    events = async_capture_events(hass, EVENT_IOT_ZINX)
    hub = init_integration.runtime_data
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.server.port)
    try:
        writer.write(station_frames(UNLISTED))
        await writer.drain()
        # The listed station on its own connection is served meanwhile.
        simulator.add_station(station_factory(LISTED))
        await simulator.start()
        await simulator.wait_registered(timeout=5)
        await wait_for_station(hass, "04A228CE", lambda state: state.last_heartbeat is not None)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await reader.read(1)
        assert hub.server.stats.rejected_stations == 1
        assert hub.server.stats.rejected_frames == 2
    finally:
        writer.close()
    await hass.async_block_till_done()

    assert set(hub.stations) == {"04A228CE"}
    assert device_by_identifier(hass, (DOMAIN, "04A228CD")) is None
    listed = device_by_identifier(hass, (DOMAIN, "04A228CE"))
    assert listed is not None
    entries = er.async_entries_for_config_entry(entity_registry, init_integration.entry_id)
    assert entries
    assert {entry.device_id for entry in entries} == {listed.id}
    assert not [entry for entry in entries if "04a228cd" in entry.unique_id.lower()]
    assert events
    assert {event.data["device_id"] for event in events} == {"04A228CE"}


async def test_station_added_to_the_list_is_admitted_after_the_reload(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    hass.config_entries.async_update_entry(
        init_integration,
        options={**init_integration.options, CONF_STATION_ALLOW_LIST: ["04A228CE", "04A228CD"]},
    )
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    hub = init_integration.runtime_data
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.server.port)
    try:
        writer.write(station_frames(UNLISTED))
        async with asyncio.timeout(2):
            reply = await reader.readexactly(15)
        assert reply == Frame(UNLISTED, 1, 0x20, b"\x00").encode()
        await wait_for_station(hass, "04A228CD", lambda state: state.online)
    finally:
        writer.close()
