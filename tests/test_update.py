"""The firmware update entity: versions, files in the config folder, installs, 0x05 requests.

The configuration folder is a temporary one per test (``hass_config_dir``), so the firmware
files a test writes to ``hass.config.path("iot_zinx", "firmware")`` go away with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from unittest.mock import patch

from homeassistant.components.update import (
    ATTR_IN_PROGRESS,
    ATTR_INSTALLED_VERSION,
    ATTR_LATEST_VERSION,
    ATTR_UPDATE_PERCENTAGE,
    DOMAIN as UPDATE_DOMAIN,
    SERVICE_INSTALL,
)
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.iot_zinx.const import DOMAIN
from custom_components.iot_zinx.protocol.firmware import (
    HOST_F9,
    HOST_FA,
    MAX_RESTARTS,
    STATION_E0,
    STATION_F8,
    packetize,
)
from custom_components.iot_zinx.protocol.messages import HostUpgradeStart, UpgradeRequest
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator

from .conftest import STATION_ID, device_by_identifier, wait_for_station

FIRMWARE = "update.ap3000_04a228cd_firmware"
# 450 bytes: three packets and the check packet.
IMAGE = bytes(range(150)) * 3
# 600 bytes: for the old models, two 256-byte packets and 88 bytes.
OLD_IMAGE = bytes(range(200)) * 3


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A configuration folder of this test's own."""
    return hass_tmp_config_dir


