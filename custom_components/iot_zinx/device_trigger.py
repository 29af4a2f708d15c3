"""Device triggers: every event type of a station (docs/events.md), optionally of one port.

A trigger is an event trigger on ``iot_zinx_event`` matching the station's 8-hex-digit id
(the device's identifier in the registry), the event type and, when given, the 1-based
``port_number`` of the port events.
"""

from __future__ import annotations

from typing import Any, Final

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.device_automation.exceptions import (
    InvalidDeviceAutomationConfig,
)
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import (
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_EVENT_DATA,
    CONF_PLATFORM,
    CONF_TYPE,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType
import probatio

from .const import DOMAIN, EVENT_IOT_ZINX
from .entries import station_entity_entry_ids, station_entries
from .events import PORT_EVENT_TYPES, EventType

CONF_PORT: Final = "port"
# docs/protocol.md section 2: ports 0x00-0x0F on the wire, so 1..16.
MAX_PORT: Final = 16

TRIGGER_TYPES: Final = [str(event_type) for event_type in EventType]
_PORT_FIELD: Final[dict[probatio.Marker, Any]] = {
    probatio.Optional(CONF_PORT): probatio.All(probatio.Coerce(int), probatio.Range(1, MAX_PORT))
}

TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {probatio.Required(CONF_TYPE): probatio.In(TRIGGER_TYPES), **_PORT_FIELD}
)


def _station_id(hass: HomeAssistant, device_id: str) -> str | None:
    """The station's physical id ("04A228CD") of a device of this integration."""
    device = dr.async_get(hass).async_get(device_id, include_child_devices=False)
    if device is None or device.config_entry_id not in {
        entry_id
        for entry in station_entries(hass)
        for entry_id in station_entity_entry_ids(hass, entry.entry_id)
    }:
        # Only a station server's devices (in its entry or a station group's) fire events.
        return None
    return next((ident for domain, ident in device.identifiers if domain == DOMAIN), None)


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, Any]]:
    """Every event type, for a station of this integration."""
    if _station_id(hass, device_id) is None:
        return []
    return [
        {
            CONF_PLATFORM: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: trigger_type,
        }
        for trigger_type in TRIGGER_TYPES
    ]


async def async_get_trigger_capabilities(
    hass: HomeAssistant, config: ConfigType
) -> dict[str, probatio.Schema]:
    """The port events can be limited to one port."""
    if EventType(config[CONF_TYPE]) in PORT_EVENT_TYPES:
        return {"extra_fields": probatio.Schema(_PORT_FIELD)}
    return {}


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for the station's events of the configured type (and port)."""
    station_id = _station_id(hass, config[CONF_DEVICE_ID])
    if station_id is None:
        raise InvalidDeviceAutomationConfig(
            f"Device {config[CONF_DEVICE_ID]} is not a station of {DOMAIN}"
        )
    event_data: dict[str, Any] = {"device_id": station_id, "event_type": config[CONF_TYPE]}
    if CONF_PORT in config:
        event_data["port_number"] = config[CONF_PORT]
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: EVENT_IOT_ZINX,
            CONF_EVENT_DATA: event_data,
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
