"""Webhook forwarding's own config entry: its retention option, its devices, the upgrade.

The manager (forwarding.py) runs from the integration's `async_setup`, whatever entries
exist, so that the outbox drains from the start. The entry only owns what needs an entry:
the *Webhook retention* option and the service devices (forwarding's own, and one per
endpoint, with their sensors). It is created on the first `iot_zinx.forward_event` call, or at
the first start after an upgrade from a version that kept forwarding on the station entries.
"""

from __future__ import annotations

from datetime import timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er

from .const import (
    CONF_FORWARD_RETENTION_DAYS,
    DEFAULT_FORWARD_RETENTION_DAYS,
    DOMAIN,
    LOGGER,
)
from .entries import forwarding_entry, station_entries
from .forwarding_action import DATA_FORWARDING, async_ensure_forwarding_entry
from .forwarding_entities import (
    DEVICE_PREFIX,
    FORWARDING_DEVICE_IDENTIFIER,
    forwarding_endpoint_key,
)

PLATFORMS: list[Platform] = [Platform.SENSOR]


@callback
def async_migrate_forwarding(hass: HomeAssistant) -> None:
    """At start-up (from `async_setup`): create forwarding's entry if an older version used it.

    Signs of use: a retention option on a station entry, an endpoint device, or anything in
    the outbox (queued events, figures, dead letters). The largest retention found is kept;
    the devices move to the new entry when it is set up; the outbox is Home Assistant's and
    stays as it is.
    """
    if forwarding_entry(hass) is not None:
        return
    retentions = [
        int(entry.options[CONF_FORWARD_RETENTION_DAYS])
        for entry in station_entries(hass)
        if CONF_FORWARD_RETENTION_DAYS in entry.options
    ]
    devices = [
        device
        for device in dr.async_get(hass).devices
        if forwarding_endpoint_key(device) is not None
    ]
    manager = hass.data.get(DATA_FORWARDING)
    if retentions or devices or (manager is not None and manager.endpoint_keys):
        LOGGER.info("Webhook forwarding gets a config entry of its own")
        async_ensure_forwarding_entry(hass, max(retentions, default=None), migrating=True)


async def async_setup_forwarding_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Apply the retention, adopt the endpoint devices, add the sensors."""
    days = entry.options.get(CONF_FORWARD_RETENTION_DAYS, DEFAULT_FORWARD_RETENTION_DAYS)
    if (manager := hass.data.get(DATA_FORWARDING)) is not None:
        manager.set_retention(timedelta(days=days))
    _async_adopt(hass, entry)
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={FORWARDING_DEVICE_IDENTIFIER},
        entry_type=dr.DeviceEntryType.SERVICE,
        translation_key="forwarding",
        manufacturer="IoT-Zinx",
        model="Webhook forwarding",
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_forwarding_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Remove the sensors; the manager goes on delivering (it is Home Assistant's)."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


@callback
def _async_adopt(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Move endpoint devices and sensors an older version put on station entries; drop the
    retention option those entries carried (it is this entry's now)."""
    devices = dr.async_get(hass)
    for device in list(devices.devices):
        if forwarding_endpoint_key(device) is not None and device.config_entry_id != entry.entry_id:
            devices.async_update_device(device.id, new_config_entry_id=entry.entry_id)
    entities = er.async_get(hass)
    for entity in list(entities.entities.values()):
        if (
            entity.platform == DOMAIN
            and entity.unique_id.startswith(DEVICE_PREFIX)
            and entity.config_entry_id != entry.entry_id
        ):
            entities.async_update_entity(entity.entity_id, config_entry_id=entry.entry_id)
    for station in station_entries(hass):
        if CONF_FORWARD_RETENTION_DAYS in station.options:
            options = dict(station.options)
            del options[CONF_FORWARD_RETENTION_DAYS]
            hass.config_entries.async_update_entry(station, options=options)


@callback
def async_remove_forwarding_entry_device(hass: HomeAssistant, device: dr.DeviceEntry) -> bool:
    """An endpoint's device goes once nothing is queued for it; forwarding's own stays."""
    if (key := forwarding_endpoint_key(device)) is None:
        return False
    if (manager := hass.data.get(DATA_FORWARDING)) is None:
        return True
    # An endpoint with events still queued cannot go (they would come back with the next
    # attempt); otherwise its figures are forgotten and the device may go.
    return manager.forget_endpoint(key)
