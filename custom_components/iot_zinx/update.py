"""The firmware update entity of every charging station and host gateway.

The installed version is what the device last reported (0x20 register, a host's 0x11); the
latest is the newest matching file of ``<config>/iot_zinx/firmware/`` (firmware.py,
docs/firmware.md). Refreshing the entity (``homeassistant.update_entity``) reads the folder
again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.update import (
    UpdateDeviceClass,
    UpdateEntity,
    UpdateEntityDescription,
    UpdateEntityFeature,
)
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import IotZinxEntity
from .firmware import file_pattern, signal_firmware, version_text
from .station_platform import async_add_station_entities

if TYPE_CHECKING:
    from . import IotZinxConfigEntry
    from .hub import IotZinxHub
    from .models import StationState

# Installs of different stations are independent; one station's are refused while one runs.
PARALLEL_UPDATES = 0

FIRMWARE = UpdateEntityDescription(
    key="firmware",
    translation_key="firmware",
    device_class=UpdateDeviceClass.FIRMWARE,
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotZinxConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Read the firmware folder, then add every station's update entity as stations appear."""
    hub = entry.runtime_data
    if entry is hub.entry:  # once per server, not again for each of its station groups
        await hub.firmware.async_scan()

    def station_entities(hub: IotZinxHub, station: StationState) -> list[UpdateEntity]:
        return [IotZinxFirmwareUpdate(hub, station.station_id, FIRMWARE)]

    async_add_station_entities(
        hass,
        entry,
        async_add_entities,
        station_entities,
        lambda hub, station, port: (),
        platform=Platform.UPDATE,
    )


class IotZinxFirmwareUpdate(IotZinxEntity, UpdateEntity):
    """A station's firmware: what it runs, the newest file for it, and the install."""

    _attr_supported_features = UpdateEntityFeature.INSTALL | UpdateEntityFeature.PROGRESS

    def _shown_value(self) -> object:
        # A register changes the installed version: the base class writes the state only
        # when this changes.
        return self.installed_version, self.latest_version, self.extra_state_attributes

    @property
    def installed_version(self) -> str | None:
        """``"1.26"`` for a station that registered with 126."""
        station = self.station
        return (
            None if station is None or station.firmware is None else version_text(station.firmware)
        )

    @property
    def latest_version(self) -> str | None:
        """The newest matching file's version; the installed one when there is none."""
        station = self.station
        file = None if station is None else self.hub.firmware.file_for(station)
        return self.installed_version if file is None else version_text(file.version)

    @property
    def in_progress(self) -> bool:
        """From the first packet until the device reports its new version."""
        return self.hub.firmware.in_progress(self.station_id)

    @property
    def update_percentage(self) -> float | None:
        """Packets acknowledged, while an install runs."""
        if not self.in_progress:
            return None
        return self.hub.firmware.installs[self.station_id].percentage

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The file on offer, the last install's result and the station's upgrade request."""
        firmware = self.hub.firmware
        station = self.station
        file = None if station is None else firmware.file_for(station)
        install = firmware.installs.get(self.station_id)
        request = firmware.requests.get(self.station_id, {})
        return {
            "firmware_file_pattern": None if station is None else file_pattern(station),
            "firmware_file": None if file is None else file.name,
            "last_install_result": None if install is None else install.result,
            "upgrade_requested_at": request.get("requested_at"),
            "upgrade_request_version": request.get("firmware_version"),
            "upgrade_request_package_type": request.get("package_type"),
        }

    async def async_added_to_hass(self) -> None:
        """Also write the state when the files, the install or a request change."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                signal_firmware(self.hub.entry.entry_id, self.station_id),
                self.async_write_ha_state,
            )
        )

    async def async_update(self) -> None:
        """``homeassistant.update_entity``: read the firmware folder again."""
        await self.hub.firmware.async_scan()

    async def async_install(self, version: str | None, backup: bool, **kwargs: Any) -> None:
        """Send the newest matching file; returns once the station reports its version."""
        await self.hub.firmware.async_install(self.station_id)
