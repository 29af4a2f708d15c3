"""A station group's config entry: set-up, unload, removal, and its server's part in them.

A group shows the entities of some of its server's stations (station_groups.py), so it needs
the server's hub: at Home Assistant's start the entries of a domain are set up side by side,
and a group waits for its server's (``SERVER_WAIT``); when the server unloads (a reload after
its options changed), it unloads its groups first, since their entities read its hub, and
sets them up again after its own set-up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.util.hass_dict import HassKey

from .const import CONF_SERVER, DOMAIN
from .entries import station_group_entries

if TYPE_CHECKING:
    from .hub import IotZinxHub

# How long a group waits for its server's set-up before it retries later (the server then
# sets it up itself).
SERVER_WAIT: Final = 60.0


@dataclass(slots=True)
class _Servers:
    """The loaded servers' hubs, and the groups waiting for one."""

    hubs: dict[str, IotZinxHub] = field(default_factory=dict)
    ready: dict[str, asyncio.Event] = field(default_factory=dict)
    # Groups a server unloaded with itself, to set up again after its set-up.
    unloaded: set[str] = field(default_factory=set)

    def event(self, server_entry_id: str) -> asyncio.Event:
        return self.ready.setdefault(server_entry_id, asyncio.Event())


DATA_SERVERS: HassKey[_Servers] = HassKey(f"{DOMAIN}_station_group_servers")


def _servers(hass: HomeAssistant) -> _Servers:
    if (servers := hass.data.get(DATA_SERVERS)) is None:
        servers = hass.data[DATA_SERVERS] = _Servers()
    return servers


@callback
def async_server_ready(hass: HomeAssistant, hub: IotZinxHub) -> None:
    """The server's hub is up: its waiting groups go on, those it unloaded are set up again."""
    servers = _servers(hass)
    server_id = hub.entry.entry_id
    servers.hubs[server_id] = hub
    servers.event(server_id).set()
    for group in station_group_entries(hass, server_id):
        if group.state is ConfigEntryState.SETUP_RETRY or group.entry_id in servers.unloaded:
            servers.unloaded.discard(group.entry_id)
            hass.config_entries.async_schedule_reload(group.entry_id)


@callback
def async_server_failed(hass: HomeAssistant, server_entry_id: str) -> None:
    """The server's set-up failed (it retries): its waiting groups retry too, now."""
    _servers(hass).event(server_entry_id).set()


async def async_unload_server_groups(hass: HomeAssistant, server_entry_id: str) -> None:
    """Before the server's hub goes: unload its loaded groups (set up again after)."""
    servers = _servers(hass)
    servers.hubs.pop(server_entry_id, None)
    servers.event(server_entry_id).clear()
    for group in station_group_entries(hass, server_entry_id):
        if group.state is ConfigEntryState.LOADED:
            servers.unloaded.add(group.entry_id)
            await hass.config_entries.async_unload(group.entry_id)


@callback
def async_remove_server_groups(hass: HomeAssistant, server_entry_id: str) -> None:
    """The server's entry was deleted: its groups go with it."""
    for group in station_group_entries(hass, server_entry_id):
        hass.async_create_task(
            hass.config_entries.async_remove(group.entry_id), f"{DOMAIN} remove station group"
        )


async def async_setup_station_group(
    hass: HomeAssistant, entry: ConfigEntry[IotZinxHub], platforms: list[Platform]
) -> bool:
    """Wait for the server's hub, refresh the group's devices, add its stations' entities."""
    servers = _servers(hass)
    server_id = entry.data[CONF_SERVER]
    if (server := hass.config_entries.async_get_entry(server_id)) is None:
        # Its server's entry is gone (removed while this one was not loaded).
        async_remove_server_groups(hass, server_id)
        return False
    if server_id not in servers.hubs and server.disabled_by is None:
        # Set when the server's hub is up, or its set-up failed.
        try:
            async with asyncio.timeout(SERVER_WAIT):
                await servers.event(server_id).wait()
        except TimeoutError:
            pass
    if (hub := servers.hubs.get(server_id)) is None:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="station_group_server_not_loaded",
            translation_placeholders={"title": server.title},
        )
    entry.runtime_data = hub
    number = hub.groups.number(entry)
    # Before the platforms: a device the entities attach to, named and placed like any
    # station's (moved here from the server's entry for a station that moved).
    for station_id in hub.groups.stations_in(number):
        if (station := hub.stations.get(station_id)) is not None:
            hub.devices.refresh(station)
    await hass.config_entries.async_forward_entry_setups(entry, platforms)
    return True


async def async_unload_station_group(
    hass: HomeAssistant, entry: ConfigEntry[IotZinxHub], platforms: list[Platform]
) -> bool:
    """Remove the group's entities (its stations stay with the server)."""
    return await hass.config_entries.async_unload_platforms(entry, platforms)
