"""Every dispatcher signal of the integration, and the fan-out of a station's change.

Entities update from these signals, never by polling. The names are per entry, station and
port so that a 0x06 power report rewrites that port's few entities, not the ~90 of a 10-port
station (the difference between keeping up and not at 3,000 stations).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .const import DOMAIN
from .models import StationState

# Sent when a forwarding endpoint is used for the first time; payload: its key.
SIGNAL_ENDPOINT_ADDED: Final = f"{DOMAIN}_forwarding_endpoint_added"
# Sent after every change of any station of any server, besides the station's and ports'
# own signals; payload: the entry id and the StationState. For the dashboard's station list
# (station_list.py), which follows a page of a whole fleet with one listener.
SIGNAL_STATION_CHANGED: Final = f"{DOMAIN}_station_changed"


def signal_new_station(entry_id: str) -> str:
    """Sent once per station when it first talks; payload: station_id."""
    return f"{DOMAIN}_new_station_{entry_id}"


def signal_station_update(entry_id: str, station_id: str) -> str:
    """Sent when the station itself changed (not only a port); no payload.

    Coming online or going offline, register and heartbeats send it together with every
    port's ``signal_port_update``; a port's 0x06 or settlement sends only its port's.
    """
    return f"{DOMAIN}_station_update_{entry_id}_{station_id}"


def signal_port_update(entry_id: str, station_id: str, port: int) -> str:
    """Sent when one port of a station changed; no payload."""
    return f"{DOMAIN}_port_update_{entry_id}_{station_id}_{port}"


def signal_station_ports(entry_id: str, station_id: str) -> str:
    """Sent when any port of a station changed; no payload.

    For the station's totals over its ports (charging ports, power, lifetime energy).
    """
    return f"{DOMAIN}_station_ports_{entry_id}_{station_id}"


def signal_site_update(entry_id: str) -> str:
    """Sent when the site's totals were recomputed; no payload."""
    return f"{DOMAIN}_site_update_{entry_id}"


def signal_endpoint_update(endpoint_key: str) -> str:
    """Sent (throttled) when a forwarding endpoint's figures change; no payload."""
    return f"{DOMAIN}_forwarding_update_{endpoint_key}"


@callback
def async_send_station_changed(
    hass: HomeAssistant,
    entry_id: str,
    station: StationState,
    ports: Iterable[int] | None = None,
    *,
    station_level: bool = True,
) -> None:
    """Tell a station's entities: its own (``station_level``) and those of ``ports``.

    ``ports=None`` means every port (online, offline, register: availability or the port
    count may have changed).
    """
    station_id = station.station_id
    if station_level:
        async_dispatcher_send(hass, signal_station_update(entry_id, station_id))
    numbers = list(station.ports) if ports is None else list(ports)
    for number in numbers:
        async_dispatcher_send(hass, signal_port_update(entry_id, station_id, number))
    if numbers:
        async_dispatcher_send(hass, signal_station_ports(entry_id, station_id))
    async_dispatcher_send(hass, SIGNAL_STATION_CHANGED, entry_id, station)
