"""Adding a platform's entities per station and port, as stations appear and grow ports."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import PORT_ENTITIES_ALL, PORT_ENTITIES_ESSENTIAL
from .entity_levels import port_entity_wanted, station_entity_wanted
from .signals import signal_new_station, signal_station_update

if TYPE_CHECKING:
    from . import IotZinxConfigEntry
    from .hub import IotZinxHub
    from .models import StationState


def is_charging_station(station: StationState) -> bool:
    """A charging station proper, not a host gateway (kind 09/0A).

    Hosts relay sub-stations: they send no 0x21 heartbeat of their own, so no mains voltage
    or temperature, and take host commands (0x31) instead of 0x81/0x87 (docs/protocol.md 3, 4).
    """
    return not station.is_host


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
    server's ``port_entities`` option decides which port entities exist; ``entry`` (the
    server's or one of its station groups') adds those of the stations placed in it
    (``hub.groups``, station_groups.py).
    """
    hub = entry.runtime_data
    server_id = hub.entry.entry_id
    number = hub.groups.number(entry)
    known: dict[str, _KnownStation] = {}
    level = hub.options.port_entities
    # With "none" or "connectivity" no port entity is built, and nothing watches for new
    # ports: thousands of stations are the reason for these levels.
    with_ports = level in (PORT_ENTITIES_ALL, PORT_ENTITIES_ESSENTIAL)

    @callback
    def add_ports(station_id: str) -> None:
        if (station := hub.stations.get(station_id)) is None or station_id not in known:
            return
        numbers = set(range(1, station.port_count + 1)) | set(station.ports)
        if new := sorted(numbers - known[station_id].ports):
            known[station_id].ports.update(new)
            # What the station's group counted for it, now that its ports are known.
            hub.groups.ports_known(station)
            async_add_entities(
                [
                    entity
                    for port in new
                    for entity in port_entities(hub, station, port)
                    if port_entity_wanted(level, platform, entity.entity_description.key)
                ]
            )

    @callback
    def add_station(station_id: str) -> None:
        station = hub.stations[station_id]
        if hub.groups.home(station_id) != number:
            return  # another entry's (Home Assistant's cap of entities per entry)
        if (previous := known.get(station_id)) is not None:
            if previous.state is station:
                return
            # The station was removed and came back as a new state object; its old
            # entities went with the removed device, so add them again.
            previous.unsubscribe()
        known[station_id] = _KnownStation(
            state=station,
            ports=set(),
            unsubscribe=(
                async_dispatcher_connect(
                    hass,
                    signal_station_update(server_id, station_id),
                    partial(add_ports, station_id),
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
            add_ports(station_id)

    @callback
    def unsubscribe_all() -> None:
        for record in known.values():
            record.unsubscribe()

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_station(server_id), add_station)
    )
    entry.async_on_unload(unsubscribe_all)
    for station_id in list(hub.stations):
        add_station(station_id)
