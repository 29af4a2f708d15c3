"""Device triggers: every event type of a station, optionally limited to one port."""

from __future__ import annotations

import asyncio

from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.components.device_automation.exceptions import (
    InvalidDeviceAutomationConfig,
)
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import probatio
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.iot_zinx import device_trigger
from custom_components.iot_zinx.const import DOMAIN, EVENT_IOT_ZINX
from custom_components.iot_zinx.events import EventType, envelope
from custom_components.iot_zinx.protocol.simulator import SimulatedStation

from .conftest import STATION_ID, device_by_identifier

ALL_TYPES = [
    "device_online",
    "device_offline",
    "device_register",
    "device_heartbeat",
    "port_heartbeat",
    "charging_start",
    "charging_end",
    "charging_failed",
    "power_heartbeat",
    "charging_power",
    "settlement",
    "card_swipe",
    "device_alarm",
    "host_heartbeat",
]
PORT_TYPES = {
    "port_heartbeat",
    "charging_start",
    "charging_end",
    "charging_failed",
    "power_heartbeat",
    "charging_power",
    "settlement",
    "card_swipe",
}


def station_device(hass: HomeAssistant) -> dr.DeviceEntry:
    """The registry entry of the simulated station 04A228CD."""
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert device is not None
    return device


@pytest.mark.usefixtures("dual_socket")
async def test_triggers_of_a_station(hass: HomeAssistant) -> None:
    """Every event type is offered for a station."""
    device = station_device(hass)
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device.id)
    # The station's entities bring their own platforms' triggers too.
    assert [trigger for trigger in triggers if trigger["domain"] == DOMAIN] == [
        {
            "platform": "device",
            "domain": DOMAIN,
            "device_id": device.id,
            "type": trigger_type,
            "metadata": {},
        }
        for trigger_type in ALL_TYPES
    ]


async def test_no_triggers_for_other_devices(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A device of another integration (or none at all) gets no trigger of ours."""
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}
    )
    assert await device_trigger.async_get_triggers(hass, device.id) == []
    assert await device_trigger.async_get_triggers(hass, "missing") == []
    with pytest.raises(InvalidDeviceAutomationConfig):
        await device_trigger.async_attach_trigger(
            hass,
            {"platform": "device", "domain": DOMAIN, "device_id": device.id, "type": "settlement"},
            lambda *_: None,
            {"domain": "automation", "name": "x", "home_assistant_start": False},  # type: ignore[typeddict-item]
        )


@pytest.mark.parametrize("trigger_type", ALL_TYPES)
async def test_capabilities(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, trigger_type: str
) -> None:
    """Port events offer an optional 1-based port; station events offer nothing.

    Asked the way the automation editor asks, so Home Assistant's own serializer turns the
    schema into the form's fields.
    """
    assert await async_setup_component(hass, "device_automation", {})
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "device_automation/trigger/capabilities",
            "trigger": {
                "platform": "device",
                "domain": DOMAIN,
                "device_id": "x",
                "type": trigger_type,
            },
        }
    )
    response = await client.receive_json()
    assert response["success"]
    if trigger_type not in PORT_TYPES:
        assert response["result"] == {"extra_fields": []}
        return
    assert response["result"] == {
        "extra_fields": [
            {
                "name": "port",
                "optional": True,
                "required": False,
                "type": "integer",
                "valueMin": 1,
                "valueMax": 16,
            }
        ]
    }


def test_schema() -> None:
    """The port is coerced and bounded; unknown types are rejected."""
    base = {"platform": "device", "domain": DOMAIN, "device_id": "abc"}
    assert device_trigger.TRIGGER_SCHEMA({**base, "type": "settlement", "port": "2"})["port"] == 2
    for bad in ({"type": "settlement", "port": 0}, {"type": "settlement", "port": 17}):
        with pytest.raises(probatio.Invalid):
            device_trigger.TRIGGER_SCHEMA({**base, **bad})
    with pytest.raises(probatio.Invalid):
        device_trigger.TRIGGER_SCHEMA({**base, "type": "unknown"})
    assert set(device_trigger.TRIGGER_TYPES) == {str(kind) for kind in EventType}


async def test_automation_fires_on_the_right_event_only(
    hass: HomeAssistant,
    dual_socket: SimulatedStation,
    service_calls: list[ServiceCall],
) -> None:
    """With a port filter only that port's events; without one every port's; per station."""
    device = station_device(hass)

    def rule(trigger_type: str, tag: str, **extra: int) -> dict[str, object]:
        return {
            "alias": tag,
            "triggers": {
                "platform": "device",
                "domain": DOMAIN,
                "device_id": device.id,
                "type": trigger_type,
                **extra,
            },
            "actions": {
                "action": "test.automation",
                "data_template": {
                    "tag": tag,
                    "port": "{{ trigger.event.data.port_number }}",
                    "status": "{{ trigger.event.data.data.port_status }}",
                    "station": "{{ trigger.event.data.device_id }}",
                },
            },
        }

    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                rule("port_heartbeat", "any_port"),
                rule("port_heartbeat", "port_2", port=2),
                rule("device_offline", "offline"),
            ]
        },
    )
    # Port 2 turns faulty, then port 1 (where a charger is plugged in) too.
    dual_socket.set_port_status(1, 7)
    await wait_for_calls(hass, service_calls, 2)
    dual_socket.set_port_status(0, 8)
    await wait_for_calls(hass, service_calls, 3)
    # The same event of another station fires nothing.
    hass.bus.async_fire(
        EVENT_IOT_ZINX,
        envelope(EventType.PORT_HEARTBEAT, "04A228CE", {"port_status": 7}, port_number=2),
    )
    await hass.async_block_till_done()

    assert sorted(
        (call.data["tag"], call.data["port"], call.data["status"], call.data["station"])
        for call in service_calls
    ) == [
        ("any_port", 1, 8, STATION_ID),
        ("any_port", 2, 7, STATION_ID),
        ("port_2", 2, 7, STATION_ID),
    ]
    await dual_socket.disconnect()
    await wait_for_calls(hass, service_calls, 4)
    assert service_calls[-1].data["tag"] == "offline"


async def wait_for_calls(hass: HomeAssistant, service_calls: list[ServiceCall], count: int) -> None:
    """Wait until the automations made ``count`` calls in all (5 s at most)."""
    async with asyncio.timeout(5):
        while True:
            await hass.async_block_till_done()
            if len(service_calls) >= count:
                return
            await asyncio.sleep(0.01)
