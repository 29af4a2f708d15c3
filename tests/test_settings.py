"""get_settings / set_settings against the simulated station: read, merge, write, confirm."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
import json
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_zinx.const import DOMAIN
from custom_components.iot_zinx.protocol.messages import (
    CommandResult,
    Limits,
    ReadParameters,
    RunParameters1,
    RunParameters2,
)
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator

from .conftest import STATION_ID, device_by_identifier, wait_for_station

# The simulator's factory settings (the vendor's defaults).
DEFAULTS: dict[str, Any] = {
    "unplug_power_w": 0.3,
    "unplug_time_s": 10,
    "float_percent": 20,
    "float_detect_time_s": 1800,
    "float_time_s": 3600,
    "heartbeat_interval_s": 180,
    "dynamic_overload_power_w": 80.0,
    "dynamic_overload_time_s": 30,
    "dynamic_overload_start_s": 1800,
    "unplug_interference_power_w": 1.0,
    "unplug_interference_time_s": 300,
    "float_second_check_point_s": 10800,
    "float_second_check_time_s": 300,
    "min_power_w": 30.0,
    "min_power_check_point_s": 1800,
    "second_max_power_point_s": 300,
    "ambient_alarm_temp_c": 80,
    "port_alarm_temp_c": 80,
    "unplug_detection": 0,
    "qr_light": 1,
    "max_duration_s": 36000,
    "overload_power_w": 2000.0,
    "over_voltage_v": 270.0,
    "under_voltage_v": 100.0,
}
WRITES = {RunParameters1.COMMAND, RunParameters2.COMMAND, Limits.COMMAND}


@pytest.fixture
def quick_timeout(command_timing: None) -> Generator[None]:
    """A 0.1 s reply timeout (so 0.2 s with the resend), set before the entry starts."""
    with patch("custom_components.iot_zinx.hub.REPLY_TIMEOUT", 0.1):
        yield


async def call(hass: HomeAssistant, service: str, data: dict[str, Any]) -> Any:
    """Call an action, with its response."""
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


def reads(station: SimulatedStation) -> list[int]:
    """The read-back commands the station received, in order."""
    return [c.command for c in station.commands if isinstance(c, ReadParameters)]


async def test_get_settings(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """0x90, 0x91 and 0x92, never 0x93; every field under the protocol package's name."""
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert device is not None
    response = await call(hass, "get_settings", {"device_id": device.id})
    assert response == DEFAULTS
    assert [(type(c), c.encode()) for c in dual_socket.commands] == [
        (ReadParameters, b""),
        (ReadParameters, b""),
        (ReadParameters, b""),
    ]
    assert reads(dual_socket) == [0x90, 0x91, 0x92]

    # The diagnostics show what was read, and when; never the card keys.
    diagnostics = init_integration.runtime_data.diagnostics()["settings"]
    assert diagnostics[STATION_ID]["values"] == DEFAULTS
    assert diagnostics[STATION_ID]["read_at"].endswith("+00:00")
    assert "key" not in json.dumps(diagnostics)


async def test_get_settings_of_older_firmware(
    hass: HomeAssistant, dual_socket: SimulatedStation
) -> None:
    """Optional trailing fields the firmware does not send are None, not invented."""
    dual_socket.settings[0x84] = RunParameters2(
        80.0, 30, 1800, 1.0, 300, 10800, 300, 30.0, 1800, 300, 80, 80, 0
    )
    dual_socket.settings[0x85] = Limits(36000, 2000.0)
    response = await call(hass, "get_settings", {"station_id": STATION_ID})
    assert response == {
        **DEFAULTS,
        "qr_light": None,
        "over_voltage_v": None,
        "under_voltage_v": None,
    }


