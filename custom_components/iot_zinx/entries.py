"""Which config entries of the domain are station servers, station groups, and forwarding's."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback

from .const import (
    CONF_GROUP,
    CONF_KIND,
    CONF_SERVER,
    DOMAIN,
    FORWARDING_UNIQUE_ID,
    KIND_FORWARDING,
    KIND_STATION_GROUP,
)


def is_forwarding_entry(entry: ConfigEntry) -> bool:
    """Whether `entry` is webhook forwarding's own entry (not a station server)."""
    return entry.data.get(CONF_KIND) == KIND_FORWARDING


def is_station_group_entry(entry: ConfigEntry) -> bool:
    """Whether `entry` is a station group: entities of some of a server's stations."""
    return entry.data.get(CONF_KIND) == KIND_STATION_GROUP


@callback
def station_entries(hass: HomeAssistant, *, loaded: bool = False) -> list[ConfigEntry]:
    """The station-server entries of the domain (all, or only the loaded ones)."""
    entries = (
        hass.config_entries.async_loaded_entries(DOMAIN)
        if loaded
        else hass.config_entries.async_entries(DOMAIN)
    )
    return [entry for entry in entries if CONF_KIND not in entry.data]


@callback
def station_group_entries(hass: HomeAssistant, server_entry_id: str) -> list[ConfigEntry]:
    """The station groups of one server, by number."""
    return sorted(
        (
            entry
            for entry in hass.config_entries.async_entries(DOMAIN)
            if is_station_group_entry(entry) and entry.data[CONF_SERVER] == server_entry_id
        ),
        key=lambda entry: int(entry.data[CONF_GROUP]),
    )


@callback
def station_entity_entry_ids(hass: HomeAssistant, server_entry_id: str) -> list[str]:
    """The entries holding a server's station devices and entities: its own and its groups'."""
    return [
        server_entry_id,
        *(group.entry_id for group in station_group_entries(hass, server_entry_id)),
    ]


@callback
def forwarding_entry(hass: HomeAssistant) -> ConfigEntry | None:
    """Webhook forwarding's entry, once it exists."""
    return hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, FORWARDING_UNIQUE_ID)
