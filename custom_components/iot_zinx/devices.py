"""The stations' devices in the device registry, and the DeviceInfo their entities share."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo

from .const import DOMAIN, MANUFACTURER
from .models import StationState


class StationDevices:
    """One device per station of a config entry; sub-stations are connected via their host."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Register the devices of ``entry_id``."""
        self._hass = hass
        self._entry_id = entry_id
        # One DeviceInfo per station, shared by its entities: a 10-port station with every
        # port entity would otherwise hold ninety identical ones.
        self.infos: dict[str, DeviceInfo] = {}

    @callback
    def refresh(self, station: StationState) -> None:
        """Create or refresh the station's device: model, firmware, serial, via its host."""
        registry = dr.async_get(self._hass)
        details: dict[str, Any] = {}
        if station.firmware_version is not None:
            details["sw_version"] = station.firmware_version
        if station.host_station_id is not None and (
            host := registry.async_get_device_by_identifier(
                (DOMAIN, station.host_station_id), self._entry_id
            )
        ):
            details["via_device_id"] = host.id
        registry.async_get_or_create(
            config_entry_id=self._entry_id,
            identifiers={(DOMAIN, station.station_id)},
            manufacturer=MANUFACTURER,
            model=station.model,
            name=f"AP3000 {station.station_id}",
            serial_number=str(station.qr_number),
            **details,
        )

    def device_info(self, station_id: str) -> DeviceInfo:
        """The station's DeviceInfo for its entities: identifiers only, one per station.

        ``refresh`` owns the device's name, model and firmware in the registry and updates
        them when a station re-registers; Home Assistant only reads this, so it can be shared.
        """
        if (info := self.infos.get(station_id)) is None:
            info = self.infos[station_id] = DeviceInfo(identifiers={(DOMAIN, station_id)})
        return info

    def forget(self, station_id: str) -> None:
        """The station was removed."""
        self.infos.pop(station_id, None)
