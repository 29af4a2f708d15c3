"""Sensors of the iot_zinx integration: station readings and per-port metering."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    EntityCategory,
    Platform,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .entity import IotZinxEntity, IotZinxPortEntity, IotZinxStationTotalEntity
from .entity_levels import site_entities_wanted
from .entries import is_forwarding_entry
from .forwarding_entities import async_setup_forwarding_sensors
from .protocol.codes import PortStatus
from .signals import signal_site_update
from .site_totals import (
    SiteTotals,
    site_device_info,
    site_unique_id_prefix,
)
from .station_platform import async_add_station_entities, is_charging_station

if TYPE_CHECKING:
    from . import IotZinxConfigEntry
    from .hub import IotZinxHub
    from .models import PortState, StationState

# Push only: nothing is fetched, so nothing needs to be throttled.
PARALLEL_UPDATES = 0

# docs/protocol.md 7.1 -> the translated enum states. Codes the table does not list read
# "unknown" rather than failing, as stations invent codes faster than documents list them.
PORT_STATUS_STATES: dict[int, str] = {
    PortStatus.IDLE: "idle",
    PortStatus.CHARGING: "charging",
    PortStatus.PLUGGED_NOT_STARTED: "plugged",
    PortStatus.PLUGGED_FULL: "full",
    PortStatus.CANNOT_METER: "cannot_meter",
    PortStatus.FLOAT_CHARGING: "float_charging",
    PortStatus.MEMORY_DAMAGED: "memory_damaged",
    PortStatus.CONTACT_STUCK: "contact_stuck",
    PortStatus.POOR_CONTACT_OR_FUSE: "poor_contact",
    PortStatus.RELAY_WELDED: "relay_welded",
    PortStatus.HALL_SENSOR_BROKEN: "hall_sensor_broken",
    PortStatus.PRECHECK_RELAY_OR_FUSE: "precheck_relay_or_fuse",
    PortStatus.PRECHECK_SHORT_CIRCUIT: "precheck_short_circuit",
    PortStatus.PRECHECK_RELAY_WELDED: "precheck_relay_welded",
    PortStatus.CARD_READER_BROKEN: "card_reader_broken",
    PortStatus.DETECTION_CIRCUIT_FAULT: "detection_circuit_fault",
}
PORT_STATUS_UNKNOWN = "unknown"


def _port_status(port: PortState) -> str | None:
    if port.status is None:
        return None
    return PORT_STATUS_STATES.get(port.status, PORT_STATUS_UNKNOWN)


@dataclass(frozen=True, kw_only=True)
class IotZinxStationSensorDescription(SensorEntityDescription):
    """A sensor of the station as a whole."""

    value_fn: Callable[[StationState], StateType | datetime]
    exists_fn: Callable[[StationState], bool] = lambda _: True


@dataclass(frozen=True, kw_only=True)
class IotZinxPortSensorDescription(SensorEntityDescription):
    """A sensor of one port."""

    value_fn: Callable[[PortState], StateType]


STATION_SENSORS: tuple[IotZinxStationSensorDescription, ...] = (
    IotZinxStationSensorDescription(
        key="voltage",
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=1,
        exists_fn=is_charging_station,
        value_fn=lambda station: station.voltage_v,
    ),
    IotZinxStationSensorDescription(
        key="temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        suggested_display_precision=0,
        exists_fn=is_charging_station,
        value_fn=lambda station: station.temperature_c,
    ),
    # The radio signal between a sub-station and its host (0 when wired): a unitless
    # level, hence no signal-strength device class (that one requires dB or dBm).
    IotZinxStationSensorDescription(
        key="signal",
        translation_key="signal",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda station: station.signal,
    ),
    IotZinxStationSensorDescription(
        key="last_heartbeat",
        translation_key="last_heartbeat",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda station: station.last_heartbeat,
    ),
    IotZinxStationSensorDescription(
        key="iccid",
        translation_key="iccid",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda station: station.iccid,
    ),
)

# When the ports have no entities (port_entities option "none", for thousands of stations):
# the station's ports summed up, enough for a fleet overview and the Energy dashboard.
STATION_TOTAL_SENSORS: tuple[IotZinxStationSensorDescription, ...] = (
    IotZinxStationSensorDescription(
        key="charging_ports",
        translation_key="charging_ports",
        state_class=SensorStateClass.MEASUREMENT,
        exists_fn=is_charging_station,
        value_fn=lambda station: station.charging_ports,
    ),
    IotZinxStationSensorDescription(
        key="total_power",
        translation_key="total_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=1,
        exists_fn=is_charging_station,
        value_fn=lambda station: station.total_power_w,
    ),
    IotZinxStationSensorDescription(
        key="total_lifetime_energy",
        translation_key="total_lifetime_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        exists_fn=is_charging_station,
        value_fn=lambda station: station.total_lifetime_energy_kwh,
    ),
)


@dataclass(frozen=True, kw_only=True)
class IotZinxSiteSensorDescription(SensorEntityDescription):
    """A total over every station of the server."""

    value_fn: Callable[[SiteTotals], StateType]


# With "connectivity" (thousands of stations, one entity each): the whole site summed up,
# on the server's own device, for an overview and the Energy dashboard.
SITE_SENSORS: tuple[IotZinxSiteSensorDescription, ...] = (
    IotZinxSiteSensorDescription(
        key="stations_online",
        translation_key="stations_online",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda totals: totals.stations_online,
    ),
    IotZinxSiteSensorDescription(
        key="charging_ports",
        translation_key="charging_ports",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda totals: totals.charging_ports,
    ),
    IotZinxSiteSensorDescription(
        key="total_power",
        translation_key="total_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=1,
        value_fn=lambda totals: totals.total_power_w,
    ),
    IotZinxSiteSensorDescription(
        key="total_lifetime_energy",
        translation_key="total_lifetime_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda totals: totals.total_lifetime_energy_kwh,
    ),
)

PORT_SENSORS: tuple[IotZinxPortSensorDescription, ...] = (
    IotZinxPortSensorDescription(
        key="status",
        translation_key="port_status",
        device_class=SensorDeviceClass.ENUM,
        options=[*PORT_STATUS_STATES.values(), PORT_STATUS_UNKNOWN],
        value_fn=_port_status,
    ),
    IotZinxPortSensorDescription(
        key="power",
        translation_key="port_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=1,
        value_fn=lambda port: port.power_w,
    ),
    IotZinxPortSensorDescription(
        key="current",
        translation_key="port_current",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
        value_fn=lambda port: port.current_a,
    ),
    IotZinxPortSensorDescription(
        key="session_energy",
        translation_key="port_session_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda port: port.session_energy_kwh,
    ),
    # Finished orders plus the running one, persisted by the hub across restarts: the
    # sensor to pick in the Energy dashboard.
    IotZinxPortSensorDescription(
        key="lifetime_energy",
        translation_key="port_lifetime_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda port: port.lifetime_energy_kwh if port.lifetime_confirmed else None,
    ),
    IotZinxPortSensorDescription(
        key="session_duration",
        translation_key="port_session_duration",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=lambda port: port.session_duration_s,
    ),
    IotZinxPortSensorDescription(
        key="temperature",
        translation_key="port_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=lambda port: port.port_temperature_c,
    ),
    # Diagnostic: the events, the actions' replies and the dashboard carry the order number.
    IotZinxPortSensorDescription(
        key="order",
        translation_key="port_order",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda port: None if port.order is None else port.order.order_number,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotZinxConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add sensors for every station and port, as they appear."""
    if is_forwarding_entry(entry):
        # Webhook forwarding's own entry: the endpoints' diagnostic sensors.
        await async_setup_forwarding_sensors(hass, entry, async_add_entities)
        return

    def station_entities(hub: IotZinxHub, station: StationState) -> list[SensorEntity]:
        # The port_entities option picks among these (totals only with "none").
        entities: list[SensorEntity] = [
            IotZinxStationSensor(hub, station.station_id, description)
            for description in STATION_SENSORS
            if description.exists_fn(station)
        ]
        entities.extend(
            IotZinxStationTotalSensor(hub, station.station_id, description)
            for description in STATION_TOTAL_SENSORS
            if description.exists_fn(station)
        )
        return entities

    def port_entities(hub: IotZinxHub, station: StationState, port: int) -> list[SensorEntity]:
        return [
            IotZinxPortSensor(hub, station.station_id, port, description)
            for description in PORT_SENSORS
        ]

    async_add_station_entities(
        hass, entry, async_add_entities, station_entities, port_entities, platform=Platform.SENSOR
    )

    hub = entry.runtime_data
    # The site's totals belong to the server's own entry, not to its station groups.
    if entry is hub.entry and site_entities_wanted(hub.options.port_entities):
        hub.site.enable()
        entry.async_on_unload(hub.site.disable)
        async_add_entities(IotZinxSiteSensor(hub, description) for description in SITE_SENSORS)


