"""Buttons of the iot_zinx integration: reboot a station, ask it to report, identify it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.button import (
    ButtonDeviceClass,
    ButtonEntity,
    ButtonEntityDescription,
)
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import IotZinxEntity
from .helpers import handle_command_errors
from .station_commands import IDENTIFY_SECONDS
from .station_platform import async_add_station_entities, is_charging_station

if TYPE_CHECKING:
    from . import IotZinxConfigEntry
    from .hub import IotZinxHub
    from .models import StationState

# Commands to one station are already queued one at a time by the protocol session, and
# stations are independent, so Home Assistant need not serialise the buttons.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class IotZinxButtonDescription(ButtonEntityDescription):
    """A button sending one command to a station."""

    press_fn: Callable[[IotZinxHub, str], Awaitable[None]]
    exists_fn: Callable[[StationState], bool] = lambda _: True


BUTTONS: tuple[IotZinxButtonDescription, ...] = (
    # 0x87 and 0x81 are charging-station commands; a host gateway has its own (0x31).
    IotZinxButtonDescription(
        key="reboot",
        device_class=ButtonDeviceClass.RESTART,
        entity_category=EntityCategory.CONFIG,
        exists_fn=is_charging_station,
        press_fn=lambda hub, station_id: hub.orders.async_reboot(station_id),
    ),
    IotZinxButtonDescription(
        key="query_status",
        translation_key="query_status",
        entity_category=EntityCategory.DIAGNOSTIC,
        exists_fn=is_charging_station,
        press_fn=lambda hub, station_id: hub.orders.async_query_status(station_id),
    ),
    # 0x96: the station beeps and flashes so that someone on site finds it.
    IotZinxButtonDescription(
        key="identify",
        device_class=ButtonDeviceClass.IDENTIFY,
        entity_category=EntityCategory.CONFIG,
        exists_fn=is_charging_station,
        press_fn=lambda hub, station_id: hub.commands.async_locate(station_id, IDENTIFY_SECONDS),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotZinxConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the buttons of every station, as stations appear."""

    def station_entities(hub: IotZinxHub, station: StationState) -> list[ButtonEntity]:
        return [
            IotZinxButton(hub, station.station_id, description)
            for description in BUTTONS
            if description.exists_fn(station)
        ]

    async_add_station_entities(
        hass,
        entry,
        async_add_entities,
        station_entities,
        lambda hub, station, port: (),
        platform=Platform.BUTTON,
    )


class IotZinxButton(IotZinxEntity, ButtonEntity):
    """A button of a station."""

    entity_description: IotZinxButtonDescription

    @handle_command_errors
    async def async_press(self) -> None:
        """Send the command."""
        await self.entity_description.press_fn(self.hub, self.station_id)
