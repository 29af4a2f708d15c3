"""The stations' devices in the device registry, and the DeviceInfo their entities share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo

from .const import DOMAIN, MANUFACTURER
from .models import StationState

if TYPE_CHECKING:
    from .station_groups import StationGroups


class StationDevices:
    """One device per station of a server; sub-stations are connected via their host.

    A station's device belongs to the entry its entities are in: the server's, or the
    station group's it was placed in (station_groups.py).
    """

    def __init__(self, hass: HomeAssistant, groups: StationGroups) -> None:
        """Register the devices of the server whose stations ``groups`` places."""
        self._hass = hass
        self._groups = groups
        # One DeviceInfo per station, shared by its entities: a 10-port station with every
        # port entity would otherwise hold ninety identical ones.
        self.infos: dict[str, DeviceInfo] = {}

    @callback
    def refresh(self, station: StationState) -> None:
        """Create or refresh the station's device: model, firmware, serial, via its host."""
        # A register tells the ports: what the station's entry counts for it (and for the
        # stations that have not told theirs yet) follows.
        self._groups.ports_known(station)
        if (entry_id := self._groups.home_entry_id(station.station_id)) is None:
            return  # its group's entry is being created; its set-up refreshes the device
        registry = dr.async_get(self._hass)
        details: dict[str, Any] = {}
        if station.firmware_version is not None:
            details["sw_version"] = station.firmware_version
        if station.host_station_id is not None and (host := self.device(station.host_station_id)):
            details["via_device_id"] = host.id
        if (device := self.device(station.station_id)) is not None and (
            device.config_entry_id != entry_id
        ):
            # The station moved to a station group: its device (area, name, id) goes along.
            registry.async_update_device(device.id, new_config_entry_id=entry_id)
        registry.async_get_or_create(
            config_entry_id=entry_id,
            identifiers={(DOMAIN, station.station_id)},
            manufacturer=MANUFACTURER,
            model=station.model,
            name=f"AP3000 {station.station_id}",
            serial_number=str(station.qr_number),
            **details,
        )

    @callback
    def device(self, station_id: str) -> DeviceEntry | None:
        """The station's device, in whichever of the server's entries it is."""
        registry = dr.async_get(self._hass)
        entry_ids = self._groups.entry_ids()
        # Its home first; the others for a device still where an earlier start placed it.
        home = entry_ids.pop(self._groups.home(station_id), None)
        for entry_id in (home, *entry_ids.values()):
            if entry_id is not None and (
                device := registry.async_get_device_by_identifier((DOMAIN, station_id), entry_id)
            ):
                return device
        return None

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
