"""Diagnostics of the iot_zinx integration: options, stations and server counters.

Webhook forwarding's own entry shows the forwarding instead: settings, outbox, endpoints and
dead letters (credentials redacted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_CARD_ALLOW_LIST
from .entries import is_forwarding_entry, is_station_group_entry
from .forwarding import DATA_FORWARDING
from .runtime_tuning import DATA_RUNTIME_TUNING

if TYPE_CHECKING:
    from . import IotZinxConfigEntry

# A SIM's ICCID (and a host module's IMEI) identify a subscriber; card ids are what a
# swipe presents to start charging at someone's expense.
TO_REDACT = {CONF_CARD_ALLOW_LIST, "iccid", "imei", "card_id", "card_number"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: IotZinxConfigEntry
) -> dict[str, Any]:
    """The entry's configuration and the hub's view of its stations and server."""
    entry_data = {
        "title": entry.title,
        "data": dict(entry.data),
        "options": dict(entry.options),
    }
    if is_forwarding_entry(entry):
        # The outbox and dead letters of every webhook endpoint (credentials redacted).
        manager = hass.data.get(DATA_FORWARDING)
        return {
            "entry": entry_data,
            "forwarding": manager.diagnostics() if manager is not None else None,
        }
    if is_station_group_entry(entry):
        # Its stations are the server's: their details are in the server's diagnostics.
        hub = entry.runtime_data
        return {
            "entry": entry_data,
            "stations": sorted(hub.groups.stations_in(hub.groups.number(entry))),
        }
    return async_redact_data(
        {
            "entry": entry_data,
            "hub": entry.runtime_data.diagnostics(),
            # The firmware files found and each station's last install (firmware.py).
            "firmware": entry.runtime_data.firmware.diagnostics(),
            # The large-site tuning (process-wide): the heap's passes, the switch interval.
            "runtime_tuning": (
                tuning.diagnostics()
                if (tuning := hass.data.get(DATA_RUNTIME_TUNING)) is not None
                else None
            ),
        },
        TO_REDACT,
    )
