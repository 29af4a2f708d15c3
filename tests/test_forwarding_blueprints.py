"""The shipped blueprints: they load, and automations made from them do what they say."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
import shutil
from typing import Any

from homeassistant.components.automation.helpers import async_get_blueprints
from homeassistant.components.sensor import SensorEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.json import json_bytes
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockEntityPlatform,
    async_mock_service,
)

import custom_components.iot_zinx  # noqa: F401
from custom_components.iot_zinx.const import DOMAIN, EVENT_IOT_ZINX
from custom_components.iot_zinx.forwarding import (
    ForwardingManager,
    async_setup_forwarding,
    async_unload_forwarding,
)

from .conftest import device_by_identifier
from .forwarding_support import (  # noqa: F401 - fixtures
    STATION_A,
    STATION_B,
    envelope,
    event_id,
    receiver_fixture,
    view,
)
from .webhook_receiver import Receiver, settle, signature_ok, wait_until

BLUEPRINTS = Path(__file__).parent.parent / "blueprints" / "automation" / "iot_zinx"
FORWARD = "iot_zinx/forward_to_webhook.yaml"
NOTIFY = "iot_zinx/notify_charging_finished.yaml"
ALL_TYPES = [
    "device_online",
    "device_register",
    "device_heartbeat",
    "port_heartbeat",
    "charging_start",
    "charging_failed",
    "power_heartbeat",
    "charging_power",
    "charging_end",
    "settlement",
    "device_offline",
    "card_swipe",
    "device_alarm",
    "host_heartbeat",
]


@pytest.fixture(autouse=True)
def blueprint_folder(hass: HomeAssistant, tmp_path: Path) -> None:
    """A configuration folder holding the shipped blueprints, where Home Assistant looks."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / "iot_zinx")


@pytest.fixture
async def forwarding(hass: HomeAssistant) -> AsyncGenerator[ForwardingManager]:
    """The forward_event action, as the integration sets it up."""
    yield await async_setup_forwarding(hass)
    await async_unload_forwarding(hass)


def station_device(hass: HomeAssistant, station_id: str, name: str) -> str:
    """A station in the device registry, as the hub registers it; returns its HA device id."""
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, station_id)}, name=name
    )
    return device.id


class StationPower(SensorEntity):
    """An entity of a station, as the integration's sensors are."""

    _attr_has_entity_name = True
    _attr_name = "Power"
    _attr_native_value = 0

    def __init__(self, station_id: str) -> None:
        """Attach to the station's device."""
        self._attr_unique_id = f"{station_id}_power"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, station_id)})


async def station_entity(hass: HomeAssistant, station_id: str) -> None:
    """Give a registered station an entity of the iot_zinx platform."""
    device = device_by_identifier(hass, (DOMAIN, station_id))
    assert device is not None
    platform = MockEntityPlatform(hass, domain="sensor", platform_name=DOMAIN)
    platform.config_entry = hass.config_entries.async_get_entry(device.config_entry_id)
    await platform.async_add_entities([StationPower(station_id)])


async def automation_from(hass: HomeAssistant, path: str, inputs: dict[str, Any]) -> None:
    """An automation made from a blueprint."""
    assert await async_setup_component(
        hass,
        "automation",
        {"automation": [{"use_blueprint": {"path": path, "input": inputs}}]},
    )
    await hass.async_block_till_done()


async def test_blueprints_load(hass: HomeAssistant) -> None:
    """Both files are valid automation blueprints with the documented inputs."""
    blueprints = async_get_blueprints(hass)
    forward = await blueprints.async_get_blueprint(FORWARD)
    assert forward.domain == "automation"
    assert set(forward.inputs) == {
        "webhook_url",
        "event_types",
        "stations",
        "token",
        "api_key",
        "secret",
    }
    assert forward.inputs["event_types"]["default"] == ALL_TYPES
    options = forward.inputs["event_types"]["selector"]["select"]["options"]
    assert [option["value"] for option in options] == ALL_TYPES
    assert forward.data["mode"] == "queued"
    assert forward.data["max"] == 10000

    notify = await blueprints.async_get_blueprint(NOTIFY)
    assert set(notify.inputs) == {"notify_action", "stations"}
    assert "action" in notify.inputs["notify_action"]["selector"]


