"""The iot_zinx integration: Home Assistant as the server of AP3000 charging stations."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.typing import ConfigType

from .api import async_setup_api
from .const import (
    DOMAIN,
    ISSUE_CANNOT_BIND,
    LOGGER,
)
from .entity_levels import (
    async_remove_unwanted_entities,
    port_entity_level,
    site_entities_wanted,
)
from .entries import is_forwarding_entry, is_station_group_entry
from .forwarding import async_setup_forwarding
from .forwarding_entry import (
    async_migrate_forwarding,
    async_remove_forwarding_entry_device,
    async_setup_forwarding_entry,
    async_unload_forwarding_entry,
)
from .frontend import async_register_frontend
from .hub import IotZinxHub, async_remove_storage
from .runtime_tuning import DATA_RUNTIME_TUNING, async_runtime_tuning
from .services import async_setup_services
from .site_totals import site_device_identifier
from .station_actions import async_setup_station_actions
from .station_group_entry import (
    async_remove_server_groups,
    async_server_failed,
    async_server_ready,
    async_setup_station_group,
    async_unload_server_groups,
    async_unload_station_group,
)
from .websocket import async_register_websocket_commands

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.UPDATE,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

type IotZinxConfigEntry = ConfigEntry[IotZinxHub]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions and the dashboard strategy once, whatever the number of servers."""
    async_setup_services(hass)
    async_setup_station_actions(hass)
    # Forwarding outlives the entries (its outbox is Home Assistant's, not a station
    # server's) and follows Home Assistant's shutdown by itself: it keeps queueing until the
    # final write, so the device_offline events of the shutdown are delivered after the
    # next start.
    await async_setup_forwarding(hass)
    # Its own config entry, from an older version's station entries and outbox if needed.
    async_migrate_forwarding(hass)
    await async_register_frontend(hass)
    async_register_websocket_commands(hass)
    # The IoT-Zinx gateway's HTTP API for platforms (api/, docs/api.md).
    await async_setup_api(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: IotZinxConfigEntry) -> bool:
    """Bind the station server and add the platforms (or set up forwarding's entry, or a
    station group's: station_groups.py)."""
    if is_forwarding_entry(entry):
        return await async_setup_forwarding_entry(hass, entry)
    if is_station_group_entry(entry):
        return await async_setup_station_group(hass, entry, PLATFORMS)
    hub = IotZinxHub(hass, entry)
    issue_id = f"{ISSUE_CANNOT_BIND}_{entry.entry_id}"
    try:
        await hub.async_start()
    except OSError as err:
        placeholders = {
            "host": str(entry.data[CONF_HOST]),
            "port": str(entry.data[CONF_PORT]),
            "error": str(err),
        }
        # A repair issue as well as the retry: without a listener no station can connect,
        # which the user would otherwise only notice by its absence.
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_CANNOT_BIND,
            translation_placeholders=placeholders,
        )
        async_server_failed(hass, entry.entry_id)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key=ISSUE_CANNOT_BIND,
            translation_placeholders=placeholders,
        ) from err
    ir.async_delete_issue(hass, DOMAIN, issue_id)
    # The hub stops itself on EVENT_HOMEASSISTANT_STOP (entries are not unloaded then):
    # stations get their device_offline (system_shutdown) and the orders are saved.
    entry.runtime_data = hub
    # Before the platforms add anything: what the port_entities option dropped goes away.
    async_remove_unwanted_entities(hass, entry)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # Its station groups (waiting, or unloaded with an earlier set-up) add their stations'.
    async_server_ready(hass, hub)
    if hub.options.large_site_tuning:
        async_runtime_tuning(hass).async_enable(entry.entry_id)
    LOGGER.debug("Station server listening on %s:%s", entry.data[CONF_HOST], hub.server.port)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: IotZinxConfigEntry) -> bool:
    """Remove the platforms and close the listener and every station connection."""
    if is_forwarding_entry(entry):
        return await async_unload_forwarding_entry(hass, entry)
    if is_station_group_entry(entry):
        return await async_unload_station_group(hass, entry, PLATFORMS)
    # The groups' entities read this hub: they go first (and come back after a reload).
    await async_unload_server_groups(hass, entry.entry_id)
    if unload_ok := await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        await entry.runtime_data.async_stop()
        # Thaws once no entry wants it: the removed entities' objects are then reclaimable.
        if (tuning := hass.data.get(DATA_RUNTIME_TUNING)) is not None:
            tuning.async_disable(entry.entry_id)
    return unload_ok


async def async_remove_entry(hass: HomeAssistant, entry: IotZinxConfigEntry) -> None:
    """Forget a deleted entry's persisted orders and energy, and its repair issue."""
    if is_forwarding_entry(entry) or is_station_group_entry(entry):
        # The outbox is Home Assistant's: deleting forwarding's entry loses no event. A
        # station group holds no state: its stations are placed again at the next start.
        return
    async_remove_server_groups(hass, entry.entry_id)
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_CANNOT_BIND}_{entry.entry_id}")
    await async_remove_storage(hass, entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: IotZinxConfigEntry, device_entry: DeviceEntry
) -> bool:
    """Let the user delete a station, but only while it is offline.

    An online station would come straight back with its next heartbeat; removing an
    offline one also forgets its persisted state (lifetime energy, open orders).
    """
    if is_forwarding_entry(entry):
        # A webhook endpoint's service device: removable once its backlog is delivered.
        return async_remove_forwarding_entry_device(hass, device_entry)
    if not is_station_group_entry(entry) and (
        site_device_identifier(entry.entry_id) in device_entry.identifiers
    ):
        # The site's totals: they would come straight back while the option provides them.
        return not site_entities_wanted(port_entity_level(entry))
    hub = entry.runtime_data
    return all(
        hub.async_remove_station(station_id)
        for domain, station_id in device_entry.identifiers
        if domain == DOMAIN
    )
