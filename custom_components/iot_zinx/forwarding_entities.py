"""Diagnostic sensors of the webhook endpoints, one "service" device per endpoint.

Endpoints are global (the action is not tied to a config entry) but entities need an entry:
the first loaded entry whose sensor platform calls `async_setup_forwarding_sensors` shows
them; another entry takes over when that one unloads.
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
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
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
    ) -> None:
        """Attach the sensor to the endpoint's service device."""
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


def _sensors(manager: ForwardingManager, endpoint_key: str) -> list[ForwardingEndpointSensor]:
    return [
        ForwardingEndpointSensor(manager, endpoint_key, description)
        for description in FORWARDING_SENSORS
    ]


async def async_setup_forwarding_sensors(
    hass: HomeAssistant,
    entry: ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the endpoint sensors to `entry` (from sensor.py's async_setup_entry)."""
    if (manager := hass.data.get(DATA_FORWARDING)) is None:
        return
    owner = manager.sensor_entry_id
    if owner is not None and owner != entry.entry_id:
        owner_entry = hass.config_entries.async_get_entry(owner)
        if owner_entry is not None and owner_entry.state in (
            ConfigEntryState.LOADED,
            ConfigEntryState.SETUP_IN_PROGRESS,
        ):
            return
    manager.sensor_entry_id = entry.entry_id

    @callback
    def _release() -> None:
        if manager.sensor_entry_id == entry.entry_id:
            manager.sensor_entry_id = None

    entry.async_on_unload(_release)

    # Devices of endpoints the manager forgot (unused for longer than the retention).
    registry = dr.async_get(hass)
    known = set(manager.endpoint_keys)
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        key = forwarding_endpoint_key(device)
        if key is not None and key not in known:
            registry.async_remove_device(device.id)

    async_add_entities([sensor for key in known for sensor in _sensors(manager, key)])

    @callback
    def _endpoint_added(endpoint_key: str) -> None:
        async_add_entities(_sensors(manager, endpoint_key))

    entry.async_on_unload(async_dispatcher_connect(hass, SIGNAL_ENDPOINT_ADDED, _endpoint_added))


@callback
def async_remove_forwarding_device(hass: HomeAssistant, device: dr.DeviceEntry) -> bool | None:
    """For async_remove_config_entry_device: None when `device` is no endpoint device.

    An endpoint with events still queued cannot be removed (they would come back with the
    next attempt); otherwise its figures are forgotten and the device may go.
    """
    if (key := forwarding_endpoint_key(device)) is None:
        return None
    if (manager := hass.data.get(DATA_FORWARDING)) is None:
        return True
    return manager.forget_endpoint(key)
