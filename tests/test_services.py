"""The actions, against the simulated station: results, refusals, timeouts, bad input."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_zinx.const import DOMAIN
from custom_components.iot_zinx.protocol.errors import CommandError
from custom_components.iot_zinx.protocol.messages import (
    ChargeControl,
    Limits,
    ModifyCharge,
    QueryStatus,
    Reboot,
)
from custom_components.iot_zinx.protocol.simulator import SimulatedStation

from .conftest import ORDER_NO, ORDER_NUMBER, STATION_ID, device_by_identifier, wait_for_station


@pytest.fixture
def quick_timeout(command_timing: None) -> Generator[None]:
    """A 0.1 s reply timeout (so 0.2 s with the resend), set before the entry starts."""
    with patch("custom_components.iot_zinx.hub.REPLY_TIMEOUT", 0.1):
        yield


async def call(hass: HomeAssistant, service: str, data: dict[str, Any]) -> Any:
    """Call an action and wait for it; the response when the action gives one."""
    return_response = service in ("start_charging", "stop_charging")
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=return_response
    )


@pytest.mark.parametrize("station_id", ["04A228CD", "04a228cd", "0x04A228CD"])
async def test_start_charging(
    hass: HomeAssistant, dual_socket: SimulatedStation, station_id: str
) -> None:
    """Until full by default; the response names the order; any spelling of the id."""
    response = await call(
        hass, "start_charging", {"station_id": station_id, "port": 1, "order_number": "A1"}
    )
    assert response == {"order_number": "A1", "response_code": 0, "status_desc": "执行成功"}
    start = dual_socket.commands[-1]
    assert isinstance(start, ChargeControl)
    assert (start.action, start.port, start.rate_mode, start.value) == (1, 0, 0, 0)
    assert start.order_no == b"A1".ljust(16, b"\0")
    assert start.max_power_w == 0.0


@pytest.mark.parametrize(
    ("data", "sent"),
    [
        # rate_mode, value, max_power_w as the 0x82 carries them
        ({"mode": "time", "duration": 30}, (0, 1800, 0.0)),
        ({"mode": "energy", "energy": 0.75, "max_power": 500}, (2, 75, 500.0)),
        # A limit that does not belong to the mode is not sent.
        ({"mode": "full", "duration": 30, "energy": 2}, (0, 0, 0.0)),
    ],
)
async def test_start_charging_modes(
    hass: HomeAssistant,
    dual_socket: SimulatedStation,
    data: dict[str, Any],
    sent: tuple[int, int, float],
) -> None:
    """Time and energy limits go out in the station's units (s, 0.01 kWh)."""
    response = await call(hass, "start_charging", {"station_id": STATION_ID, "port": 1, **data})
    assert response["response_code"] == 0
    assert len(response["order_number"]) == 32  # generated: 16 random bytes in hex
    start = dual_socket.commands[-1]
    assert isinstance(start, ChargeControl)
    assert (start.rate_mode, start.value, start.max_power_w) == sent


async def test_start_charging_by_device(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry, dual_socket: SimulatedStation
) -> None:
    """The station may be named by its device instead of its id."""
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert device is not None
    response = await call(hass, "start_charging", {"device_id": device.id, "port": 1})
    assert response["response_code"] == 0
    assert dual_socket.charging_ports() == [0]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"mode": "time"}, "missing_duration"),
        ({"mode": "energy", "duration": 30}, "missing_energy"),
    ],
)
async def test_start_charging_missing_limit(
    hass: HomeAssistant, dual_socket: SimulatedStation, data: dict[str, Any], key: str
) -> None:
    """A timed charge needs minutes, an energy charge kWh; nothing is sent without."""
    sent = len(dual_socket.commands)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "start_charging", {"station_id": STATION_ID, "port": 1, **data})
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert len(dual_socket.commands) == sent


