"""Base entities of the iot_zinx integration: a station's, a port's, a station total's.

Ports are entities *on the station's device* ("Port 3 power"), not child devices: an operator
with a thousand 16-port stations would otherwise get sixteen thousand extra devices, each
holding a handful of entities, cluttering the device list and the registry while adding
nothing a name prefix does not already say. A station is what an installer mounts, points
at the server, reboots and removes, so the station is the device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.core import callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription

from .entity_levels import port_unique_id, station_unique_id
from .signals import signal_port_update, signal_station_ports, signal_station_update

if TYPE_CHECKING:
    from .hub import IotZinxHub
    from .models import PortState, StationState


class IotZinxEntity(Entity):
    """An entity of one station: push-updated, unavailable while the station is offline."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _last_shown: tuple[bool, object] | None = None

    def __init__(self, hub: IotZinxHub, station_id: str, description: EntityDescription) -> None:
        """Attach the entity to the station's device."""
        self.hub = hub
        self.station_id = station_id
        self.entity_description = description
        self._attr_unique_id = station_unique_id(station_id, description.key)
        self._attr_device_info = hub.device_info(station_id)

    @property
    def station(self) -> StationState | None:
        """The station's live state; ``None`` once the station was removed."""
        return self.hub.stations.get(self.station_id)

    @property
    def available(self) -> bool:
        """A station's readings are stale while it is offline, so they are unavailable."""
        return (station := self.station) is not None and station.online

    def _update_signal(self) -> str:
        """The dispatcher signal after which this entity writes its state."""
        return signal_station_update(self.hub.entry.entry_id, self.station_id)

    def _shown_value(self) -> object:
        """What the state shows besides availability (the reading; nothing for a button)."""
        return None

    def _shown(self) -> tuple[bool, object]:
        return self.available, self._shown_value()

    @callback
    def _async_station_changed(self) -> None:
        """Write the state only when what it shows changed.

        A signal covers a whole station or port: a heartbeat tells every station entity, a
        register every port's. Home Assistant would compute each state to find most of them
        unchanged; comparing the reading first is cheaper.
        """
        if (shown := self._shown()) != self._last_shown:
            self._last_shown = shown
            self.async_write_ha_state()

    async def async_added_to_hass(self) -> None:
        """Write the state whenever the hub reports a change of the station."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(self.hass, self._update_signal(), self._async_station_changed)
        )
        # What Home Assistant writes as it adds the entity, right after this returns.
        self._last_shown = self._shown()


class IotZinxPortEntity(IotZinxEntity):
    """An entity of one port of a station, named "Port {port} ..." by its translation."""

    def __init__(
        self, hub: IotZinxHub, station_id: str, port: int, description: EntityDescription
    ) -> None:
        """Attach the entity to the station's device, keyed by the 1-based port number."""
        super().__init__(hub, station_id, description)
        self.port_number = port
        self._attr_unique_id = port_unique_id(station_id, port, description.key)
        self._attr_translation_placeholders = {"port": str(port)}

    @property
    def port(self) -> PortState | None:
        """The port's live state; ``None`` until the station reported anything about it."""
        return None if (station := self.station) is None else station.ports.get(self.port_number)

    def _update_signal(self) -> str:
        """Only this port's changes (the hub also sends them when the station changes)."""
        return signal_port_update(self.hub.entry.entry_id, self.station_id, self.port_number)


class IotZinxStationTotalEntity(IotZinxEntity):
    """An entity of a station that sums up its ports: updated whenever any port changes."""

    def _update_signal(self) -> str:
        return signal_station_ports(self.hub.entry.entry_id, self.station_id)
