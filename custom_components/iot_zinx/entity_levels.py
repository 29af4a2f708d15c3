"""The *Entities per port* option: which entities each level provides, and the clean-up.

Also the unique-id contract of the station and port entities, in one place: entity.py builds
the ids with ``station_unique_id``/``port_unique_id``, the clean-up and the dashboard's port
map (``websocket.py``) read them back with ``parse_unique_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
import re

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er

from .const import (
    CONNECTIVITY_STATION_ENTITIES,
    ESSENTIAL_PORT_ENTITIES,
    FLEET_STATION_ENTITIES,
    LOGGER,
    PORT_ENTITIES_ALL,
    PORT_ENTITIES_CONNECTIVITY,
    PORT_ENTITIES_ESSENTIAL,
    PORT_ENTITIES_NONE,
    STATION_TOTAL_KEYS,
)
from .entries import station_entity_entry_ids
from .options import ServerOptions
from .site_totals import site_device_identifier, site_unique_id_prefix

_PORT_UNIQUE_ID = re.compile(r"^(?P<station>[0-9A-F]{8})_port(?P<port>\d+)_(?P<key>.+)$")
_STATION_UNIQUE_ID = re.compile(r"^(?P<station>[0-9A-F]{8})_(?P<key>.+)$")


def station_unique_id(station_id: str, key: str) -> str:
    """``"04A228CD_voltage"``: an entity of the station itself."""
    return f"{station_id}_{key}"


def port_unique_id(station_id: str, port: int, key: str) -> str:
    """``"04A228CD_port1_power"``: an entity of one port (1-based)."""
    return f"{station_id}_port{port}_{key}"


@dataclass(frozen=True, slots=True)
class EntityKey:
    """What a station or port entity's unique id says: whose it is, and which description."""

    station_id: str  # "04A228CD"
    port: int | None  # 1-based; None for the station's own entities
    key: str  # the entity description's key


def parse_unique_id(unique_id: str) -> EntityKey | None:
    """Inverse of ``station_unique_id``/``port_unique_id``; None for other entities."""
    if (match := _PORT_UNIQUE_ID.match(unique_id)) is not None:
        return EntityKey(match["station"], int(match["port"]), match["key"])
    if (match := _STATION_UNIQUE_ID.match(unique_id)) is not None:
        return EntityKey(match["station"], None, match["key"])
    return None


def port_entity_level(entry: ConfigEntry) -> str:
    """The ``port_entities`` option: all, essential, none or connectivity."""
    return ServerOptions.from_entry(entry).port_entities


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
    for entity in (
        entity
        # The server's own entry and its station groups' (station_groups.py).
        for entry_id in station_entity_entry_ids(hass, entry.entry_id)
        for entity in er.async_entries_for_config_entry(registry, entry_id)
    ):
        if entity.unique_id.startswith(site_prefix):
            wanted = site_entities_wanted(level)
        elif (parsed := parse_unique_id(entity.unique_id)) is not None:
            wanted = (
                station_entity_wanted(level, entity.domain, parsed.key)
                if parsed.port is None
                else port_entity_wanted(level, entity.domain, parsed.key)
            )
        else:  # an older version's endpoint sensor (moving to forwarding's entry): not ours
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
