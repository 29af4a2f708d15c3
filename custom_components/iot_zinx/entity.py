"""Base entities of the iot_zinx integration, and the dynamic adding of stations and ports.

Ports are entities *on the station's device* ("Port 3 power"), not child devices: an operator
with a thousand 16-port stations would otherwise get sixteen thousand extra devices, each
holding a handful of entities, cluttering the device list and the registry while adding
nothing a name prefix does not already say. A station is what an installer mounts, points
at the server, reboots and removes, so the station is the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
import re
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import (
    CONF_PORT_ENTITIES,
    CONNECTIVITY_STATION_ENTITIES,
    DEFAULT_PORT_ENTITIES,
    ESSENTIAL_PORT_ENTITIES,
    FLEET_STATION_ENTITIES,
    LOGGER,
    PORT_ENTITIES_ALL,
    PORT_ENTITIES_CONNECTIVITY,
    PORT_ENTITIES_ESSENTIAL,
    PORT_ENTITIES_NONE,
    STATION_TOTAL_KEYS,
    signal_new_station,
    signal_port_update,
    signal_station_ports,
    signal_station_update,
)
from .site_totals import site_device_identifier, site_unique_id_prefix

if TYPE_CHECKING:
    from . import IotZinxConfigEntry
    from .hub import IotZinxHub
    from .models import PortState, StationState


def is_charging_station(station: StationState) -> bool:
    """A charging station proper, not a host gateway (kind 09/0A).

    Hosts relay sub-stations: they send no 0x21 heartbeat of their own, so no mains voltage
    or temperature, and take host commands (0x31) instead of 0x81/0x87 (docs/protocol.md 3, 4).
    """
    return not station.is_host


# Unique ids are "<station>_<key>" and "<station>_port<n>_<key>" (below); the dashboard
# strategy (frontend/iot-zinx-ports.js) reads them the same way.
_PORT_UNIQUE_ID = re.compile(r"^[0-9A-F]{8}_port\d+_(?P<key>.+)$")
_STATION_UNIQUE_ID = re.compile(r"^[0-9A-F]{8}_(?P<key>.+)$")


def port_entity_level(entry: ConfigEntry) -> str:
    """The ``port_entities`` option: all, essential, none or connectivity."""
    return str(entry.options.get(CONF_PORT_ENTITIES, DEFAULT_PORT_ENTITIES))


def port_entity_wanted(level: str, platform: str, key: str) -> bool:
    """Whether a port gets the entity of this platform and description key."""
    if level == PORT_ENTITIES_ALL:
        return True
    return level == PORT_ENTITIES_ESSENTIAL and (platform, key) in ESSENTIAL_PORT_ENTITIES


def station_entity_wanted(level: str, platform: str, key: str) -> bool:
    """Whether a station gets the entity of this platform and description key.

    The totals exist only with "none", where they stand in for the port entities; "none"
    also keeps a station to ``FLEET_STATION_ENTITIES``, "connectivity" to its connectivity.
    """
    if level == PORT_ENTITIES_NONE:
        return (platform, key) in FLEET_STATION_ENTITIES
    if level == PORT_ENTITIES_CONNECTIVITY:
        return (platform, key) in CONNECTIVITY_STATION_ENTITIES
    return key not in STATION_TOTAL_KEYS


def site_entities_wanted(level: str) -> bool:
    """Whether the server has the site's totals (site_totals.py): only with "connectivity"."""
    return level == PORT_ENTITIES_CONNECTIVITY


@callback
def async_remove_unwanted_entities(hass: HomeAssistant, entry: ConfigEntry) -> int:
    """Remove registry entries the ``port_entities`` option no longer provides; how many.

    Without this, lowering the level would leave thousands of entities behind as "no longer
    provided" (and raising it, the station totals or the site's device and totals).
    """
    level = port_entity_level(entry)
    registry = er.async_get(hass)
    unwanted = []
    site_prefix = site_unique_id_prefix(entry.entry_id)
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if entity.unique_id.startswith(site_prefix):
            wanted = site_entities_wanted(level)
        elif (match := _PORT_UNIQUE_ID.match(entity.unique_id)) is not None:
            wanted = port_entity_wanted(level, entity.domain, match["key"])
        elif (match := _STATION_UNIQUE_ID.match(entity.unique_id)) is not None:
            wanted = station_entity_wanted(level, entity.domain, match["key"])
        else:  # the forwarding endpoints' diagnostic sensors: not the option's business
            continue
        if not wanted:
            unwanted.append(entity.entity_id)
    for entity_id in unwanted:
        registry.async_remove(entity_id)
    devices = dr.async_get(hass)
    if not site_entities_wanted(level) and (
        site := devices.async_get_device_by_identifier(
            site_device_identifier(entry.entry_id), entry.entry_id
        )
    ):
        devices.async_remove_device(site.id)
    if unwanted:
        LOGGER.info(
            "Removed %d entities that the port entities option (%s) no longer provides",
            len(unwanted),
            level,
        )
    return len(unwanted)


