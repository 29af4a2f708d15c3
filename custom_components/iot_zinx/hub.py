"""The hub: binds the DNY server to Home Assistant.

``IotZinxHub`` is the server's ``ServerObserver``. It keeps the state of every station and
port (``models.py``), the device registry, the orders and the lifetime energy (persisted
by ``store.py`` so that a settlement arriving after a restart is still attributed to its
order), fires the docs/events.md envelopes (``events.py``) on the bus as ``iot_zinx_event``,
and tells the entities through dispatcher signals. Commands from the entities and actions
come back through ``async_start_charging`` and its siblings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
import logging
import time
from typing import TYPE_CHECKING, Any, Final
import uuid

from homeassistant.const import CONF_HOST, CONF_PORT, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util

from . import events
from .const import (
    ADMISSION_ALLOW_LIST,
    CARD_POLICY_ACCEPT_ALL,
    CARD_POLICY_ALLOW_LIST,
    CONF_ADMISSION,
    CONF_CARD_ALLOW_LIST,
    CONF_CARD_POLICY,
    CONF_CHARGE_ENERGY,
    CONF_CHARGE_MINUTES,
    CONF_CHARGE_MODE,
    CONF_ELECTRICITY_PRICE,
    CONF_HEARTBEAT_TIMEOUT,
    CONF_SERVICE_PRICE,
    CONF_STATION_ALLOW_LIST,
    DEFAULT_CARD_POLICY,
    DEFAULT_CHARGE_ENERGY,
    DEFAULT_CHARGE_MINUTES,
    DEFAULT_CHARGE_MODE,
    DEFAULT_ELECTRICITY_PRICE,
    DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_SERVICE_PRICE,
    DOMAIN,
    EVENT_IOT_ZINX,
    ISSUE_MANY_PORT_ENTITIES,
    MANUFACTURER,
    MANY_STATIONS_FOR_ALL_PORT_ENTITIES,
    PORT_ENTITIES_ALL,
    signal_new_station,
    signal_port_update,
    signal_station_ports,
    signal_station_update,
)
from .entity import port_entity_level
from .models import ChargeMode, Order, PortState, StationState
from .protocol import codes
from .protocol.errors import CommandError, CommandTimeoutError, StationRefusedError
from .protocol.frame import format_physical_id
from .protocol.messages import (
    ORDER_NO_SIZE,
    Alarm,
    CardReply,
    CardSwipe,
    ChargeControl,
    ChargeControlReply,
    CommandResult,
    Heartbeat,
    HostHeartbeat,
    HostReboot,
    LegacyHeartbeat,
    Limits,
    ModifyCharge,
    PowerHeartbeat,
    QueryStatus,
    Reboot,
    Register,
    Settlement,
    SubStationVersions,
    UpstreamMessage,
    order_no_text,
    parse_order_no,
)
from .protocol.server import DnyServer, OfflineReason, ServerConfig, StationLink
from .site_totals import SiteTotalsTracker
from .store import HubStore, OrderBook, async_remove_storage, order_key

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from .protocol.frame import Frame
    from .protocol.messages import StationReply

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

_CMD_CHARGE_CONTROL: Final = ChargeControl.COMMAND
_ACTION_STOP: Final = 0
_ACTION_START: Final = 1
# 0x02: port 0xFF asks for the balance only (docs/protocol.md 3).
_PORT_ANY: Final = 0xFF
_NO_ORDER: Final = bytes(ORDER_NO_SIZE)
# 0x06 status values that are port statuses; the rest is noise to ignore (docs/protocol.md 3).
_POWER_STATUSES: Final = frozenset(int(status) for status in codes.PowerStatus)
# Result codes of 0x8A modify-charging and 0x85 limits (docs/protocol.md 4), for error messages.
_MODIFY_RESULTS: Final = {
    1: "port not charging",
    2: "below what already ran",
    3: "bad mode or port",
}
_LIMITS_RESULTS: Final = {1: "beyond the station's maximum"}


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    """What a start or stop command achieved."""

    order_number: str
    response_code: int
    status_desc: str


class NoActiveOrderError(CommandError):
    """A stop for a port without a known order: the station ignores a stop without it."""

    def __init__(self, device_id: str, port: int) -> None:
        super().__init__(f"port {port} of station {device_id} has no running order to stop")
        self.device_id = device_id
        self.port = port


class IotZinxHub:
    """The stations of one config entry (one listening port) and everything about them."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Prepare the server; nothing listens until ``async_start``."""
        self.hass = hass
        self.entry = entry
        self.stations: dict[str, StationState] = {}
        self.server = DnyServer(self._server_config(), self, frame_logger=self._frame_logged)
        self._book = OrderBook(self.stations)
        self._fleet_checked = False
        self._fleet_issue_raised = False
        # The host gateway of each connection that has one (conn_id -> device id).
        self._host_of_conn: dict[int, str] = {}
        self._store = HubStore(hass, entry.entry_id, self._book, self.stations)
        # The site's totals: tracked only while the site's entities exist (sensor.py).
        self.site = SiteTotalsTracker(
            hass, entry.entry_id, self.stations, lambda: self._book.removed_kwh
        )
        # Orders of start commands waiting for the station's reply.
        self._pending: dict[str, Order] = {}
        # While start commands to a station wait for their reply, its events wait too
        # (device_id -> events, and how many starts are out), so that charging_start (or
        # charging_failed) comes before the heartbeat a station sends right after accepting
        # (docs/events.md, the session example). The state itself is updated at once.
        self._held: dict[str, list[events.Envelope]] = {}
        self._starting: dict[str, int] = {}
        # Message id of the last 0x82 sent to each physical id (the events name it).
        self._charge_message_ids: dict[int, int] = {}
        self._unsub_stop: Callable[[], None] | None = None
        self._stopped = False
        # One DeviceInfo per station, shared by its entities (device_info): a 10-port station
        # with every port entity would otherwise hold ninety identical ones.
        self.device_infos: dict[str, DeviceInfo] = {}

    # -- life cycle ----------------------------------------------------------------------

    def _server_config(self) -> ServerConfig:
        options = self.entry.options
        admit: Callable[[str], bool] | None = None
        if options.get(CONF_ADMISSION) == ADMISSION_ALLOW_LIST:
            admit = frozenset(
                device_id.upper() for device_id in options.get(CONF_STATION_ALLOW_LIST, [])
            ).__contains__
        return ServerConfig(
            host=self.entry.data[CONF_HOST],
            port=self.entry.data[CONF_PORT],
            heartbeat_timeout=float(options.get(CONF_HEARTBEAT_TIMEOUT, DEFAULT_HEARTBEAT_TIMEOUT)),
            reply_timeout=REPLY_TIMEOUT,
            command_spacing=COMMAND_SPACING,
            admit=admit,
        )

    async def async_start(self) -> None:
        """Load the persisted orders and energy, then listen; ``OSError`` if it cannot bind."""
        await self._store.async_load()
        self._check_fleet_size()
        await self.server.start()
        self._stopped = False
        self._unsub_stop = self.hass.bus.async_listen(
            EVENT_HOMEASSISTANT_STOP, self._async_hass_stopping
        )

    async def _async_hass_stopping(self, _event: Event) -> None:
        # Config entries are not unloaded when Home Assistant stops, but the stations
        # should still go offline with "system_shutdown" and the orders be saved.
        self._unsub_stop = None
        await self.async_stop()

    async def async_stop(self) -> None:
        """Close every connection (stations go offline: system_shutdown) and save."""
        if self._unsub_stop is not None:
            self._unsub_stop()
            self._unsub_stop = None
        if self._stopped:
            return
        self._stopped = True
        await self.server.stop()
        await self._store.async_save(final=True)

    # -- ServerObserver ------------------------------------------------------------------

    @callback
    def station_online(self, link: StationLink) -> None:
        """A physical id sent its first frame on a connection."""
        station, created = self._station(link.device_id, link.physical_id)
        if station.offline_reason is not None:
            # Logged once when it went away and once when it is back (not for a newcomer).
            _LOGGER.info("Station %s is back online from %s", link.device_id, link.remote_addr)
        station.online = True
        station.conn_id = link.conn_id
        station.remote_addr = link.remote_addr
        station.connected_at = dt_util.utc_from_timestamp(link.connected_at)
        station.offline_reason = None
        if link.iccid is not None:
            station.iccid = link.iccid
        if station.is_host:
            self._host_of_conn[link.conn_id] = station.device_id
        self._find_host(station)
        self._update_device(station)
        if station.is_host:
            # Sub-stations that talked before their host get their gateway now.
            for other in self.stations.values():
                if other.online and not other.is_host and other.conn_id == station.conn_id:
                    self._set_host(other, station.device_id)
        if created:
            async_dispatcher_send(
                self.hass, signal_new_station(self.entry.entry_id), station.device_id
            )
            self._check_fleet_size()
        self._changed(station)
        self._fire(events.device_online(link, station, timestamp=link.connected_at))

    @callback
    def station_offline(self, link: StationLink, reason: OfflineReason) -> None:
        """The link ended."""
        if (station := self.stations.get(link.device_id)) is not None:
            if station.online:
                _LOGGER.info("Station %s is offline (%s)", link.device_id, reason)
            station.online = False
            station.offline_reason = str(reason)
            self._changed(station)
        self._fire(events.device_offline(link, reason))

    @callback
    def message_received(self, link: StationLink, message: UpstreamMessage) -> None:
        """Update the state from one upstream message and fire its events."""
        station = self.stations.get(link.device_id)
        if station is None:
            # Its station_online failed (the server logs observer errors): add it now.
            self.station_online(link)
            station = self.stations[link.device_id]
        iccid_changed = link.iccid is not None and station.iccid != link.iccid
        if iccid_changed:
            station.iccid = link.iccid
        now = link.last_seen
        # Which entities to write: the station's own and every port's (None), or only
        # some ports' (a 0x06 touches one port, a heartbeat the ports whose status moved).
        ports: Iterable[int] | None = None
        station_level = True
        match message:
            case Register():
                self._on_register(station, link, message)
            case Heartbeat() | LegacyHeartbeat():
                ports = self._on_heartbeat(station, link, message)
            case PowerHeartbeat():
                self._on_power(station, message, now)
                ports, station_level = (message.port + 1,), iccid_changed
            case Settlement():
                if not self._on_settlement(station, message, now):
                    return
                ports, station_level = (message.port + 1,), iccid_changed
            case HostHeartbeat():
                self._on_host_heartbeat(station, link, message)
                ports = ()
            case SubStationVersions():
                for entry in message.entries:
                    sub = self.stations.get(format_physical_id(entry.physical_id))
                    if sub is not None:
                        self._set_host(sub, station.device_id)
            case Alarm():
                self._fire(events.device_alarm(station.device_id, message, timestamp=now))
                return
            case _:
                # Time requests, upgrade requests, locker frames: nothing the hub shows.
                if iccid_changed:
                    self._changed(station, ())
                return
        self._changed(station, ports, station_level=station_level)

    async def settlement_received(self, link: StationLink, settlement: Settlement) -> None:
        """Process a settlement (once, however often it is resent) and store it.

        The server acknowledges it only when this returns, and the station then forgets it:
        the store is written first, so a crash cannot lose a settlement.
        """
        self.message_received(link, settlement)
        await self._store.async_save()

    async def card_swiped(self, link: StationLink, swipe: CardSwipe) -> CardReply:
        """Decide a card by the configured policy; an accepted card on a port starts it."""
        options = self.entry.options
        policy = options.get(CONF_CARD_POLICY, DEFAULT_CARD_POLICY)
        card = swipe.card_hex
        if policy == CARD_POLICY_ACCEPT_ALL:
            accepted = True
        elif policy == CARD_POLICY_ALLOW_LIST:
            accepted = card in {item.upper() for item in options.get(CONF_CARD_ALLOW_LIST, [])}
        else:
            accepted = False
        mode = ChargeMode(options.get(CONF_CHARGE_MODE, DEFAULT_CHARGE_MODE))
        reply = CardReply(
            card_id=swipe.card_id,
            # Table 7.4, the usual server rule: a known card is 0, anything else 1.
            account_status=(
                codes.CardAccountStatus.NORMAL
                if accepted
                else codes.CardAccountStatus.NOT_REGISTERED
            ),
            rate_mode=codes.RateMode.ENERGY if mode is ChargeMode.ENERGY else codes.RateMode.TIME,
            balance_or_expiry=0,
            port=swipe.port,
        )
        self._fire(events.card_swipe(link.device_id, swipe, reply, timestamp=link.last_seen))
        if accepted and swipe.port != _PORT_ANY:
            # docs/protocol.md 3, 0x02: after a positive reply the server starts with 0x82. Not
            # eagerly: the reply must reach the station before the start command.
            self.entry.async_create_background_task(
                self.hass,
                self._async_card_start(link.device_id, swipe.port + 1, card),
                f"{DOMAIN} card start {link.device_id}",
                eager_start=False,
            )
        return reply

    async def _async_card_start(self, device_id: str, port: int, card: str) -> None:
        options = self.entry.options
        try:
            await self.async_start_charging(
                device_id,
                port,
                mode=ChargeMode(options.get(CONF_CHARGE_MODE, DEFAULT_CHARGE_MODE)),
                minutes=int(options.get(CONF_CHARGE_MINUTES, DEFAULT_CHARGE_MINUTES)),
                energy_kwh=float(options.get(CONF_CHARGE_ENERGY, DEFAULT_CHARGE_ENERGY)),
            )
        except CommandError as err:
            # charging_failed was fired already when the station answered or timed out.
            _LOGGER.warning("Card %s could not start port %s of %s: %s", card, port, device_id, err)

    # -- message handlers ----------------------------------------------------------------

    def _on_register(self, station: StationState, link: StationLink, message: Register) -> None:
        before = (station.firmware, station.device_type, station.port_count, station.work_mode)
        station.firmware = message.firmware
        station.device_type = message.device_type
        station.work_mode = message.work_mode
        self._set_port_count(station, message.port_count)
        if before != (message.firmware, message.device_type, message.port_count, message.work_mode):
            self._update_device(station)
            self._store.schedule_save()
        self._fire(events.device_register(link, message, timestamp=link.last_seen))

    def _on_heartbeat(
        self, station: StationState, link: StationLink, message: Heartbeat | LegacyHeartbeat
    ) -> list[int] | None:
        """The ports whose state changed (None: maybe every port)."""
        now = link.last_seen
        count_before = station.port_count
        station.voltage_v = message.voltage_v
        station.temperature_c = message.temperature_c
        station.signal = message.signal
        station.last_heartbeat = dt_util.utc_from_timestamp(link.last_heartbeat or now)
        self._set_port_count(station, message.port_count)
        if isinstance(message, LegacyHeartbeat):
            if (station.firmware, station.device_type) != (message.firmware, message.device_type):
                station.firmware = message.firmware
                station.device_type = message.device_type
                self._update_device(station)
            if message.work_mode is not None:
                station.work_mode = message.work_mode
            for index, power in enumerate(message.power_w):
                station.port(index + 1).power_w = power
        self._fire(events.device_heartbeat(link, message, timestamp=now))
        changed = [
            index + 1
            for index, status in enumerate(message.port_statuses)
            if self._set_port_status(station, index + 1, status, now)
        ]
        if isinstance(message, LegacyHeartbeat) or station.port_count != count_before:
            return None
        return changed

    def _on_power(self, station: StationState, message: PowerHeartbeat, now: float) -> None:
        number = message.port + 1
        port = station.port(number)
        if message.status in _POWER_STATUSES:
            self._set_port_status(station, number, message.status, now)
        port.power_w = message.power_w
        port.current_a = message.current_a
        port.voltage_v = message.voltage_v
        port.session_energy_kwh = message.energy_kwh
        port.session_duration_s = message.duration_s
        if message.port_temp_raw is not None:
            port.port_temperature_c = message.port_temp_c
        # State first, events after: an automation triggered by the event reads the new
        # lifetime energy.
        order = self._order_of_power(station, port, message, now)
        if order is not None:
            order.energy_kwh = message.energy_kwh
            self._count_lifetime(station, port)
            self._store.schedule_save()
        device_id = station.device_id
        self._fire(events.power_heartbeat(device_id, message, timestamp=now))
        if order is not None:
            self._fire(events.charging_power(device_id, message, order, timestamp=now))

    def _order_of_power(
        self, station: StationState, port: PortState, message: PowerHeartbeat, now: float
    ) -> Order | None:
        """The order a 0x06 reports on, adopting one the station started by itself."""
        order_no = message.order_no
        if order_no == _NO_ORDER:
            return None
        key = order_key(station.device_id, order_no)
        if (order := self._book.orders.get(key)) is None:
            if self._book.is_ended(key):
                return None  # a late report of a settled order
            order = self._pending.get(key)
            if order is None:
                # Started by a card, a verification code or an earlier gateway.
                order = Order(
                    order_number=order_no_text(order_no),
                    order_no=order_no,
                    port=port.number,
                    started_at=now - message.duration_s,
                    start_mode=message.start_mode,
                )
            elif not order.started_at:
                # The station reports an order whose start reply has not come back yet.
                order.started_at = now - message.duration_s
            self._book.open(key, order)
            # An open order is what a settlement after a crash needs: store it at once.
            self._store.schedule_save(0)
        port.order = order
        return order

    def _on_settlement(self, station: StationState, message: Settlement, now: float) -> bool:
        """Process a settlement once; False when it is a resend (already processed)."""
        device_id = station.device_id
        settlement_id = events.settlement_id(device_id, message)
        if not self._book.first_settlement(settlement_id):
            _LOGGER.debug("Settlement %s of %s was resent", settlement_id, device_id)
            return False
        # An order is ended once: a second settlement of it with other figures is still a
        # settlement, but neither a second charging_end nor more energy. Without an order
        # number, each settlement stands for its own order.
        key = (
            settlement_id
            if message.order_no == _NO_ORDER
            else order_key(device_id, message.order_no)
        )
        order = self._book.orders.pop(key, None) or self._pending.get(key)
        end = not self._book.is_ended(key) and (order is None or not order.charging_end_sent)
        number = message.port + 1
        port = station.port(number)
        if end:
            self._book.end(key)
            if order is not None:
                order.charging_end_sent = True
            # The settled energy replaces the order's last 0x06 figure in the lifetime total.
            self._book.add_settled(device_id, number, message.energy_kwh)
        if port.order is not None and port.order.order_no == message.order_no:
            port.order = None
            port.session_energy_kwh = message.energy_kwh
            port.session_duration_s = message.duration_s
            port.stop_drawing()
        self._count_lifetime(station, port)
        self._store.schedule_save()
        # State first, events after (see _on_power).
        if end:
            self._fire(events.charging_end(device_id, message, order, timestamp=now))
        options = self.entry.options
        self._fire(
            events.settlement(
                device_id,
                message,
                order,
                electricity_price=float(
                    options.get(CONF_ELECTRICITY_PRICE, DEFAULT_ELECTRICITY_PRICE)
                ),
                service_price=float(options.get(CONF_SERVICE_PRICE, DEFAULT_SERVICE_PRICE)),
                timestamp=now,
            )
        )
        return True

    def _on_host_heartbeat(
        self, station: StationState, link: StationLink, message: HostHeartbeat
    ) -> None:
        station.signal = message.signal
        station.last_heartbeat = dt_util.utc_from_timestamp(link.last_heartbeat or link.last_seen)
        if message.iccid:
            station.iccid = message.iccid
        if station.firmware != message.firmware:
            station.firmware = message.firmware
            self._update_device(station)
        self._fire(events.host_heartbeat(link, message, timestamp=link.last_seen))

    # -- state helpers -------------------------------------------------------------------

    @callback
    def _check_fleet_size(self) -> None:
        """Suggest fewer port entities (a repair issue) once the fleet is large.

        Raised once per start when the stations outgrow what every port entity allows;
        removed at the next start once the option (or the fleet) no longer calls for it.
        """
        issue_id = f"{ISSUE_MANY_PORT_ENTITIES}_{self.entry.entry_id}"
        if (
            port_entity_level(self.entry) != PORT_ENTITIES_ALL
            or len(self.stations) <= MANY_STATIONS_FOR_ALL_PORT_ENTITIES
        ):
            if not self._fleet_checked:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
                self._fleet_checked = True
            return
        if self._fleet_issue_raised:
            return
        self._fleet_issue_raised = True
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_MANY_PORT_ENTITIES,
            translation_placeholders={
                "stations": str(MANY_STATIONS_FOR_ALL_PORT_ENTITIES),
                "title": self.entry.title,
            },
        )

    def _station(self, device_id: str, physical_id: int) -> tuple[StationState, bool]:
        """The station's state, created on first sight; True when it was created."""
        if (station := self.stations.get(device_id)) is not None:
            return station, False
        station = self.stations[device_id] = StationState(device_id, physical_id)
        return station, True

    @staticmethod
    def _set_port_count(station: StationState, count: int) -> None:
        station.port_count = count
        for number in range(1, count + 1):
            station.port(number)

    def _set_port_status(self, station: StationState, number: int, status: int, now: float) -> bool:
        """Record a port's status; a change from a known one fires port_heartbeat.

        True when the port's state changed (its status, or its power zeroed).
        """
        port = station.port(number)
        previous = port.status
        port.status = status
        changed = previous != status
        if not codes.is_charging_status(status) and port.power_w:
            # A port that does not charge draws nothing; its last 0x06 figures are stale.
            changed = True
            port.stop_drawing()
        if previous is not None and previous != status:
            self._fire(
                events.port_heartbeat(
                    station.device_id,
                    number,
                    status,
                    previous,
                    voltage_v=station.voltage_v,
                    temperature_c=station.temperature_c,
                    timestamp=now,
                )
            )
        return changed

    def _count_lifetime(self, station: StationState, port: PortState) -> None:
        """Lifetime energy: the settled orders plus the running one, never decreasing."""
        total = self._book.settled_kwh.get((station.device_id, port.number), 0.0)
        if port.order is not None:
            total += port.order.energy_kwh
        port.lifetime_energy_kwh = max(port.lifetime_energy_kwh, round(total, 2))
        port.lifetime_confirmed = True

    def _find_host(self, station: StationState) -> None:
        """A sub-station shares its host gateway's connection (docs/protocol.md 1)."""
        if station.is_host or station.conn_id is None:
            return
        # By connection, not by a walk over every station: a connect storm of 3,000
        # stations would otherwise cost 9 million comparisons.
        host = self.stations.get(self._host_of_conn.get(station.conn_id, ""))
        if host is not None and host.online and host.conn_id == station.conn_id:
            station.host_device_id = host.device_id

    def _set_host(self, station: StationState, host_device_id: str) -> None:
        if station.host_device_id != host_device_id:
            station.host_device_id = host_device_id
            self._update_device(station)
            self._store.schedule_save()
            self._changed(station)

    @callback
    def _update_device(self, station: StationState) -> None:
        """Create or refresh the station's device in the registry."""
        registry = dr.async_get(self.hass)
        details: dict[str, Any] = {}
        if station.firmware_version is not None:
            details["sw_version"] = station.firmware_version
        if station.host_device_id is not None and (
            host := registry.async_get_device_by_identifier(
                (DOMAIN, station.host_device_id), self.entry.entry_id
            )
        ):
            details["via_device_id"] = host.id
        registry.async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, station.device_id)},
            manufacturer=MANUFACTURER,
            model=station.model,
            name=f"AP3000 {station.device_id}",
            serial_number=str(station.qr_number),
            **details,
        )

    @callback
    def _changed(
        self,
        station: StationState,
        ports: Iterable[int] | None = None,
        *,
        station_level: bool = True,
    ) -> None:
        """Tell the entities: the station's own (``station_level``) and those of ``ports``.

        ``ports=None`` means every port (online, offline, register: availability or the
        port count may have changed).
        """
        entry_id = self.entry.entry_id
        device_id = station.device_id
        # Whatever the entities are told about, the next store write includes.
        self._store.mark_changed(device_id)
        self.site.changed()
        if station_level:
            async_dispatcher_send(self.hass, signal_station_update(entry_id, device_id))
        numbers = list(station.ports) if ports is None else list(ports)
        for number in numbers:
            async_dispatcher_send(self.hass, signal_port_update(entry_id, device_id, number))
        if numbers:
            async_dispatcher_send(self.hass, signal_station_ports(entry_id, device_id))

    @callback
    def _fire(self, event: events.Envelope) -> None:
        """Fire an envelope, unless its station waits for a start command's reply."""
        if (held := self._held.get(event["device_id"])) is not None:
            held.append(event)
        else:
            self._fire_now(event)

    @callback
    def _fire_now(self, event: events.Envelope) -> None:
        self.hass.bus.async_fire(EVENT_IOT_ZINX, event)

    def _frame_logged(
        self, direction: str, link: StationLink | None, frame: Frame, _addr: str
    ) -> None:
        # The server does not hand back the message id of a command it sent, and the
        # charging events name it (docs/events.md): remember it as it goes out.
        if direction == "out" and frame.command == _CMD_CHARGE_CONTROL:
            self._charge_message_ids[frame.physical_id] = frame.message_id

    # -- commands ------------------------------------------------------------------------

    def _port_number(self, device_id: str, port: int) -> int:
        station = self.stations.get(device_id)
        limit = station.port_count if station is not None and station.port_count else 16
        if not 1 <= port <= limit:
            raise ValueError(f"station {device_id} has no port {port} (1..{limit})")
        return port

    async def async_start_charging(
        self,
        device_id: str,
        port: int,
        *,
        mode: ChargeMode,
        minutes: int | None = None,
        energy_kwh: float | None = None,
        order_number: str | None = None,
        max_power_w: float | None = None,
    ) -> ChargeOutcome:
        """Start charging ``port`` (1-based); ``StationRefusedError`` when refused."""
        self._port_number(device_id, port)
        if mode is ChargeMode.ENERGY:
            if energy_kwh is None:
                raise ValueError("energy mode needs energy_kwh")
            rate_mode, value = codes.RateMode.ENERGY, round(energy_kwh * 100)
        elif mode is ChargeMode.TIME:
            if minutes is None:
                raise ValueError("time mode needs minutes")
            rate_mode, value = codes.RateMode.TIME, minutes * 60
        else:
            # Time mode with value 0 charges until full (docs/protocol.md 4, 0x82).
            rate_mode, value = codes.RateMode.TIME, 0
        if order_number is None:
            order_no = uuid.uuid4().bytes
            order_number = order_no_text(order_no)
        else:
            order_no = parse_order_no(order_number)
        command = ChargeControl(
            rate_mode=rate_mode,
            balance_or_expiry=0,
            port=port - 1,
            action=_ACTION_START,
            value=value,
            order_no=order_no,
            max_duration_s=0,
            max_power_w=max_power_w or 0.0,
        )
        order = Order(
            order_number=order_number,
            order_no=order_no,
            port=port,
            started_at=0.0,
            start_mode=int(codes.StartMode.ONLINE),
        )
        key = order_key(device_id, order_no)
        self._pending[key] = order
        self._held.setdefault(device_id, [])
        self._starting[device_id] = self._starting.get(device_id, 0) + 1
        try:
            return await self._async_send_start(device_id, command, order)
        finally:
            del self._pending[key]
            self._starting[device_id] -= 1
            if not self._starting[device_id]:
                del self._starting[device_id]
                for event in self._held.pop(device_id):
                    self._fire_now(event)

    async def _async_send_start(
        self, device_id: str, command: ChargeControl, order: Order
    ) -> ChargeOutcome:
        # The link as the command leaves: charging_start names the connection that carried
        # it, even if the station drops it right after answering.
        link = self.server.link(device_id)
        try:
            reply = await self.server.request(device_id, command)
        except CommandTimeoutError as err:
            self._fire_now(
                events.charging_failed(
                    device_id,
                    order.port,
                    order_number=order.order_number,
                    response_code=int(codes.ChargeResult.NO_RESPONSE),
                    message_id=err.message_id,
                )
            )
            raise
        code = self._charge_result(reply)
        desc = codes.describe(codes.ChargeResult, code)
        station = self.stations[device_id]
        message_id = self._charge_message_ids.get(station.physical_id, 0)
        if code != codes.ChargeResult.DONE:
            self._fire_now(
                events.charging_failed(
                    device_id,
                    order.port,
                    order_number=order.order_number,
                    response_code=code,
                    message_id=message_id,
                )
            )
            raise StationRefusedError(device_id, _CMD_CHARGE_CONTROL, code, desc)
        now = time.time()
        if not order.started_at:
            order.started_at = now
        self._book.open(order_key(device_id, order.order_no), order)
        port = station.port(order.port)
        if port.order is not order:
            port.order = order
            port.session_energy_kwh = 0.0
            port.session_duration_s = 0
        # An open order is what a settlement after a crash needs: store it at once.
        self._store.schedule_save(0)
        self._changed(station, (order.port,), station_level=False)
        if link is not None:
            self._fire_now(events.charging_start(link, order, message_id=message_id, timestamp=now))
        return ChargeOutcome(order.order_number, code, desc)

    @staticmethod
    def _charge_result(reply: StationReply | None) -> int:
        if isinstance(reply, ChargeControlReply):
            return reply.result
        # A station that answers 0x82 with something undecodable has not done it.
        return int(codes.ChargeResult.NO_RESPONSE)

    async def async_stop_charging(self, device_id: str, port: int) -> ChargeOutcome:
        """Stop the running order of ``port``; its settlement follows (0x03)."""
        self._port_number(device_id, port)
        station = self.stations.get(device_id)
        state = None if station is None else station.ports.get(port)
        if state is None or state.order is None:
            raise NoActiveOrderError(device_id, port)
        order = state.order
        reply = await self.server.request(
            device_id,
            ChargeControl(
                rate_mode=codes.RateMode.TIME,
                balance_or_expiry=0,
                port=port - 1,
                action=_ACTION_STOP,
                value=0,
                # docs/protocol.md 4: a stop without the running order's number is ignored.
                order_no=order.order_no,
                max_duration_s=0,
                max_power_w=0.0,
            ),
        )
        code = self._charge_result(reply)
        desc = codes.describe(codes.ChargeResult, code)
        if code != codes.ChargeResult.DONE:
            raise StationRefusedError(device_id, _CMD_CHARGE_CONTROL, code, desc)
        return ChargeOutcome(order.order_number, code, desc)

    async def async_modify_charging(
        self, device_id: str, port: int, *, mode: int, value: int
    ) -> int:
        """Change the running order's limit (0x8A: seconds, or 0.01 kWh in mode 2)."""
        self._port_number(device_id, port)
        reply = await self.server.request(device_id, ModifyCharge(mode, port - 1, value))
        return self._checked_result(device_id, ModifyCharge.COMMAND, reply, _MODIFY_RESULTS)

    async def async_query_status(self, device_id: str) -> None:
        """Ask the station to report (0x81); it answers with 0x20 and a heartbeat."""
        await self.server.request(device_id, QueryStatus(), expect_reply=False)

    async def async_reboot(self, device_id: str) -> None:
        """Reboot a station (0x87) or a host gateway (0x31).

        The station may restart before it replies (docs/protocol.md 4, 0x87), so no reply is
        awaited.
        """
        station = self.stations.get(device_id)
        command = HostReboot() if station is not None and station.is_host else Reboot()
        await self.server.request(device_id, command, expect_reply=False)

    async def async_set_limits(
        self,
        device_id: str,
        *,
        max_duration_s: int,
        overload_power_w: float,
        over_voltage_v: float,
        under_voltage_v: float,
    ) -> int:
        """Set the station's limits (0x85); refused (1) beyond the station's maximum."""
        reply = await self.server.request(
            device_id, Limits(max_duration_s, overload_power_w, over_voltage_v, under_voltage_v)
        )
        return self._checked_result(device_id, Limits.COMMAND, reply, _LIMITS_RESULTS)

    @staticmethod
    def _checked_result(
        device_id: str, command: int, reply: StationReply | None, meanings: dict[int, str]
    ) -> int:
        code = reply.result if isinstance(reply, CommandResult) else 0xFF
        if code != 0:
            raise StationRefusedError(
                device_id, command, code, meanings.get(code, f"result {code}")
            )
        return code

    def device_info(self, device_id: str) -> DeviceInfo:
        """The station's DeviceInfo for its entities: identifiers only, one per station.

        The hub owns the device's name, model and firmware in the registry and updates them
        when a station re-registers; Home Assistant only reads this, so it can be shared.
        """
        if (info := self.device_infos.get(device_id)) is None:
            info = self.device_infos[device_id] = DeviceInfo(identifiers={(DOMAIN, device_id)})
        return info

    # -- removal and diagnostics ---------------------------------------------------------

    @callback
    def async_remove_station(self, device_id: str) -> bool:
        """Forget an offline station (its device is being removed); False while online."""
        station = self.stations.get(device_id)
        if station is not None and station.online:
            return False
        self.stations.pop(device_id, None)
        self.device_infos.pop(device_id, None)
        delivered = (
            0.0
            if station is None
            else sum(port.lifetime_energy_kwh for port in station.ports.values())
        )
        self._book.forget_station(device_id, delivered)
        self._store.mark_changed(device_id)
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
                device_id: {
                    "online": station.online,
                    "model": station.model,
                    "firmware": station.firmware_version,
                    "device_type": station.device_type,
                    "work_mode": station.work_mode,
                    "port_count": station.port_count,
                    "host_device_id": station.host_device_id,
                    "remote_addr": station.remote_addr,
                    "iccid": station.iccid,
                    "offline_reason": station.offline_reason,
                    "last_heartbeat": (
                        None
                        if station.last_heartbeat is None
                        else station.last_heartbeat.isoformat()
                    ),
                    "ports": {
                        number: {
                            "status": port.status,
                            "power_w": port.power_w,
                            "lifetime_energy_kwh": port.lifetime_energy_kwh,
                            "order": None if port.order is None else port.order.order_number,
                        }
                        for number, port in sorted(station.ports.items())
                    },
                }
                for device_id, station in sorted(self.stations.items())
            },
        }