@pytest.mark.parametrize(
    ("code", "description"),
    [(1, "端口未插充电器"), (6, "多路设备功率超标")],
)
async def test_start_charging_refused(
    hass: HomeAssistant, dual_socket: SimulatedStation, code: int, description: str
) -> None:
    """The station's refusal code and its vendor wording reach the user."""
    if code != 1:
        dual_socket.forced_results[0x82] = code
    port = 2 if code == 1 else 1
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "start_charging", {"station_id": STATION_ID, "port": port})
    assert err.value.translation_key == "station_refused"
    assert err.value.translation_placeholders == {
        "device_id": STATION_ID,
        "code": str(code),
        "description": description,
    }


@pytest.mark.usefixtures("quick_timeout")
async def test_start_charging_timeout(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """No answer to the command nor to its resend."""
    dual_socket.ignore_commands = True
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "start_charging", {"station_id": STATION_ID, "port": 1})
    assert err.value.translation_key == "command_timeout"
    assert err.value.translation_placeholders == {"device_id": STATION_ID, "command": "0x82"}


async def test_station_offline(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """A known station without a connection: nothing can be sent."""
    await dual_socket.disconnect()
    await wait_for_station(hass, STATION_ID, lambda station: not station.online)
    for service, extra in (("start_charging", {"port": 1}), ("query_status", {})):
        with pytest.raises(HomeAssistantError) as err:
            await call(hass, service, {"station_id": STATION_ID, **extra})
        assert err.value.translation_key == "station_offline"
        assert err.value.translation_placeholders == {"device_id": STATION_ID}


async def test_unknown_station(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry, dual_socket: SimulatedStation
) -> None:
    """An id no loaded entry knows, a device of another integration, a device id unknown."""
    other_entry = MockConfigEntry(domain="other")
    other_entry.add_to_hass(hass)
    other = device_registry.async_get_or_create(
        config_entry_id=other_entry.entry_id, identifiers={("other", "x")}
    )
    for data, station in (
        ({"station_id": "04FFFFFF"}, "04FFFFFF"),
        ({"device_id": other.id}, other.id),
        ({"device_id": "not-a-device"}, "not-a-device"),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "reboot", data)
        assert err.value.translation_key == "unknown_station"
        assert err.value.translation_placeholders == {"station": station}


async def test_invalid_port(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """A port beyond the station's port count."""
    for service in ("start_charging", "stop_charging", "modify_charging"):
        data: dict[str, Any] = {"station_id": STATION_ID, "port": 3}
        if service == "modify_charging":
            data |= {"mode": "time", "value": 10}
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, service, data)
        assert err.value.translation_key == "invalid_port"
        assert err.value.translation_placeholders == {
            "device_id": STATION_ID,
            "port": "3",
            "port_count": "2",
        }


@pytest.mark.parametrize(
    "data",
    [
        {"port": 1},  # no station at all
        {"station_id": STATION_ID, "device_id": "abc", "port": 1},  # both
        {"station_id": "04A228C", "port": 1},
        {"station_id": STATION_ID, "port": 17},
        {"station_id": STATION_ID, "port": 1, "order_number": "A" * 17},
        {"station_id": STATION_ID, "port": 1, "order_number": "订单"},
        {"station_id": STATION_ID, "port": 1, "mode": "monthly"},
    ],
)
async def test_start_charging_schema(
    hass: HomeAssistant, init_integration: MockConfigEntry, data: dict[str, Any]
) -> None:
    """Input the station could not take is refused before anything is looked up."""
    with pytest.raises(probatio.Invalid):
        await call(hass, "start_charging", data)


async def test_stop_charging(hass: HomeAssistant, charging_dual_socket: SimulatedStation) -> None:
    """Stop carries the running order's number; the response names it."""
    response = await call(hass, "stop_charging", {"station_id": STATION_ID, "port": 1})
    assert response == {
        "order_number": ORDER_NUMBER,
        "response_code": 0,
        "status_desc": "执行成功",
    }
    stop = charging_dual_socket.commands[-1]
    assert isinstance(stop, ChargeControl)
    assert (stop.action, stop.port, stop.order_no) == (0, 0, ORDER_NO)
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].order is None)


