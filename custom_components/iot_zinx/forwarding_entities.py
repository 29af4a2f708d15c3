"""Diagnostic sensors of the webhook endpoints, one "service" device per endpoint.

They belong to webhook forwarding's own config entry (forwarding_entry.py), whose sensor
platform calls `async_setup_forwarding_sensors`; each endpoint's device hangs off the entry's
"Webhook forwarding" service device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .const import DOMAIN
from .forwarding import (
    DATA_FORWARDING,
    EndpointView,
    ForwardingManager,
)
from .signals import SIGNAL_ENDPOINT_ADDED, signal_endpoint_update

DEVICE_PREFIX: Final = "forwarding_"
# Forwarding's own service device ("forwarding" has no DEVICE_PREFIX: it is no endpoint).
FORWARDING_DEVICE_IDENTIFIER: Final = (DOMAIN, "forwarding")
# A sensor state holds at most 255 characters.
_MAX_STATE: Final = 255


@dataclass(frozen=True, kw_only=True)
class ForwardingSensorEntityDescription(SensorEntityDescription):
    """A figure of one endpoint."""

    value_fn: Callable[[EndpointView], StateType | datetime]


def _text(value: str | None) -> str | None:
    if value is None or len(value) <= _MAX_STATE:
        return value
    return value[: _MAX_STATE - 1] + "…"


FORWARDING_SENSORS: Final[tuple[ForwardingSensorEntityDescription, ...]] = (
    ForwardingSensorEntityDescription(
        key="backlog",
        translation_key="forwarding_backlog",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda view: view.backlog,
    ),
    ForwardingSensorEntityDescription(
        key="last_success",
        translation_key="forwarding_last_success",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda view: view.last_success,
    ),
    ForwardingSensorEntityDescription(
        key="last_error",
        translation_key="forwarding_last_error",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda view: _text(view.last_error),
    ),
    ForwardingSensorEntityDescription(
        key="delivered",
        translation_key="forwarding_delivered",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda view: view.delivered,
    ),
    ForwardingSensorEntityDescription(
        key="dead_letters",
        translation_key="forwarding_dead_letters",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda view: view.dead_letters,
    ),
)


def forwarding_device_identifier(endpoint_key: str) -> tuple[str, str]:
    """Device registry identifier of an endpoint's service device."""
    return (DOMAIN, f"{DEVICE_PREFIX}{endpoint_key}")


def forwarding_endpoint_key(device: dr.DeviceEntry) -> str | None:
    """The endpoint a device stands for, or None for a station's device."""
    for domain, identifier in device.identifiers:
        if domain == DOMAIN and identifier.startswith(DEVICE_PREFIX):
            return identifier.removeprefix(DEVICE_PREFIX)
    return None


class ForwardingEndpointSensor(SensorEntity):
    """One figure of one webhook endpoint, pushed by the forwarding manager."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: ForwardingSensorEntityDescription

    def __init__(
        self,
        manager: ForwardingManager,
        endpoint_key: str,
        description: ForwardingSensorEntityDescription,
        via_device_id: str | None = None,
    ) -> None:
        """Attach the sensor to the endpoint's service device (under forwarding's own)."""
        self._manager = manager
        self._endpoint_key = endpoint_key
        self.entity_description = description
        self._attr_unique_id = f"{DEVICE_PREFIX}{endpoint_key}_{description.key}"
        view = manager.endpoint_view(endpoint_key)
        self._attr_device_info = DeviceInfo(
            identifiers={forwarding_device_identifier(endpoint_key)},
            entry_type=DeviceEntryType.SERVICE,
            name=view.name,
            manufacturer="IoT-Zinx",
            model="Webhook endpoint",
        )
        if via_device_id is not None:
            self._attr_device_info["via_device_id"] = via_device_id

    @property
    def available(self) -> bool:
        """Unavailable once the endpoint was forgotten."""
        return self._endpoint_key in self._manager.outbox.stats

    @property
    def native_value(self) -> StateType | datetime:
        """The figure, read from the manager."""
        return self.entity_description.value_fn(self._manager.endpoint_view(self._endpoint_key))

    async def async_added_to_hass(self) -> None:
        """Follow the endpoint's (throttled) update signal."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, signal_endpoint_update(self._endpoint_key), self.async_write_ha_state
            )
        )


def _sensors(
    manager: ForwardingManager, endpoint_key: str, via_device_id: str | None
) -> list[ForwardingEndpointSensor]:
    return [
        ForwardingEndpointSensor(manager, endpoint_key, description, via_device_id)
        for description in FORWARDING_SENSORS
    ]


async def async_setup_forwarding_sensors(
    hass: HomeAssistant,
    entry: ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the endpoint sensors to forwarding's `entry` (from sensor.py's async_setup_entry)."""
    if (manager := hass.data.get(DATA_FORWARDING)) is None:
        return
    registry = dr.async_get(hass)
    via = registry.async_get_device_by_identifier(FORWARDING_DEVICE_IDENTIFIER, entry.entry_id)
    via_device_id = via.id if via is not None else None
    # Devices of endpoints the manager forgot (unused for longer than the retention).
    known = set(manager.endpoint_keys)
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        key = forwarding_endpoint_key(device)
        if key is not None and key not in known:
            registry.async_remove_device(device.id)

    async_add_entities(
        [sensor for key in known for sensor in _sensors(manager, key, via_device_id)]
    )

    @callback
    def _endpoint_added(endpoint_key: str) -> None:
        async_add_entities(_sensors(manager, endpoint_key, via_device_id))

    entry.async_on_unload(async_dispatcher_connect(hass, SIGNAL_ENDPOINT_ADDED, _endpoint_added))
