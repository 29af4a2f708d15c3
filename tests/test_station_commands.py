"""Identify, screen, sound, cards, memory, lockers and host commands, against the simulator."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest

from custom_components.iot_zinx.const import DOMAIN
from custom_components.iot_zinx.protocol.messages import (
    CardKeys,
    ChangeServerAddress,
    ClearMemory,
    ClearSubUpgrade,
    Locate,
    LockerDoor,
    LockerRelease,
    ModuleReboot,
    Mute,
    QueryStatus,
    SetCardBillingMode,
    SetQrCode,
    SetWorkMode,
    TemporaryQrCode,
)
from custom_components.iot_zinx.protocol.simulator import (
    SimulatedHost,
    SimulatedStation,
    StationSimulator,
)

from .conftest import ORDER_NO, STATION_ID, wait_for_station

HOST_ID = "09A00001"
IDENTIFY = "button.ap3000_04a228cd_identify"


async def call(hass: HomeAssistant, service: str, data: dict[str, Any]) -> None:
    """Call an action and wait for it."""
    await hass.services.async_call(DOMAIN, service, data, blocking=True)


async def refused(
    hass: HomeAssistant,
    service: str,
    data: dict[str, Any],
    error: type[Exception] = ServiceValidationError,
) -> HomeAssistantError:
    """The translated error an action raises."""
    with pytest.raises(error) as err:
        await call(hass, service, data)
    assert isinstance(err.value, HomeAssistantError)
    return err.value


@pytest.fixture
async def host(hass: HomeAssistant, simulator: StationSimulator) -> SimulatedHost:
    """A host gateway without sub-stations, online."""
    gateway = simulator.add_host(
        0x09A00001, [], host_heartbeat_interval=6e6, reboot_delay=0.01, auto_reconnect=False
    )
    await simulator.start()
    await wait_for_station(hass, HOST_ID, lambda state: state.online)
    return gateway


async def test_identify_button(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """0x96 with 10 s of sound and light."""
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: IDENTIFY}, blocking=True
    )
    assert dual_socket.commands == [Locate(10)]
    assert dual_socket.commands[0].encode() == b"\x0a"
    assert dual_socket.located_s == [10]


async def test_locate(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """The action takes 1-255 s (a u8)."""
    await call(hass, "locate", {"station_id": STATION_ID, "seconds": 255})
    assert dual_socket.commands[-1].encode() == b"\xff"
    for seconds in (0, 256):
        err = await refused(hass, "locate", {"station_id": STATION_ID, "seconds": seconds})
        assert err.translation_key == "value_out_of_range"
        assert err.translation_placeholders == {"field": "seconds", "min": "1", "max": "255"}
    assert dual_socket.located_s == [255]


async def test_work_mode(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """0x8D 1 = card only; a station that cannot switch answers 1."""
    await call(hass, "set_work_mode", {"station_id": STATION_ID, "mode": "card_only"})
    # Then 0x81: the station registers again, with the mode it now has.
    await wait_for_station(hass, STATION_ID, lambda state: state.work_mode == 1)
    assert dual_socket.commands == [SetWorkMode(1), QueryStatus()]
    assert dual_socket.work_mode == 1
    dual_socket.forced_results[0x8D] = 1
    err = await refused(
        hass, "set_work_mode", {"station_id": STATION_ID, "mode": "online"}, HomeAssistantError
    )
    assert err.translation_key == "station_refused"
    assert err.translation_placeholders == {
        "device_id": STATION_ID,
        "code": "1",
        "description": "the station cannot do that mode",
    }
    assert dual_socket.work_mode == 1


async def test_qr_code(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """0x8E: screen, 3 reserved bytes, 72 bytes of text whose last stays 0."""
    text = "https://example.com/s/04A228CD"
    await call(
        hass, "set_qr_code", {"station_id": STATION_ID, "text": text, "main_screen": "qr_code"}
    )
    payload = dual_socket.commands[-1].encode()
    assert payload == b"\x01\x00\x00\x00" + text.encode().ljust(72, b"\0")
    assert (dual_socket.main_screen, dual_socket.qr_code) == (1, text)

    await call(hass, "set_qr_code", {"station_id": STATION_ID, "text": "x" * 71})
    assert dual_socket.commands[-1] == SetQrCode(0, "x" * 71)
    for bad in ("x" * 72, "充电站"):
        err = await refused(hass, "set_qr_code", {"station_id": STATION_ID, "text": bad})
        assert err.translation_key == "invalid_text"
        assert err.translation_placeholders == {"field": "text", "limit": "71"}
    assert len(dual_socket.commands) == 2


async def test_temporary_qr_code(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """0x95: up to 200 bytes, NUL-padded."""
    await call(hass, "show_temporary_qr_code", {"station_id": STATION_ID, "text": "pay/1"})
    assert dual_socket.commands[-1].encode() == b"pay/1".ljust(200, b"\0")
    assert dual_socket.temporary_qr_code == "pay/1"
    err = await refused(
        hass, "show_temporary_qr_code", {"station_id": STATION_ID, "text": "x" * 201}
    )
    assert err.translation_placeholders == {"field": "text", "limit": "200"}
    assert dual_socket.commands == [TemporaryQrCode("pay/1")]


async def test_mute_and_card_billing_mode(
    hass: HomeAssistant, dual_socket: SimulatedStation
) -> None:
    """0x97 mute 1 / 0; 0x8F with the vendor's mode numbers."""
    await call(hass, "set_mute", {"station_id": STATION_ID, "mute": True})
    assert dual_socket.muted
    await call(hass, "set_mute", {"station_id": STATION_ID, "mute": False})
    assert not dual_socket.muted
    await call(hass, "set_card_billing_mode", {"station_id": STATION_ID, "mode": "energy"})
    await call(hass, "set_card_billing_mode", {"station_id": STATION_ID, "mode": "free_choice"})
    assert dual_socket.commands == [
        Mute(1),
        Mute(0),
        SetCardBillingMode(3),
        SetCardBillingMode(6),
    ]
    assert dual_socket.card_billing_mode == 6