async def test_forward_blueprint_end_to_end(
    hass: HomeAssistant, forwarding: ForwardingManager, receiver: Receiver
) -> None:
    """A fired iot_zinx_event reaches the platform, exactly, signed, from the automation."""
    await automation_from(
        hass,
        FORWARD,
        {"webhook_url": receiver.url, "token": "tok", "secret": "sig"},
    )
    event = envelope(1)
    hass.bus.async_fire(EVENT_IOT_ZINX, event)
    await wait_until(lambda: len(receiver.processed) == 1)

    [received] = receiver.requests
    assert received.body == json_bytes(event)
    assert received.headers["Authorization"] == "Bearer tok"
    assert "X-API-Key" not in received.headers
    assert signature_ok(received, "sig")


async def test_forward_blueprint_filters(
    hass: HomeAssistant, forwarding: ForwardingManager, receiver: Receiver
) -> None:
    """Only the chosen event types of the chosen stations are sent."""
    chosen = station_device(hass, STATION_A, "Garage")
    station_device(hass, STATION_B, "Street")
    await automation_from(
        hass,
        FORWARD,
        {
            "webhook_url": receiver.url,
            "event_types": ["charging_end", "settlement"],
            "stations": [chosen],
        },
    )
    hass.bus.async_fire(EVENT_IOT_ZINX, envelope(1, STATION_A, "charging_start"))
    hass.bus.async_fire(EVENT_IOT_ZINX, envelope(2, STATION_B, "charging_end"))
    hass.bus.async_fire(EVENT_IOT_ZINX, envelope(3, STATION_A, "charging_end"))
    hass.bus.async_fire(EVENT_IOT_ZINX, envelope(4, STATION_A, "settlement"))
    await wait_until(lambda: len(receiver.processed) == 2)
    await hass.async_block_till_done()
    await wait_until(lambda: view(forwarding, receiver.url).delivered == 2)
    await settle()
    assert receiver.processed == [event_id(3), event_id(4)]


def charging_end(station_id: str = STATION_A) -> dict[str, Any]:
    """A charging_end envelope (docs/events.md) of port 2."""
    return {
        **envelope(9, station_id, "charging_end"),
        "port_number": 2,
        "data": {
            "order_id": "ORDER-0009",
            "total_energy": 1.234,
            "charge_duration": 5460,
            "start_time": "2026-01-01 00:00:00",
            "end_time": "2026-01-01 01:31:00",
            "stop_reason": 1,
            "stop_reason_desc": "充满自停",
            "settlement_triggered": True,
            "command": "0x03",
        },
    }


async def test_notify_blueprint_with_a_chosen_action(hass: HomeAssistant) -> None:
    """The message says station (its name), port, energy, duration and the stop reason."""
    calls = async_mock_service(hass, "test", "notify")
    garage = station_device(hass, STATION_A, "Garage")
    station_device(hass, STATION_B, "Street")
    await station_entity(hass, STATION_A)
    await station_entity(hass, STATION_B)
    await automation_from(
        hass,
        NOTIFY,
        {
            "notify_action": [
                {
                    "action": "test.notify",
                    "data": {"title": "{{ title }}", "message": "{{ message }}"},
                }
            ],
            "stations": [garage],
        },
    )
    hass.bus.async_fire(EVENT_IOT_ZINX, charging_end(STATION_B))
    hass.bus.async_fire(EVENT_IOT_ZINX, envelope(1, STATION_A, "charging_start"))
    hass.bus.async_fire(EVENT_IOT_ZINX, charging_end(STATION_A))
    await hass.async_block_till_done()
    assert [call.data for call in calls] == [
        {
            "title": "Charging finished",
            "message": "Garage, port 2: 1.23 kWh in 1 h 31 min (充满自停).",
        }
    ]


async def test_notify_blueprint_default_action(hass: HomeAssistant) -> None:
    """Without a chosen action a persistent notification appears, for every station."""
    assert await async_setup_component(hass, "persistent_notification", {})
    calls = async_mock_service(hass, "persistent_notification", "create")
    await automation_from(hass, NOTIFY, {})
    event = charging_end(STATION_B)
    event["data"]["charge_duration"] = 300
    hass.bus.async_fire(EVENT_IOT_ZINX, event)
    await hass.async_block_till_done()
    assert [call.data for call in calls] == [
        {
            "title": "Charging finished",
            # A station without entities yet is shown by its physical id.
            "message": f"{STATION_B}, port 2: 1.23 kWh in 5 min (充满自停).",
        }
    ]