async def test_stop_charging_without_order(
    hass: HomeAssistant, dual_socket: SimulatedStation
) -> None:
    """Nothing to stop on an idle port."""
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "stop_charging", {"station_id": STATION_ID, "port": 2})
    assert err.value.translation_key == "no_active_order"


@pytest.mark.parametrize(
    ("mode", "value", "command"),
    [
        ("time", 120, ModifyCharge(0, 0, 7200)),
        ("time_stop_full", 90.5, ModifyCharge(1, 0, 5430)),
        ("energy_stop_full", 0.5, ModifyCharge(2, 0, 50)),
    ],
)
async def test_modify_charging(
    hass: HomeAssistant,
    charging_dual_socket: SimulatedStation,
    mode: str,
    value: float,
    command: ModifyCharge,
) -> None:
    """Minutes go out as seconds, kWh as 0.01 kWh (0x8A)."""
    await call(
        hass,
        "modify_charging",
        {"station_id": STATION_ID, "port": 1, "mode": mode, "value": value},
    )
    assert charging_dual_socket.commands[-1] == command


async def test_modify_charging_refused(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """0x8A on a port that does not charge: result 1."""
    with pytest.raises(HomeAssistantError) as err:
        await call(
            hass,
            "modify_charging",
            {"station_id": STATION_ID, "port": 2, "mode": "time", "value": 10},
        )
    assert err.value.translation_key == "station_refused"
    assert err.value.translation_placeholders == {
        "device_id": STATION_ID,
        "code": "1",
        "description": "port not charging",
    }


async def test_modify_charging_energy_limit(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An energy beyond what 0x8A can carry (655.35 kWh) is refused by the schema."""
    with pytest.raises(probatio.Invalid):
        await call(
            hass,
            "modify_charging",
            {"station_id": STATION_ID, "port": 1, "mode": "energy_stop_full", "value": 700},
        )


async def test_query_status_and_reboot(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry, dual_socket: SimulatedStation
) -> None:
    """0x81 and 0x87, by device."""
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert device is not None
    # Neither waits for a reply (0x81 has none, 0x87's may never come): wait for arrival.
    await call(hass, "query_status", {"device_id": device.id})
    await dual_socket.wait_for(lambda: len(dual_socket.commands) == 1)
    assert isinstance(dual_socket.commands[-1], QueryStatus)
    dual_socket.reboot_delay = 60.0  # stay connected for the rest of the test
    await call(hass, "reboot", {"device_id": device.id})
    await dual_socket.wait_for(lambda: len(dual_socket.commands) == 2)
    assert isinstance(dual_socket.commands[-1], Reboot)


async def test_set_limits(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """Minutes go out as seconds (0x85); a power beyond the station's maximum is refused."""
    limits = {"max_duration": 600, "over_voltage": 260, "under_voltage": 180}
    await call(hass, "set_limits", {"station_id": STATION_ID, "overload_power": 1500, **limits})
    assert dual_socket.commands[-1] == Limits(36000, 1500.0, 260.0, 180.0)

    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "set_limits", {"station_id": STATION_ID, "overload_power": 2500, **limits})
    assert err.value.translation_key == "station_refused"
    assert err.value.translation_placeholders == {
        "device_id": STATION_ID,
        "code": "1",
        "description": "beyond the station's maximum",
    }


async def test_other_command_error(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """A command error the protocol package may add later is still translated."""
    with (
        patch(
            "custom_components.iot_zinx.orders.Orders.async_query_status",
            side_effect=CommandError("station is busy"),
        ),
        pytest.raises(HomeAssistantError) as err,
    ):
        await call(hass, "query_status", {"station_id": STATION_ID})
    assert err.value.translation_key == "command_failed"
    assert err.value.translation_placeholders == {"device_id": "?", "error": "station is busy"}
