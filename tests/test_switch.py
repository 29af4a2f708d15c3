"""The per-port charging switch, through the simulated station."""

from __future__ import annotations

from collections.abc import Generator
from unittest.mock import patch

from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.iot_zinx.const import (
    CONF_CHARGE_ENERGY,
    CONF_CHARGE_MINUTES,
    CONF_CHARGE_MODE,
)
from custom_components.iot_zinx.protocol.messages import ChargeControl
from custom_components.iot_zinx.protocol.simulator import SimulatedStation

from .conftest import ORDER_NO, STATION_ID, snapshot_entities, wait_for_station

PORT_1 = "switch.ap3000_04a228cd_port_1_charging"
PORT_2 = "switch.ap3000_04a228cd_port_2_charging"


@pytest.fixture
def quick_timeout(command_timing: None) -> Generator[None]:
    """A 0.1 s reply timeout (so 0.2 s with the resend), set before the entry starts."""
    with patch("custom_components.iot_zinx.hub.REPLY_TIMEOUT", 0.1):
        yield


async def switch(hass: HomeAssistant, service: str, entity_id: str) -> None:
    """Turn a switch on or off, waiting for the command's reply."""
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


@pytest.mark.usefixtures("dual_socket")
async def test_switches_idle(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Both ports off."""
    await snapshot_entities(hass, entity_registry, snapshot, init_integration.entry_id, "switch")


@pytest.mark.usefixtures("charging_dual_socket")
async def test_switches_charging(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Port 1 on while it charges."""
    await snapshot_entities(hass, entity_registry, snapshot, init_integration.entry_id, "switch")
    assert hass.states.get(PORT_1).state == STATE_ON


async def test_turn_on_and_off(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """On starts an order until full; off stops that order, which the station settles."""
    await switch(hass, SERVICE_TURN_ON, PORT_1)
    start = dual_socket.commands[-1]
    assert isinstance(start, ChargeControl)
    assert (start.action, start.port, start.rate_mode, start.value) == (1, 0, 0, 0)
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].is_charging)
    assert hass.states.get(PORT_1).state == STATE_ON
    assert dual_socket.charging_ports() == [0]

    await switch(hass, SERVICE_TURN_OFF, PORT_1)
    stop = dual_socket.commands[-1]
    assert isinstance(stop, ChargeControl)
    assert (stop.action, stop.port, stop.order_no) == (0, 0, start.order_no)
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].order is None)
    await wait_for_station(hass, STATION_ID, lambda station: not station.ports[1].is_charging)
    assert hass.states.get(PORT_1).state == STATE_OFF
    assert dual_socket.settlements[-1].stop_reason == 7  # stopped by the server


@pytest.mark.parametrize(
    ("entry_options", "rate_mode", "value"),
    [
        ({CONF_CHARGE_MODE: "time", CONF_CHARGE_MINUTES: 90}, 0, 5400),
        ({CONF_CHARGE_MODE: "energy", CONF_CHARGE_ENERGY: 1.25}, 2, 125),
    ],
)
async def test_turn_on_uses_the_options(
    hass: HomeAssistant, dual_socket: SimulatedStation, rate_mode: int, value: int
) -> None:
    """The charge mode of the options decides what "on" starts.

    (Options are read when the entry loads: the options flow reloads it on every change.)
    """
    await switch(hass, SERVICE_TURN_ON, PORT_1)
    start = dual_socket.commands[-1]
    assert isinstance(start, ChargeControl)
    assert (start.rate_mode, start.value) == (rate_mode, value)


async def test_turn_on_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """No charger in port 2: the station's refusal is shown with its code and wording."""
    with pytest.raises(HomeAssistantError) as err:
        await switch(hass, SERVICE_TURN_ON, PORT_2)
    assert err.value.translation_key == "station_refused"
    assert err.value.translation_placeholders == {
        "device_id": STATION_ID,
        "code": "1",
        "description": "端口未插充电器",
    }
    assert str(err.value) == "Station 04A228CD refused the command: 端口未插充电器 (code 1)"
    assert hass.states.get(PORT_2).state == STATE_OFF


async def test_turn_off_without_order(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """Off on a port with no order: the station would ignore a stop without its number."""
    with pytest.raises(HomeAssistantError) as err:
        await switch(hass, SERVICE_TURN_OFF, PORT_2)
    assert err.value.translation_key == "no_active_order"
    assert err.value.translation_placeholders == {"device_id": STATION_ID, "port": "2"}


@pytest.mark.usefixtures("quick_timeout")
async def test_turn_on_timeout(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """A station that does not answer, nor the resend."""
    dual_socket.ignore_commands = True
    with pytest.raises(HomeAssistantError) as err:
        await switch(hass, SERVICE_TURN_ON, PORT_1)
    assert err.value.translation_key == "command_timeout"
    assert err.value.translation_placeholders == {"device_id": STATION_ID, "command": "0x82"}
    # The command went out twice: once, and its one resend with the same message id.
    assert len(dual_socket.commands) == 2
    assert dual_socket.commands[0].order_no == dual_socket.commands[1].order_no
    assert dual_socket.commands[0].order_no != ORDER_NO
