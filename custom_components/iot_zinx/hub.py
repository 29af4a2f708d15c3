"""The hub: binds the DNY server to Home Assistant, and routes; small modules do the work.

``IotZinxHub`` is the server's ``ServerObserver``. What a station says goes to the tracker
(``tracker.py``: state and event envelopes, no ``hass``), whose effects the hub carries
out: events on the bus as ``iot_zinx_event`` (held back by ``orders.py`` while a start command
waits for its reply), the device registry (``devices.py``), the entities (``signals.py``) and
the store (``store.py``). Commands from the entities and actions go to ``orders.py``; card
swipes to ``cards.py``; settings to ``station_settings.py``, other commands to
``station_commands.py``; firmware files, installs and 0x05 upgrade requests to
``firmware.py``; the fleet-size repair is ``repairs.py``; options come typed from
``options.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import logging
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import CONF_HOST, CONF_PORT, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CoreState, Event, HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.start import async_at_started

from . import events
from .cards import async_card_start, card_reply, starts_charging
from .const import DOMAIN, EVENT_IOT_ZINX
from .devices import StationDevices
from .effects import Effect, Fire, NewStation, Notify, RefreshDevice, Save
from .firmware import FirmwareUpdates
from .models import StationState
from .options import ServerOptions
from .orders import ChargeOutcome, NoActiveOrderError, Orders
from .protocol.messages import HostUpgradeRequest, UpgradeRequest
from .protocol.server import DnyServer, OfflineReason, ServerConfig, StationLink
from .repairs import FleetSizeRepair
from .signals import async_send_station_changed, signal_new_station
from .site_totals import SiteTotalsTracker
from .station_commands import StationCommands
from .station_groups import StationGroups
from .station_settings import StationSettings
from .store import HubStore, OrderBook, async_remove_storage
from .tracker import StationTracker

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from .protocol.messages import CardReply, CardSwipe, Settlement, UpstreamMessage

__all__ = [
    "ChargeOutcome",
    "IotZinxHub",
    "NoActiveOrderError",
    "async_remove_storage",  # from store.py, for __init__.async_remove_entry
]

_LOGGER = logging.getLogger(__name__)

# docs/protocol.md 2; module constants so that tests can shorten them.
REPLY_TIMEOUT: Final = 15.0
COMMAND_SPACING: Final = 0.5


class IotZinxHub:
    """The stations of one config entry (one listening port) and everything about them."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Prepare the server; nothing listens until ``async_start``."""
        self.hass = hass
        self.entry = entry
        self.options = ServerOptions.from_entry(entry)
        self.stations: dict[str, StationState] = {}
        self._book = OrderBook(self.stations)
        self._store = HubStore(hass, entry.entry_id, self._book, self.stations)
        # Which entry (the server's or a station group's) holds each station's entities.
        self.groups = StationGroups(hass, entry, self.options.port_entities, self._port_count)
        self.devices = StationDevices(hass, self.groups)
        self._fleet = FleetSizeRepair(hass, entry, self.options.port_entities)
        self.server = DnyServer(self._server_config(), self, frame_logger=self._frame_logged)
        self.orders = Orders(
            self.server,
            self.stations,
            self._book,
            self._store,
            notify=self._notify,
            fire_now=self._fire_now,
        )
        self.settings = StationSettings(self.server)
        self.commands = StationCommands(self.server, self.stations)
        self.firmware = FirmwareUpdates(
            hass, entry.entry_id, self.devices, self.server, self.stations
        )
        self.tracker = StationTracker(
            self.stations,
            self._book,
            self.orders.pending,
            electricity_price=self.options.electricity_price,
            service_price=self.options.service_price,
        )
        # The site's totals: tracked only while the site's entities exist (sensor.py).
        self.site = SiteTotalsTracker(
            hass, entry.entry_id, self.stations, lambda: self._book.removed_kwh
        )
        self._unsub_stop: Callable[[], None] | None = None
        self._unsub_started: Callable[[], None] | None = None
        self._stopped = False

    # -- life cycle ----------------------------------------------------------------------

    def _server_config(self) -> ServerConfig:
        allowed = self.options.station_allow_list
        return ServerConfig(
            host=self.entry.data[CONF_HOST],
            port=self.entry.data[CONF_PORT],
            heartbeat_timeout=self.options.heartbeat_timeout_s,
            reply_timeout=REPLY_TIMEOUT,
            command_spacing=COMMAND_SPACING,
            admit=None if allowed is None else allowed.__contains__,
        )

    async def async_start(self) -> None:
        """Load the persisted orders and energy, then listen; ``OSError`` if it cannot bind.

        While Home Assistant is still starting, the port is bound but stations are refused
        until it has started: automations (the webhook forwarding among them) are armed only
        then, and an event fired before, such as the settlement a station resends on
        redialling, would reach none of them. The station keeps it until it is acknowledged.
        """
        await self._store.async_load()
        self.groups.async_load(self.stations)
        self._fleet.check(len(self.stations))
        starting = self.hass.state is not CoreState.running
        await self.server.start(serve=not starting)
        self._stopped = False
        self._unsub_stop = self.hass.bus.async_listen(
            EVENT_HOMEASSISTANT_STOP, self._async_hass_stopping
        )
        if starting:
            self._unsub_started = async_at_started(self.hass, self._async_hass_started)

    async def _async_hass_started(self, _hass: HomeAssistant) -> None:
        self._unsub_started = None
        await self.server.serve()

    async def _async_hass_stopping(self, _event: Event) -> None:
        # Config entries are not unloaded when Home Assistant stops, but the stations
        # should still go offline with "system_shutdown" and the orders be saved.
        self._unsub_stop = None
        await self.async_stop()

    async def async_stop(self) -> None:
        """Close every connection (stations go offline: system_shutdown) and save."""
        for unsub in (self._unsub_stop, self._unsub_started):
            if unsub is not None:
                unsub()
        self._unsub_stop = self._unsub_started = None
        if self._stopped:
            return
        self._stopped = True
        await self.server.stop()
        await self._store.async_save(final=True)

    def _port_count(self, station_id: str) -> int:
        return 0 if (station := self.stations.get(station_id)) is None else station.port_count

    # -- ServerObserver ------------------------------------------------------------------

    @callback
    def station_online(self, link: StationLink) -> None:
        """A physical id sent its first frame on a connection."""
        self._apply(self.tracker.online(link))

    @callback
    def station_offline(self, link: StationLink, reason: OfflineReason) -> None:
        """The link ended."""
        self._apply(self.tracker.offline(link, reason))

    @callback
    def message_received(self, link: StationLink, message: UpstreamMessage) -> None:
        """Update the state from one upstream message and fire its events."""
        if link.device_id not in self.stations:
            # Its station_online failed (the server logs observer errors): add it now.
            self.station_online(link)
        self._apply(self.tracker.message(link, message))
        if isinstance(message, UpgradeRequest | HostUpgradeRequest):
            # Not one of the forwarded event types: an event of its own (firmware.py).
            self.firmware.upgrade_requested(link, message)

    async def settlement_received(self, link: StationLink, settlement: Settlement) -> None:
        """Process a settlement (once, however often it is resent) and store it.

        The server acknowledges it only when this returns, and the station then forgets it:
        the store is written first, so a crash cannot lose a settlement.
        """
        self.message_received(link, settlement)
        await self._store.async_save()

    async def card_swiped(self, link: StationLink, swipe: CardSwipe) -> CardReply:
        """Decide a card by the configured policy; an accepted card on a port starts it."""
        reply = card_reply(self.options, swipe)
        self.orders.fire(events.card_swipe(link.device_id, swipe, reply, timestamp=link.last_seen))
        if starts_charging(swipe, reply):
            # Not eagerly: the reply must reach the station before the start command.
            self.entry.async_create_background_task(
                self.hass,
                async_card_start(
                    self.orders, link.device_id, swipe.port + 1, swipe.card_hex, self.options.charge
                ),
                f"{DOMAIN} card start {link.device_id}",
                eager_start=False,
            )
        return reply

    # -- carrying out the tracker's effects ----------------------------------------------

    @callback
    def _apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case Fire(event):
                    self.orders.fire(event)
                case Notify(station, ports, station_level):
                    self._notify(station, ports, station_level)
                case RefreshDevice(station):
                    self.devices.refresh(station)
                case Save(delay):
                    self._store.schedule_save(delay)
                case NewStation(station):
                    async_dispatcher_send(
                        self.hass, signal_new_station(self.entry.entry_id), station.station_id
                    )
                    self._fleet.check(len(self.stations))

    @callback
    def _notify(
        self, station: StationState, ports: Iterable[int] | None, station_level: bool
    ) -> None:
        """Tell the entities; whatever they are told about, the next store write includes."""
        self._store.mark_changed(station.station_id)
        self.site.changed()
        async_send_station_changed(
            self.hass, self.entry.entry_id, station, ports, station_level=station_level
        )

    @callback
    def _fire_now(self, event: events.Envelope) -> None:
        self.hass.bus.async_fire(EVENT_IOT_ZINX, event)

    def _frame_logged(self, *args: Any) -> None:
        self.orders.frame_logged(*args)

    # -- devices, removal and diagnostics ------------------------------------------------

    @property
    def device_infos(self) -> dict[str, DeviceInfo]:
        """The DeviceInfo of every station that has entities (see ``device_info``)."""
        return self.devices.infos

    def device_info(self, station_id: str) -> DeviceInfo:
        """The station's DeviceInfo for its entities: identifiers only, one per station."""
        return self.devices.device_info(station_id)

    @callback
    def async_remove_station(self, station_id: str) -> bool:
        """Forget an offline station (its device is being removed); False while online."""
        station = self.stations.get(station_id)
        if station is not None and station.online:
            return False
        self.stations.pop(station_id, None)
        self.devices.forget(station_id)
        delivered = (
            0.0
            if station is None
            else sum(port.lifetime_energy_kwh for port in station.ports.values())
        )
        self._book.forget_station(station_id, delivered)
        self._store.mark_changed(station_id)
        self._store.schedule_save()
        self.site.changed()
        return True

    def diagnostics(self) -> dict[str, Any]:
        """Server counters and a summary of every station, for the diagnostics platform."""
        return {
            "server": {
                "host": self.server.config.host,
                "port": self.server.port,
                "running": self.server.running,
                "stats": self.server.stats.as_dict(),
            },
            "open_orders": len(self._book.orders),
            "recent_settlements": self._book.recent_settlements,
            "stations": {
                station_id: station.diagnostics()
                for station_id, station in sorted(self.stations.items())
            },
            # What get_settings / set_settings last read of each station, and when.
            "settings": self.settings.diagnostics(),
        }