async def test_card_keys_are_never_logged_nor_echoed(
    hass: HomeAssistant, dual_socket: SimulatedStation, caplog: pytest.LogCaptureFixture
) -> None:
    """0x86 sector and keys; a bad key's error names the field, not the key."""
    caplog.set_level(logging.DEBUG)
    await call(
        hass,
        "set_card_keys",
        {
            "station_id": STATION_ID,
            "sector": 2,
            "user_key": "a1b2c3d4e5f6",
            "new_card_key": "0F 1E 2D 3C 4B 5A",
        },
    )
    assert dual_socket.commands[-1].encode() == bytes.fromhex("02 a1b2c3d4e5f6 0f1e2d3c4b5a")
    assert dual_socket.settings[0x86] == CardKeys(
        2, bytes.fromhex("a1b2c3d4e5f6"), bytes.fromhex("0f1e2d3c4b5a")
    )
    err = await refused(
        hass,
        "set_card_keys",
        {
            "station_id": STATION_ID,
            "sector": 0,
            "user_key": "a1b2c3d4e5",
            "new_card_key": "ffffffffffff",
        },
    )
    assert err.translation_key == "invalid_card_key"
    assert err.translation_placeholders == {"field": "user_key"}
    err = await refused(
        hass,
        "set_card_keys",
        {"station_id": STATION_ID, "sector": 16, "user_key": "a1b2c3d4e5f6", "new_card_key": "zz"},
    )
    assert err.translation_placeholders == {"field": "sector", "min": "0", "max": "15"}
    err = await refused(
        hass,
        "set_card_keys",
        {
            "station_id": STATION_ID,
            "sector": 1,
            "user_key": "a1b2c3d4e5f6",
            "new_card_key": "zz1122334455",
        },
    )
    assert err.translation_placeholders == {"field": "new_card_key"}
    assert "zz11" not in str(err)
    assert len(dual_socket.commands) == 1
    for secret in ("a1b2c3d4e5f6", "a1 b2 c3", "A1B2C3D4E5F6", "0f1e2d3c4b5a", "0F 1E 2D"):
        assert secret not in caplog.text
    # Nor in the diagnostics: the card keys are never read back.
    assert "a1b2" not in str(
        hass.config_entries.async_entries(DOMAIN)[0].runtime_data.diagnostics()
    )


async def test_clear_memory_needs_confirmation(
    hass: HomeAssistant, dual_socket: SimulatedStation
) -> None:
    """0x88 only with confirm on."""
    for data in ({}, {"confirm": False}):
        err = await refused(hass, "clear_memory", {"station_id": STATION_ID, **data})
        assert err.translation_key == "confirmation_required"
    assert dual_socket.commands == []
    await call(hass, "clear_memory", {"station_id": STATION_ID, "confirm": True})
    assert dual_socket.commands == [ClearMemory()]
    assert dual_socket.memory_clears == 1


