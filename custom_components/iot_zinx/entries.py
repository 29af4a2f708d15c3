"""Which config entries of the domain are station servers, and which is the forwarding entry."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback

from .const import CONF_KIND, DOMAIN, FORWARDING_UNIQUE_ID, KIND_FORWARDING


def is_forwarding_entry(entry: ConfigEntry) -> bool:
    """Whether `entry` is webhook forwarding's own entry (not a station server)."""
    return entry.data.get(CONF_KIND) == KIND_FORWARDING


@callback
def station_entries(hass: HomeAssistant, *, loaded: bool = False) -> list[ConfigEntry]:
    """The station-server entries of the domain (all, or only the loaded ones)."""
    entries = (
        hass.config_entries.async_loaded_entries(DOMAIN)
        if loaded
        else hass.config_entries.async_entries(DOMAIN)
    )
    return [entry for entry in entries if not is_forwarding_entry(entry)]


@callback
def forwarding_entry(hass: HomeAssistant) -> ConfigEntry | None:
    """Webhook forwarding's entry, once it exists."""
    return hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, FORWARDING_UNIQUE_ID)