def firmware_file(hass: HomeAssistant, name: str, data: bytes = IMAGE) -> Path:
    folder = Path(hass.config.path("iot_zinx", "firmware"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


async def refresh(hass: HomeAssistant, entity_id: str = FIRMWARE) -> None:
    """What a user does after dropping a file in: update the entity (reads the folder)."""
    await async_setup_component(hass, "homeassistant", {})
    await hass.services.async_call(
        "homeassistant", "update_entity", {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def install(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        UPDATE_DOMAIN, SERVICE_INSTALL, {ATTR_ENTITY_ID: FIRMWARE}, blocking=True
    )


async def online(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    **options: object,
) -> SimulatedStation:
    options.setdefault("reboot_delay", 0.05)
    station = simulator.add_station(station_factory(**options))
    await simulator.start()
    await simulator.wait_registered(timeout=5)
    await wait_for_station(hass, STATION_ID, lambda state: state.firmware is not None)
    return station


async def test_versions_from_the_register_and_the_folder(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """Installed: the register's 126 as 1.26; latest: the newest file of its type and family."""
    await online(hass, simulator, station_factory, firmware=126, device_type=0x21)
    state = hass.states.get(FIRMWARE)
    assert state.state == STATE_OFF
    assert state.attributes[ATTR_INSTALLED_VERSION] == "1.26"
    assert state.attributes[ATTR_LATEST_VERSION] == "1.26"
    assert state.attributes["firmware_file_pattern"] == "station-21-V1.xx.bin"

    # Only the first two fit: another family, type, target or name is never offered.
    for name in (
        "station-21-V1.27.bin",
        "STATION-21-v1.30-beta.bin",
        "station-21-V2.00.bin",
        "station-22-V1.40.bin",
        "host-21-V1.40.bin",
        "station-21-V1.25.bin",
        "firmware.bin",
    ):
        firmware_file(hass, name)
    assert hass.states.get(FIRMWARE).attributes[ATTR_LATEST_VERSION] == "1.26"  # not read yet
    await refresh(hass)
    state = hass.states.get(FIRMWARE)
    assert state.state == STATE_ON
    assert state.attributes[ATTR_LATEST_VERSION] == "1.30"
    assert state.attributes["firmware_file"] == "STATION-21-v1.30-beta.bin"


async def test_install_shows_progress_and_ends_with_the_registered_version(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """E0 packets with the check packet; the entity ends at the version the station registers."""
    station = await online(hass, simulator, station_factory, firmware=126, device_type=0x21)
    firmware_file(hass, "station-21-V1.27.bin")
    await refresh(hass)
    progress: list[tuple[object, object]] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is not None and new.attributes.get(ATTR_IN_PROGRESS):
            progress.append(
                (new.attributes[ATTR_UPDATE_PERCENTAGE], new.attributes["last_install_result"])
            )

    async_track_state_change_event(hass, FIRMWARE, record)
    await install(hass)

    assert station.commands == packetize(IMAGE, STATION_E0, device_type=0x21, version=127)
    assert station.firmware_images == [IMAGE]
    assert progress[0] == (0.0, "running")
    # The state is written again at 100 % while the station reboots and comes back.
    assert list(dict.fromkeys(p for p, _ in progress)) == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert progress[-1] == (100.0, "confirming")
    state = hass.states.get(FIRMWARE)
    assert state.state == STATE_OFF
    assert state.attributes[ATTR_INSTALLED_VERSION] == "1.27"
    assert state.attributes[ATTR_IN_PROGRESS] is False
    assert state.attributes["last_install_result"] == "success"
    record_ = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.firmware.diagnostics()
    install_ = record_["installs"][STATION_ID]
    assert {key: install_[key] for key in ("file", "from_version", "to_version", "total")} == {
        "file": "station-21-V1.27.bin",
        "from_version": "1.26",
        "to_version": "1.27",
        "total": 4,
    }
    assert (install_["acknowledged"], install_["resends"], install_["result"]) == (4, 0, "success")


async def test_install_aborts_when_the_station_goes_offline(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """A translated error; the next install starts again at packet 1."""
    station = await online(hass, simulator, station_factory, firmware=126, device_type=0x21)
    firmware_file(hass, "station-21-V1.27.bin")
    await refresh(hass)
    station.ignore_commands = True
    task = hass.async_create_task(install(hass))
    await station.wait_for(lambda: len(station.commands) == 1)
    await station.disconnect()
    with pytest.raises(HomeAssistantError) as err:
        await task
    assert err.value.translation_key == "firmware_station_offline"
    assert err.value.translation_placeholders == {"device_id": STATION_ID, "packet": "1"}
    assert "went offline during the firmware install" in str(err.value)

    station.ignore_commands = False
    await station.reconnect()
    await wait_for_station(hass, STATION_ID, lambda state: state.online)
    assert hass.states.get(FIRMWARE).attributes["last_install_result"] == "firmware_station_offline"
    station.commands.clear()
    await install(hass)
    assert [packet.current for packet in station.commands] == [1, 2, 3, 4]
    assert hass.states.get(FIRMWARE).attributes[ATTR_INSTALLED_VERSION] == "1.27"


async def test_install_fails_when_the_version_does_not_change(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """Every packet acknowledged, but no register with the new version within the timeout."""
    station = await online(
        hass, simulator, station_factory, firmware=126, device_type=0x21, reboot_delay=3600.0
    )
    firmware_file(hass, "station-21-V1.27.bin")
    await refresh(hass)
    with (
        patch("custom_components.iot_zinx.firmware.CONFIRM_TIMEOUT", 0.2),
        pytest.raises(HomeAssistantError) as err,
    ):
        await install(hass)
    assert err.value.translation_key == "firmware_not_confirmed"
    assert err.value.translation_placeholders == {"device_id": STATION_ID, "version": "1.27"}
    assert station.firmware_images == [IMAGE]
    state = hass.states.get(FIRMWARE)
    assert state.attributes[ATTR_INSTALLED_VERSION] == "1.26"
    assert state.attributes["last_install_result"] == "firmware_not_confirmed"


async def test_install_of_an_old_f8_station(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """Old type 06: 256-byte F8 packets from packet 1, confirmed by its next register."""
    station = await online(
        hass, simulator, station_factory, firmware=215, device_type=0x06, legacy_heartbeat=True
    )
    assert hass.states.get(FIRMWARE).attributes["firmware_file_pattern"] == "station-06-V2.xx.bin"
    firmware_file(hass, "station-06-V2.16.bin", OLD_IMAGE)
    await refresh(hass)
    await install(hass)
    assert station.commands == packetize(OLD_IMAGE, STATION_F8)
    assert [len(packet.data) for packet in station.commands] == [256, 256, 88]
    assert station.firmware_images == [OLD_IMAGE]
    state = hass.states.get(FIRMWARE)
    assert state.attributes[ATTR_INSTALLED_VERSION] == "2.16"
    assert state.attributes["last_install_result"] == "success"


async def test_the_stations_0x05_restarts_an_f8_install_at_packet_1(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    init_integration: MockConfigEntry,
) -> None:
    """ "当设备发05指令时，需要从第一包开始重发"; a station that keeps asking ends the install."""
    station = await online(hass, simulator, station_factory, firmware=215, device_type=0x06)
    events = async_capture_events(hass, "iot_zinx_upgrade_request")
    firmware_file(hass, "station-06-V2.16.bin", OLD_IMAGE)
    await refresh(hass)
    station.request_at_packets[2] = 1  # packet 2 answered by 0x05 instead
    await install(hass)
    assert [packet.current for packet in station.commands] == [1, 2, 1, 2, 3]
    assert station.firmware_images == [OLD_IMAGE]
    assert len(events) == 1
    diagnostics = init_integration.runtime_data.firmware.diagnostics()
    record = diagnostics["installs"][STATION_ID]
    assert (record["restarts"], record["result"]) == (1, "success")

    # Every packet 1 answered by 0x05: MAX_RESTARTS restarts, then a translated error.
    firmware_file(hass, "station-06-V2.17.bin", OLD_IMAGE)
    await refresh(hass)
    station.commands.clear()
    station.request_at_packets[1] = MAX_RESTARTS + 1
    with pytest.raises(HomeAssistantError) as err:
        await install(hass)
    assert err.value.translation_key == "firmware_restarted"
    assert err.value.translation_placeholders == {"device_id": STATION_ID, "count": "3"}
    assert [packet.current for packet in station.commands] == [1] * (MAX_RESTARTS + 1)
    assert hass.states.get(FIRMWARE).attributes["last_install_result"] == "firmware_restarted"


async def test_install_errors_before_sending(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """An install whose file went away meanwhile sends nothing."""
    station = await online(hass, simulator, station_factory, firmware=215, device_type=0x06)
    path = firmware_file(hass, "station-06-V2.16.bin")
    await refresh(hass)
    path.unlink()  # the entity still offers it until the folder is read again
    with pytest.raises(HomeAssistantError) as err:
        await install(hass)
    assert err.value.translation_key == "firmware_no_file"
    assert station.commands == []


async def test_upgrade_request_fires_an_event_and_shows_on_the_entity(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """0x05: ``iot_zinx_upgrade_request``, not one of the forwarded ``iot_zinx_event`` types."""
    station = await online(hass, simulator, station_factory, firmware=126, device_type=0x21)
    events = async_capture_events(hass, "iot_zinx_upgrade_request")
    forwarded = async_capture_events(hass, "iot_zinx_event")
    station.send(UpgradeRequest(0x21, 126, 3))
    await wait_for_station(hass, STATION_ID, lambda _: bool(events))
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert device is not None
    (event,) = events
    requested_at = event.data["requested_at"]
    assert event.data == {
        "station_id": STATION_ID,
        "device_id": device.id,
        "device_type": 0x21,
        "firmware_version": "1.26",
        "package_type": 3,
        "requested_at": requested_at,
    }
    assert [e for e in forwarded if e.data.get("command") in (5, "0x05")] == []
    attributes = hass.states.get(FIRMWARE).attributes
    assert attributes["upgrade_requested_at"] == requested_at
    assert attributes["upgrade_request_version"] == "1.26"
    assert attributes["upgrade_request_package_type"] == 3


async def test_installs_of_one_station_do_not_overlap(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    init_integration: MockConfigEntry,
) -> None:
    """A second install while one runs is refused with a translated error."""
    station = await online(hass, simulator, station_factory, firmware=126, device_type=0x21)
    firmware_file(hass, "station-21-V1.27.bin")
    await refresh(hass)
    station.ignore_commands = True
    task = hass.async_create_task(install(hass))
    await station.wait_for(lambda: len(station.commands) == 1)
    manager = init_integration.runtime_data.firmware
    with pytest.raises(HomeAssistantError) as err:
        await manager.async_install(STATION_ID)
    assert err.value.translation_key == "firmware_busy"
    await station.disconnect()
    with pytest.raises(HomeAssistantError):
        await task
    await asyncio.sleep(0)


async def test_host_gateway_install_over_fa(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """A host: its 0x11 version and type; FA start, packets, confirmed by its next 0x11."""
    host = simulator.add_host(
        0x09000001, [station_factory()], firmware=301, host_type=0x50, reboot_delay=0.05
    )
    host.next_firmware = 302
    await simulator.start()
    await wait_for_station(hass, "09000001", lambda state: state.host_type == 0x50)
    entity_id = "update.ap3000_09000001_firmware"
    attributes = hass.states.get(entity_id).attributes
    assert attributes[ATTR_INSTALLED_VERSION] == "3.01"
    assert attributes["firmware_file_pattern"] == "host-50-V3.xx.bin"
    firmware_file(hass, "host-50-V3.02.bin")
    await refresh(hass, entity_id)
    assert hass.states.get(entity_id).attributes[ATTR_LATEST_VERSION] == "3.02"
    await hass.services.async_call(
        UPDATE_DOMAIN, SERVICE_INSTALL, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )
    assert host.commands == [HostUpgradeStart(), *packetize(IMAGE, HOST_FA)]
    assert host.firmware_images == [IMAGE]
    state = hass.states.get(entity_id)
    assert state.attributes[ATTR_INSTALLED_VERSION] == "3.02"
    assert state.attributes["last_install_result"] == "success"


async def test_old_host_install_over_f9_and_its_0x15(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """Host type 01: 256-byte F9 packets from packet 1; its 0x15 fires the request event."""
    host = simulator.add_host(
        0x09000001, [station_factory()], firmware=215, host_type=0x01, reboot_delay=0.05
    )
    await simulator.start()
    await wait_for_station(hass, "09000001", lambda state: state.host_type == 0x01)
    entity_id = "update.ap3000_09000001_firmware"
    assert hass.states.get(entity_id).attributes["firmware_file_pattern"] == "host-01-V2.xx.bin"
    events = async_capture_events(hass, "iot_zinx_upgrade_request")
    host.request_upgrade()
    await wait_for_station(hass, "09000001", lambda _: bool(events))
    assert host.received_commands[0x15] == 1  # answered (host document 4.5)
    assert {key: events[0].data[key] for key in ("station_id", "device_type")} == {
        "station_id": "09000001",
        "device_type": None,
    }
    assert events[0].data["firmware_version"] is None
    firmware_file(hass, "host-01-V2.16.bin", OLD_IMAGE)
    await refresh(hass, entity_id)
    await hass.services.async_call(
        UPDATE_DOMAIN, SERVICE_INSTALL, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )
    assert host.commands == packetize(OLD_IMAGE, HOST_F9)
    assert host.firmware_images == [OLD_IMAGE]
    state = hass.states.get(entity_id)
    assert state.attributes[ATTR_INSTALLED_VERSION] == "2.16"
    assert state.attributes["last_install_result"] == "success"