async def test_locker_release(hass: HomeAssistant, charging_dual_socket: SimulatedStation) -> None:
    """0x72 with the port's running order; the station settles it. A wrong number: result 1."""
    station = charging_dual_socket
    err = await refused(
        hass,
        "locker_release",
        {"station_id": STATION_ID, "port": 1, "order_number": "OTHER"},
        HomeAssistantError,
    )
    assert err.translation_key == "station_refused"
    assert station.ports[0].order is not None

    await call(hass, "locker_release", {"station_id": STATION_ID, "port": 1})
    release = station.commands[-1]
    assert release == LockerRelease(0, ORDER_NO)
    assert release.encode() == b"\x00" + ORDER_NO
    assert station.ports[0].order is None
    assert station.settlements[-1].order_no == ORDER_NO

    await wait_for_station(hass, STATION_ID, lambda state: state.ports[1].order is None)
    err = await refused(
        hass, "locker_release", {"station_id": STATION_ID, "port": 1}, HomeAssistantError
    )
    assert err.translation_key == "no_active_order"


async def test_locker_open_door(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """0x98 function 0 on the wire port."""
    await call(hass, "locker_open_door", {"station_id": STATION_ID, "port": 2})
    assert dual_socket.commands == [LockerDoor(0, 1)]
    assert dual_socket.commands[0].encode() == b"\x00\x01"
    assert dual_socket.doors_opened == [1]


async def test_change_server_address(hass: HomeAssistant, host: SimulatedHost) -> None:
    """0x34 as in the vendor's example: 8888, 4G, socket B on, baidu.com."""
    await call(
        hass,
        "change_server_address",
        {"station_id": HOST_ID, "host": "baidu.com", "server_port": 8888, "module": "4g"},
    )
    assert host.commands[-1].encode() == bytes.fromhex("b822 03 01 62616964752e636f6d" + "00" * 37)
    assert host.server_address == ChangeServerAddress(8888, 3, 1, "baidu.com")

    await call(
        hass,
        "change_server_address",
        {
            "station_id": HOST_ID,
            "host": "192.168.1.20",
            "server_port": 7054,
            "module": "wifi",
            "socket_b": False,
        },
    )
    assert host.server_address == ChangeServerAddress(7054, 1, 0, "192.168.1.20")


@pytest.mark.parametrize(
    ("data", "placeholders"),
    [
        ({"host": "bad host"}, {"field": "host"}),
        ({"host": "-x.example.com"}, {"field": "host"}),
        ({"host": "a" * 42 + ".com"}, {"field": "host"}),
        ({"server_port": 0}, {"field": "server_port", "min": "1", "max": "65535"}),
        ({"server_port": 65536}, {"field": "server_port", "min": "1", "max": "65535"}),
    ],
)
async def test_bad_server_address(
    hass: HomeAssistant, host: SimulatedHost, data: dict[str, Any], placeholders: dict[str, str]
) -> None:
    """Host name or IP of at most 45 characters, a TCP port: checked before sending."""
    base = {"station_id": HOST_ID, "host": "ha.example.com", "server_port": 8888, "module": "4g"}
    err = await refused(hass, "change_server_address", {**base, **data})
    assert err.translation_placeholders == placeholders
    assert host.commands == []


async def test_host_module_and_upgrade_data(hass: HomeAssistant, host: SimulatedHost) -> None:
    """0x32 restarts the module (the connection comes back); 0x33 clears upgrade data."""
    await call(hass, "clear_sub_upgrade", {"station_id": HOST_ID})
    await call(hass, "reboot_module", {"station_id": HOST_ID})
    assert host.commands == [ClearSubUpgrade(), ModuleReboot()]
    assert host.sub_upgrade_clears == 1
    await host.wait_for(lambda: host.connections == 2 and host.is_connected)
    assert host.module_reboots == 1


async def test_host_only_and_station_only(
    hass: HomeAssistant, host: SimulatedHost, simulator: StationSimulator
) -> None:
    """A host command for a station, a station command for a host: refused, nothing sent."""
    station = simulator.add_station(SimulatedStation(0x04A228CD, auto_reconnect=False))
    await station.connect(simulator.host, simulator.port)
    await wait_for_station(hass, STATION_ID, lambda state: state.online)
    for service in ("reboot_module", "clear_sub_upgrade"):
        err = await refused(hass, service, {"station_id": STATION_ID})
        assert err.translation_key == "host_only"
        assert err.translation_placeholders == {"device_id": STATION_ID}
    for service, extra in (("locate", {}), ("set_mute", {"mute": True})):
        err = await refused(hass, service, {"station_id": HOST_ID, **extra})
        assert err.translation_key == "not_for_host"
        assert err.translation_placeholders == {"device_id": HOST_ID}
    assert station.commands == []
    assert host.commands == []
