"""Switches of the iot_zinx integration: start and stop charging on a port."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import IotZinxPortEntity
from .helpers import handle_command_errors
from .station_platform import async_add_station_entities

if TYPE_CHECKING:
    from . import IotZinxConfigEntry
    from .hub import IotZinxHub
    from .models import StationState

# Commands to one station are already queued one at a time by the protocol session, and
# stations are independent, so Home Assistant need not serialise the switches.
PARALLEL_UPDATES = 0

CHARGING_SWITCH = SwitchEntityDescription(key="charging", translation_key="port_charging")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotZinxConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a charging switch for every port, as ports appear."""

    def port_entities(hub: IotZinxHub, station: StationState, port: int) -> list[SwitchEntity]:
        return [IotZinxChargingSwitch(hub, station.station_id, port, CHARGING_SWITCH)]

    async_add_station_entities(
        hass,
        entry,
        async_add_entities,
        lambda hub, station: (),
        port_entities,
        platform=Platform.SWITCH,
    )


class IotZinxChargingSwitch(IotZinxPortEntity, SwitchEntity):
    """On while the port charges (status charging or float charging, docs/protocol.md 7.1).

    Turning it on starts an order with the charge mode of the options; turning it off
    stops the running order. The state follows what the station reports, not the command.
    """

    def _shown_value(self) -> object:
        return self.is_on

    @property
    def is_on(self) -> bool | None:
        """Whether the port is charging; unknown before its status was reported."""
        if (port := self.port) is None or port.status is None:
            return None
        return port.is_charging

    @handle_command_errors
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Start charging with the configured mode."""
        charge = self.hub.options.charge
        await self.hub.orders.async_start_charging(
            self.station_id,
            self.port_number,
            mode=charge.mode,
            minutes=charge.minutes,
            energy_kwh=charge.energy_kwh,
        )

    @handle_command_errors
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop the running order."""
        await self.hub.orders.async_stop_charging(self.station_id, self.port_number)