async def test_set_one_field_writes_the_block_as_read(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """Read 0x90, write 0x83 with the other fields exactly as read, read back to confirm."""
    dual_socket.settings[0x83] = RunParameters1(1.5, 12, 20, 1700, 3000, 120)
    response = await call(hass, "set_settings", {"station_id": STATION_ID, "float_percent": 30})
    assert response == {
        "unplug_power_w": 1.5,
        "unplug_time_s": 12,
        "float_percent": 30,
        "float_detect_time_s": 1700,
        "float_time_s": 3000,
        "heartbeat_interval_s": 120,
    }
    assert [c.command for c in dual_socket.commands] == [0x90, 0x83, 0x90]
    written = dual_socket.commands[1]
    # 15 (0.1 W) · 12 s · 30 % · 1700 s · 3000 s · 120 s, little-endian.
    assert written.encode() == bytes.fromhex("0f00 0c00 1e a406 b80b 7800")
    assert dual_socket.settings[0x83] == RunParameters1(1.5, 12, 30, 1700, 3000, 120)
    # The other blocks were neither read nor written.
    assert dual_socket.settings[0x84] == RunParameters2(
        80.0, 30, 1800, 1.0, 300, 10800, 300, 30.0, 1800, 300, 80, 80, 0, 1
    )
    last = init_integration.runtime_data.diagnostics()["settings"][STATION_ID]["values"]
    assert last == response


async def test_set_fields_of_two_blocks(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """Both blocks are read before anything is written; each is confirmed."""
    response = await call(
        hass,
        "set_settings",
        {"station_id": STATION_ID, "qr_light": 0, "under_voltage_v": 180.04},
    )
    assert [c.command for c in dual_socket.commands] == [0x91, 0x92, 0x84, 0x91, 0x85, 0x92]
    # 0.1 V on the wire: 180.04 V goes out as 1800.
    assert dual_socket.commands[4].encode() == bytes.fromhex("a08c 204e 8c0a 0807")
    assert dual_socket.commands[2].encode()[-2:] == b"\x00\x00"  # unplug detection, QR light
    assert response["qr_light"] == 0
    assert response["under_voltage_v"] == 180.0
    assert response["overload_power_w"] == 2000.0
    assert "float_percent" not in response


@pytest.mark.parametrize(
    ("field", "value", "limits"),
    [
        ("float_percent", 0, ("1", "100")),
        ("float_percent", 101, ("1", "100")),
        ("heartbeat_interval_s", 0, ("1", "65535")),
        ("unplug_time_s", 65536, ("0", "65535")),
        ("unplug_time_s", 1.5, ("0", "65535")),
        ("unplug_interference_power_w", 25.6, ("0", "25.5")),
        ("overload_power_w", 3500.1, ("0.1", "3500")),
        ("unplug_detection", 2, ("0", "1")),
        ("port_alarm_temp_c", 256, ("0", "255")),
    ],
)
async def test_out_of_range_is_refused_before_sending(
    hass: HomeAssistant,
    dual_socket: SimulatedStation,
    field: str,
    value: float,
    limits: tuple[str, str],
) -> None:
    """Vendor ranges and wire limits; the error names the field; nothing goes out."""
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass, "set_settings", {"station_id": STATION_ID, "float_time_s": 600, field: value}
        )
    assert err.value.translation_key == "value_out_of_range"
    assert err.value.translation_placeholders == {
        "field": field,
        "min": limits[0],
        "max": limits[1],
    }
    assert dual_socket.commands == []


async def test_nothing_to_set(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """At least one field."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "set_settings", {"station_id": STATION_ID})
    assert err.value.translation_key == "no_settings"
    assert dual_socket.commands == []


async def test_field_the_firmware_lacks(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """A station without the 2024 voltages: refused after the read, nothing written."""
    dual_socket.settings[0x85] = Limits(36000, 2000.0)
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass,
            "set_settings",
            {"station_id": STATION_ID, "over_voltage_v": 260, "float_percent": 30},
        )
    assert err.value.translation_key == "setting_unsupported"
    assert err.value.translation_placeholders == {
        "device_id": STATION_ID,
        "fields": "over_voltage_v",
    }
    assert [c.command for c in dual_socket.commands] == [0x90, 0x92]
    assert dual_socket.settings[0x85] == Limits(36000, 2000.0)


@pytest.mark.usefixtures("quick_timeout")
@pytest.mark.parametrize("how", ["ignore", "drop"])
async def test_no_answer_to_the_read(
    hass: HomeAssistant, dual_socket: SimulatedStation, how: str
) -> None:
    """The read times out: the timeout error, and no 0x83-0x85 frame reaches the station."""
    if how == "ignore":
        dual_socket.ignore_commands = True
    else:
        dual_socket.drop_commands = 2  # the read and its resend
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "set_settings", {"station_id": STATION_ID, "max_duration_s": 7200})
    assert err.value.translation_key == "command_timeout"
    assert err.value.translation_placeholders == {"device_id": STATION_ID, "command": "0x92"}
    assert not WRITES & set(dual_socket.received_commands)
    assert [c.command for c in dual_socket.commands] == [0x92, 0x92]


async def test_station_refuses_the_block(
    hass: HomeAssistant, dual_socket: SimulatedStation
) -> None:
    """Result 1 to a write is a typed, translated error; the block is not read back."""
    dual_socket.forced_results[0x84] = 1
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "set_settings", {"station_id": STATION_ID, "min_power_w": 20})
    assert err.value.translation_key == "settings_refused"
    assert err.value.translation_placeholders == {
        "device_id": STATION_ID,
        "command": "0x84",
        "code": "1",
    }
    assert [c.command for c in dual_socket.commands] == [0x91, 0x84]


async def test_read_back_differs(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """A station that answers 0 but keeps its old values: not confirmed, names the field."""
    dual_socket.forced_results[0x83] = 0  # answered, not stored
    with pytest.raises(HomeAssistantError) as err:
        await call(
            hass,
            "set_settings",
            {"station_id": STATION_ID, "unplug_time_s": 15, "float_percent": 20},
        )
    assert err.value.translation_key == "settings_not_confirmed"
    assert err.value.translation_placeholders == {
        "device_id": STATION_ID,
        "fields": "unplug_time_s",
    }
    assert [c.command for c in dual_socket.commands] == [0x90, 0x83, 0x90]


async def test_unexpected_read_back(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """A read-back answered in another layout is a command failure, nothing written."""
    server = init_integration.runtime_data.server
    with (
        patch.object(server, "request", return_value=CommandResult(0x90, 0)) as request,
        pytest.raises(HomeAssistantError) as err,
    ):
        await call(hass, "get_settings", {"station_id": STATION_ID})
    assert err.value.translation_key == "command_failed"
    assert err.value.translation_placeholders == {
        "device_id": STATION_ID,
        "error": "station 04A228CD answered 0x90 with another layout",
    }
    assert request.call_count == 1


async def test_set_limits_still_works(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """The older action writes 0x85 whole, as before."""
    await hass.services.async_call(
        DOMAIN,
        "set_limits",
        {
            "station_id": STATION_ID,
            "max_duration": 60,
            "overload_power": 1000,
            "over_voltage": 250,
            "under_voltage": 190,
        },
        blocking=True,
    )
    response = await call(hass, "get_settings", {"station_id": STATION_ID})
    assert (
        response["max_duration_s"],
        response["overload_power_w"],
        response["over_voltage_v"],
        response["under_voltage_v"],
    ) == (3600, 1000.0, 250.0, 190.0)


async def test_settings_of_a_host_are_refused(
    hass: HomeAssistant, simulator: StationSimulator
) -> None:
    """A host gateway has no run parameters: refused before anything is sent."""
    host = simulator.add_host(0x09A00001, [], host_heartbeat_interval=6e6)
    await simulator.start()
    await wait_for_station(hass, "09A00001", lambda state: state.online)
    for service, extra in (("get_settings", {}), ("set_settings", {"float_percent": 30})):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, service, {"station_id": "09A00001", **extra})
        assert err.value.translation_key == "not_for_host"
        assert err.value.translation_placeholders == {"device_id": "09A00001"}
    assert host.commands == []


async def test_concurrent_changes_of_one_block(
    hass: HomeAssistant, dual_socket: SimulatedStation
) -> None:
    """Two changes at once: one read-merge-write after the other, so both are kept."""
    await asyncio.gather(
        call(hass, "set_settings", {"station_id": STATION_ID, "float_percent": 30}),
        call(hass, "set_settings", {"station_id": STATION_ID, "unplug_time_s": 15}),
    )
    assert [c.command for c in dual_socket.commands] == [0x90, 0x83, 0x90] * 2
    assert dual_socket.settings[0x83] == RunParameters1(0.3, 15, 30, 1800, 3600, 180)