class IotZinxStationSensor(IotZinxEntity, SensorEntity):
    """A sensor of a station."""

    entity_description: IotZinxStationSensorDescription

    def _shown_value(self) -> object:
        return self.native_value

    @property
    def native_value(self) -> StateType | datetime:
        """The current reading."""
        if (station := self.station) is None:
            return None
        return self.entity_description.value_fn(station)


class IotZinxStationTotalSensor(IotZinxStationTotalEntity, IotZinxStationSensor):
    """A station's sum over its ports, written whenever any port changes."""


class IotZinxPortSensor(IotZinxPortEntity, SensorEntity):
    """A sensor of a port."""

    entity_description: IotZinxPortSensorDescription

    def _shown_value(self) -> object:
        return self.native_value

    @property
    def native_value(self) -> StateType:
        """The current reading."""
        if (port := self.port) is None:
            return None
        return self.entity_description.value_fn(port)


class IotZinxSiteSensor(SensorEntity):
    """A total over the server's stations, written when the hub recomputed the totals."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: IotZinxSiteSensorDescription

    def __init__(self, hub: IotZinxHub, description: IotZinxSiteSensorDescription) -> None:
        """Attach the sensor to the server's site device."""
        self.hub = hub
        self.entity_description = description
        entry = hub.entry
        self._attr_unique_id = f"{site_unique_id_prefix(entry.entry_id)}{description.key}"
        self._attr_device_info = site_device_info(entry.entry_id, entry.title)

    @property
    def native_value(self) -> StateType:
        """The latest total."""
        return self.entity_description.value_fn(self.hub.site.totals)

    async def async_added_to_hass(self) -> None:
        """Write the state whenever the totals were recomputed."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, signal_site_update(self.hub.entry.entry_id), self.async_write_ha_state
            )
        )
