"""The forward_to_mqtt blueprint: topics, payload, QoS and the two filters, in a real automation.

``mqtt.publish`` is replaced by a recording service (the broker round trip is
``scripts/shard_mqtt``'s job); everything else is Home Assistant's own blueprint and
automation machinery loading the shipped file.
"""

from __future__ import annotations

import json
from pathlib import Path
import shutil
from typing import Any

from homeassistant.components.automation import DOMAIN as AUTOMATION_DOMAIN
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.iot_zinx.const import DOMAIN, EVENT_IOT_ZINX

BLUEPRINT = (
    Path(__file__).parents[1] / "blueprints" / "automation" / "iot_zinx" / "forward_to_mqtt.yaml"
)
ALL_TYPES = 14


def envelope(station_id: str, event_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"id-{station_id}-{event_type}",
        "event_type": event_type,
        "device_id": station_id,
        "timestamp": 1_767_225_600,
        "data": {"is_charging": True, "fault_detected": False, "order_id": None, **extra},
    }


def install_blueprint(config_dir: Path) -> None:
    target = config_dir / "blueprints" / "automation" / "iot_zinx"
    target.mkdir(parents=True)
    shutil.copy(BLUEPRINT, target / BLUEPRINT.name)


async def setup_automation(
    hass: HomeAssistant, tmp_path: Path, inputs: dict[str, Any]
) -> list[ServiceCall]:
    """The shipped blueprint in a temporary configuration directory, used by one automation."""
    hass.config.config_dir = str(tmp_path)
    await hass.async_add_executor_job(install_blueprint, tmp_path)
    calls = async_mock_service(hass, "mqtt", "publish")
    assert await async_setup_component(
        hass,
        AUTOMATION_DOMAIN,
        {
            AUTOMATION_DOMAIN: {
                "id": "forward",
                "alias": "forward",
                "use_blueprint": {"path": "iot_zinx/forward_to_mqtt.yaml", "input": inputs},
            }
        },
    )
    await hass.async_block_till_done()
    state = hass.states.get("automation.forward")
    assert state is not None
    assert state.state == "on"
    return calls


async def test_every_event_published(hass: HomeAssistant, tmp_path: Path) -> None:
    calls = await setup_automation(hass, tmp_path, {})
    sent = [envelope("04A228CD", "settlement", total_fee=12), envelope("04A228CE", "card_swipe")]
    for event in sent:
        hass.bus.async_fire(EVENT_IOT_ZINX, event)
    await hass.async_block_till_done()
    assert [call.data["topic"] for call in calls] == [
        "iot_zinx/04A228CD/settlement",
        "iot_zinx/04A228CE/card_swipe",
    ]
    # The payload is the envelope as JSON text (true/false/null included), unchanged.
    assert [json.loads(call.data["payload"]) for call in calls] == sent
    assert all(isinstance(call.data["payload"], str) for call in calls)
    assert {(call.data["qos"], call.data["retain"]) for call in calls} == {(1, False)}


async def test_chosen_types_and_stations_only(hass: HomeAssistant, tmp_path: Path) -> None:
    event_types = ["settlement", "charging_end"]
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "04A228CE")}
    )
    calls = await setup_automation(
        hass, tmp_path, {"event_types": event_types, "stations": [device.id]}
    )
    for station_id in ("04A228CD", "04A228CE"):
        for event_type in ("settlement", "device_heartbeat", "charging_end"):
            hass.bus.async_fire(EVENT_IOT_ZINX, envelope(station_id, event_type))
    await hass.async_block_till_done()
    assert [call.data["topic"] for call in calls] == [
        "iot_zinx/04A228CE/settlement",
        "iot_zinx/04A228CE/charging_end",
    ]


def test_defaults_are_the_fourteen_types() -> None:
    text = BLUEPRINT.read_text(encoding="utf-8")
    from custom_components.iot_zinx.events import EventType

    for event_type in EventType:
        assert text.count(f"- {event_type.value}\n") == 2  # default and options
    assert len(EventType) == ALL_TYPES