class IotZinxEntity(Entity):
    """An entity of one station: push-updated, unavailable while the station is offline."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, hub: IotZinxHub, device_id: str, description: EntityDescription) -> None:
        """Attach the entity to the station's device."""
        self.hub = hub
        self.device_id = device_id
        self.entity_description = description
        self._attr_unique_id = f"{device_id}_{description.key}"
        self._attr_device_info = hub.device_info(device_id)

    @property
    def station(self) -> StationState | None:
        """The station's live state; ``None`` once the station was removed."""
        return self.hub.stations.get(self.device_id)

    @property
    def available(self) -> bool:
        """A station's readings are stale while it is offline, so they are unavailable."""
        return (station := self.station) is not None and station.online

    def _update_signal(self) -> str:
        """The dispatcher signal after which this entity writes its state."""
        return signal_station_update(self.hub.entry.entry_id, self.device_id)

    async def async_added_to_hass(self) -> None:
        """Write the state whenever the hub reports a change of the station."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(self.hass, self._update_signal(), self.async_write_ha_state)
        )


class IotZinxPortEntity(IotZinxEntity):
    """An entity of one port of a station, named "Port {port} ..." by its translation."""

    def __init__(
        self, hub: IotZinxHub, device_id: str, port: int, description: EntityDescription
    ) -> None:
        """Attach the entity to the station's device, keyed by the 1-based port number."""
        super().__init__(hub, device_id, description)
        self.port_number = port
        self._attr_unique_id = f"{device_id}_port{port}_{description.key}"
        self._attr_translation_placeholders = {"port": str(port)}

    @property
    def port(self) -> PortState | None:
        """The port's live state; ``None`` until the station reported anything about it."""
        return None if (station := self.station) is None else station.ports.get(self.port_number)

    def _update_signal(self) -> str:
        """Only this port's changes (the hub also sends them when the station changes)."""
        return signal_port_update(self.hub.entry.entry_id, self.device_id, self.port_number)


class IotZinxStationTotalEntity(IotZinxEntity):
    """An entity of a station that sums up its ports: updated whenever any port changes."""

    def _update_signal(self) -> str:
        return signal_station_ports(self.hub.entry.entry_id, self.device_id)


def _nothing_to_unsubscribe() -> None:
    """The unsubscribe of a station whose ports get no entities (nothing was subscribed)."""


@dataclass(slots=True)
class _KnownStation:
    """What one platform already created for one station."""

    state: StationState
    ports: set[int]
    unsubscribe: Callable[[], None]


@callback
def async_add_station_entities(
    hass: HomeAssistant,
    entry: IotZinxConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    station_entities: Callable[[IotZinxHub, StationState], Iterable[Entity]],
    port_entities: Callable[[IotZinxHub, StationState, int], Iterable[Entity]],
    *,
    platform: Platform,
) -> None:
    """Add a platform's entities for every station and port, now and whenever one appears.

    Stations appear when they first talk (``signal_new_station``); ports when the station
    tells its port count (register or heartbeat), and again if it later reports more. The
    ``port_entities`` option decides which port entities exist.
    """
    hub = entry.runtime_data
    known: dict[str, _KnownStation] = {}
    level = port_entity_level(entry)
    # With "none" or "connectivity" no port entity is built, and nothing watches for new
    # ports: thousands of stations are the reason for these levels.
    with_ports = level in (PORT_ENTITIES_ALL, PORT_ENTITIES_ESSENTIAL)

    @callback
    def add_ports(device_id: str) -> None:
        if (station := hub.stations.get(device_id)) is None or device_id not in known:
            return
        numbers = set(range(1, station.port_count + 1)) | set(station.ports)
        if new := sorted(numbers - known[device_id].ports):
            known[device_id].ports.update(new)
            async_add_entities(
                [
                    entity
                    for port in new
                    for entity in port_entities(hub, station, port)
                    if port_entity_wanted(level, platform, entity.entity_description.key)
                ]
            )

    @callback
    def add_station(device_id: str) -> None:
        station = hub.stations[device_id]
        if (previous := known.get(device_id)) is not None:
            if previous.state is station:
                return
            # The station was removed and came back as a new state object; its old
            # entities went with the removed device, so add them again.
            previous.unsubscribe()
        known[device_id] = _KnownStation(
            state=station,
            ports=set(),
            unsubscribe=(
                async_dispatcher_connect(
                    hass,
                    signal_station_update(entry.entry_id, device_id),
                    partial(add_ports, device_id),
                )
                if with_ports
                else _nothing_to_unsubscribe
            ),
        )
        async_add_entities(
            [
                entity
                for entity in station_entities(hub, station)
                if station_entity_wanted(level, platform, entity.entity_description.key)
            ]
        )
        if with_ports:
            add_ports(device_id)

    @callback
    def unsubscribe_all() -> None:
        for record in known.values():
            record.unsubscribe()

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_station(entry.entry_id), add_station)
    )
    entry.async_on_unload(unsubscribe_all)
    for device_id in list(hub.stations):
        add_station(device_id)
