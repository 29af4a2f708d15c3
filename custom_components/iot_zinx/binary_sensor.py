"""Binary sensors of the iot_zinx integration: connectivity, and per port plug and fault."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import IotZinxEntity, IotZinxPortEntity
from .station_platform import async_add_station_entities

if TYPE_CHECKING:
    from . import IotZinxConfigEntry
    from .hub import IotZinxHub
    from .models import PortState, StationState

# Push only: nothing is fetched, so nothing needs to be throttled.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class IotZinxStationBinarySensorDescription(BinarySensorEntityDescription):
    """A binary sensor of the station as a whole."""

    is_on_fn: Callable[[StationState], bool | None]


@dataclass(frozen=True, kw_only=True)
class IotZinxPortBinarySensorDescription(BinarySensorEntityDescription):
    """A binary sensor of one port; unknown until the port's status is known."""

    is_on_fn: Callable[[PortState], bool]


STATION_BINARY_SENSORS: tuple[IotZinxStationBinarySensorDescription, ...] = (
    IotZinxStationBinarySensorDescription(
        key="connectivity",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda station: station.online,
    ),
)

# Both follow from the port's status (its enum sensor says plugged, charging, full or which
# fault), so they are disabled by default: at ten ports a station they would be 20 of its
# entities, and Home Assistant's cap of enabled entities per config entry is shared by the fleet.
PORT_BINARY_SENSORS: tuple[IotZinxPortBinarySensorDescription, ...] = (
    IotZinxPortBinarySensorDescription(
        key="plugged",
        translation_key="port_plugged",
        device_class=BinarySensorDeviceClass.PLUG,
        entity_registry_enabled_default=False,
        is_on_fn=lambda port: port.is_plugged,
    ),
    IotZinxPortBinarySensorDescription(
        key="fault",
        translation_key="port_fault",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_registry_enabled_default=False,
        is_on_fn=lambda port: port.is_fault,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotZinxConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add binary sensors for every station and port, as they appear."""

    def station_entities(hub: IotZinxHub, station: StationState) -> list[BinarySensorEntity]:
        return [
            IotZinxConnectivitySensor(hub, station.station_id, description)
            for description in STATION_BINARY_SENSORS
        ]

    def port_entities(
        hub: IotZinxHub, station: StationState, port: int
    ) -> list[BinarySensorEntity]:
        return [
            IotZinxPortBinarySensor(hub, station.station_id, port, description)
            for description in PORT_BINARY_SENSORS
        ]

    async_add_station_entities(
        hass,
        entry,
        async_add_entities,
        station_entities,
        port_entities,
        platform=Platform.BINARY_SENSOR,
    )


class IotZinxConnectivitySensor(IotZinxEntity, BinarySensorEntity):
    """Whether the station is online; the one entity that stays available when it is not."""

    entity_description: IotZinxStationBinarySensorDescription

    def _shown_value(self) -> object:
        return self.is_on

    @property
    def available(self) -> bool:
        """Being offline is this sensor's state, not a reason to hide it."""
        return self.station is not None

    @property
    def is_on(self) -> bool | None:
        """Whether the station has a live connection."""
        if (station := self.station) is None:
            return None
        return self.entity_description.is_on_fn(station)


class IotZinxPortBinarySensor(IotZinxPortEntity, BinarySensorEntity):
    """A binary sensor of a port."""

    entity_description: IotZinxPortBinarySensorDescription

    def _shown_value(self) -> object:
        return self.is_on

    @property
    def is_on(self) -> bool | None:
        """The port's reading; unknown before the station reported the port's status."""
        if (port := self.port) is None or port.status is None:
            return None
        return self.entity_description.is_on_fn(port)
