"""What the stations say, turned into state changes and event envelopes; no ``hass``.

``StationTracker`` keeps the state of every station and port (``models.py``) and the order
book (``store.OrderBook``). Each call takes one thing the server observed (a station online,
offline, one upstream message) and returns the effects (effects.py) in the order they must
happen; the hub carries them out. It needs no running Home Assistant (only its time helpers,
as events.py does), so the rules of the protocol and of docs/events.md are tested on their
own (tests/test_tracker.py).
"""

from __future__ import annotations

import logging
from typing import Final

from homeassistant.util import dt as dt_util

from . import events
from .effects import Effect, Fire, NewStation, Notify, RefreshDevice, Save
from .models import Order, PortState, StationState
from .protocol import codes
from .protocol.frame import format_physical_id
from .protocol.messages import (
    ORDER_NO_SIZE,
    Alarm,
    Heartbeat,
    HostHeartbeat,
    LegacyHeartbeat,
    PowerHeartbeat,
    Register,
    Settlement,
    SubStationVersions,
    UpstreamMessage,
    order_no_text,
)
from .protocol.server import OfflineReason, StationLink
from .store import OrderBook, order_key

_LOGGER = logging.getLogger(__name__)

NO_ORDER: Final = bytes(ORDER_NO_SIZE)
# 0x06 status values that are port statuses; the rest is noise to ignore (docs/protocol.md 3).
_POWER_STATUSES: Final = frozenset(int(status) for status in codes.PowerStatus)


class StationTracker:
    """The state of one server's stations, updated from what the server observes."""

    def __init__(
        self,
        stations: dict[str, StationState],
        book: OrderBook,
        pending: dict[str, Order],
        *,
        electricity_price: float,
        service_price: float,
    ) -> None:
        """Track ``stations``; ``pending`` are the orders of start commands in flight."""
        self.stations = stations
        self.book = book
        self._pending = pending
        self._electricity_price = electricity_price
        self._service_price = service_price
        # The host gateway of each connection that has one (conn_id -> station id).
        self._host_of_conn: dict[int, str] = {}

    def online(self, link: StationLink) -> list[Effect]:
        """A physical id sent its first frame on a connection."""
        effects: list[Effect] = []
        station = self.stations.get(link.device_id)
        created = station is None
        if station is None:
            station = self.stations[link.device_id] = StationState(link.device_id, link.physical_id)
        elif station.offline_reason is not None:
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
            self._host_of_conn[link.conn_id] = station.station_id
        self._find_host(station)
        effects.append(RefreshDevice(station))
        if station.is_host:
            # Sub-stations that talked before their host get their gateway now.
            for other in self.stations.values():
                if other.online and not other.is_host and other.conn_id == station.conn_id:
                    self._set_host(other, station.station_id, effects)
        if created:
            effects.append(NewStation(station))
        effects.append(Notify(station))
        effects.append(Fire(events.device_online(link, station, timestamp=link.connected_at)))
        return effects

    def offline(self, link: StationLink, reason: OfflineReason) -> list[Effect]:
        """The link ended."""
        effects: list[Effect] = []
        if (station := self.stations.get(link.device_id)) is not None:
            if station.online:
                _LOGGER.info("Station %s is offline (%s)", link.device_id, reason)
            station.online = False
            station.offline_reason = str(reason)
            effects.append(Notify(station))
        effects.append(Fire(events.device_offline(link, reason)))
        return effects

    def message(self, link: StationLink, message: UpstreamMessage) -> list[Effect]:
        """One upstream message of a station that is online (``online`` came first)."""
        station = self.stations[link.device_id]
        effects: list[Effect] = []
        iccid_changed = link.iccid is not None and station.iccid != link.iccid
        if iccid_changed:
            station.iccid = link.iccid
        now = link.last_seen
        # Which entities to write: the station's own and every port's (None), or only
        # some ports' (a 0x06 touches one port, a heartbeat the ports whose status moved).
        ports: tuple[int, ...] | None = None
        station_level = True
        match message:
            case Register():
                self._on_register(station, link, message, effects)
            case Heartbeat() | LegacyHeartbeat():
                ports = self._on_heartbeat(station, link, message, effects)
            case PowerHeartbeat():
                self._on_power(station, message, now, effects)
                ports, station_level = (message.port + 1,), iccid_changed
            case Settlement():
                if not self._on_settlement(station, message, now, effects):
                    return effects
                ports, station_level = (message.port + 1,), iccid_changed
            case HostHeartbeat():
                self._on_host_heartbeat(station, link, message, effects)
                ports = ()
            case SubStationVersions():
                for entry in message.entries:
                    sub = self.stations.get(format_physical_id(entry.physical_id))
                    if sub is not None:
                        self._set_host(sub, station.station_id, effects)
            case Alarm():
                effects.append(
                    Fire(events.device_alarm(station.station_id, message, timestamp=now))
                )
                return effects
            case _:
                # Time requests, upgrade requests, locker frames: nothing the hub shows.
                if iccid_changed:
                    effects.append(Notify(station, ()))
                return effects
        effects.append(Notify(station, ports, station_level))
        return effects

    # -- message handlers ----------------------------------------------------------------

    def _on_register(
        self, station: StationState, link: StationLink, message: Register, effects: list[Effect]
    ) -> None:
        before = (station.firmware, station.device_type, station.port_count, station.work_mode)
        station.firmware = message.firmware
        station.device_type = message.device_type
        station.work_mode = message.work_mode
        _set_port_count(station, message.port_count)
        if before != (message.firmware, message.device_type, message.port_count, message.work_mode):
            effects += (RefreshDevice(station), Save())
        effects.append(Fire(events.device_register(link, message, timestamp=link.last_seen)))

    def _on_heartbeat(
        self,
        station: StationState,
        link: StationLink,
        message: Heartbeat | LegacyHeartbeat,
        effects: list[Effect],
    ) -> tuple[int, ...] | None:
        """The ports whose state changed (None: maybe every port)."""
        now = link.last_seen
        count_before = station.port_count
        station.voltage_v = message.voltage_v
        station.temperature_c = message.temperature_c
        station.signal = message.signal
        station.last_heartbeat = dt_util.utc_from_timestamp(link.last_heartbeat or now)
        _set_port_count(station, message.port_count)
        if isinstance(message, LegacyHeartbeat):
            if (station.firmware, station.device_type) != (message.firmware, message.device_type):
                station.firmware = message.firmware
                station.device_type = message.device_type
                effects.append(RefreshDevice(station))
            if message.work_mode is not None:
                station.work_mode = message.work_mode
            for index, power in enumerate(message.power_w):
                station.port(index + 1).power_w = power
        effects.append(Fire(events.device_heartbeat(link, message, timestamp=now)))
        changed = tuple(
            index + 1
            for index, status in enumerate(message.port_statuses)
            if self._set_port_status(station, index + 1, status, now, effects)
        )
        if isinstance(message, LegacyHeartbeat) or station.port_count != count_before:
            return None
        return changed

    def _on_power(
        self, station: StationState, message: PowerHeartbeat, now: float, effects: list[Effect]
    ) -> None:
        number = message.port + 1
        port = station.port(number)
        if message.status in _POWER_STATUSES:
            self._set_port_status(station, number, message.status, now, effects)
        port.power_w = message.power_w
        port.current_a = message.current_a
        port.voltage_v = message.voltage_v
        port.session_energy_kwh = message.energy_kwh
        port.session_duration_s = message.duration_s
        if message.port_temp_raw is not None:
            port.port_temperature_c = message.port_temp_c
        # State first, events after: an automation triggered by the event reads the new
        # lifetime energy.
        order = self._order_of_power(station, port, message, now, effects)
        if order is not None:
            order.energy_kwh = message.energy_kwh
            self._count_lifetime(station, port)
            effects.append(Save())
        station_id = station.station_id
        effects.append(Fire(events.power_heartbeat(station_id, message, timestamp=now)))
        if order is not None:
            effects.append(Fire(events.charging_power(station_id, message, order, timestamp=now)))

    def _order_of_power(
        self,
        station: StationState,
        port: PortState,
        message: PowerHeartbeat,
        now: float,
        effects: list[Effect],
    ) -> Order | None:
        """The order a 0x06 reports on, adopting one the station started by itself."""
        order_no = message.order_no
        if order_no == NO_ORDER:
            return None
        key = order_key(station.station_id, order_no)
        if (order := self.book.orders.get(key)) is None:
            if self.book.is_ended(key):
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
            self.book.open(key, order)
            # An open order is what a settlement after a crash needs: store it at once.
            effects.append(Save(0))
        port.order = order
        return order

    def _on_settlement(
        self, station: StationState, message: Settlement, now: float, effects: list[Effect]
    ) -> bool:
        """Process a settlement once; False when it is a resend (already processed)."""
        station_id = station.station_id
        settlement_id = events.settlement_id(station_id, message)
        if not self.book.first_settlement(settlement_id):
            _LOGGER.debug("Settlement %s of %s was resent", settlement_id, station_id)
            return False
        # An order is ended once: a second settlement of it with other figures is still a
        # settlement, but neither a second charging_end nor more energy. Without an order
        # number, each settlement stands for its own order.
        key = (
            settlement_id
            if message.order_no == NO_ORDER
            else order_key(station_id, message.order_no)
        )
        order = self.book.orders.pop(key, None) or self._pending.get(key)
        end = not self.book.is_ended(key) and (order is None or not order.charging_end_sent)
        number = message.port + 1
        port = station.port(number)
        if end:
            self.book.end(key)
            if order is not None:
                order.charging_end_sent = True
            # The settled energy replaces the order's last 0x06 figure in the lifetime total.
            self.book.add_settled(station_id, number, message.energy_kwh)
        if port.order is not None and port.order.order_no == message.order_no:
            port.order = None
            port.session_energy_kwh = message.energy_kwh
            port.session_duration_s = message.duration_s
            port.stop_drawing()
        self._count_lifetime(station, port)
        effects.append(Save())
        # State first, events after (see _on_power).
        if end:
            effects.append(Fire(events.charging_end(station_id, message, order, timestamp=now)))
        effects.append(
            Fire(
                events.settlement(
                    station_id,
                    message,
                    order,
                    electricity_price=self._electricity_price,
                    service_price=self._service_price,
                    timestamp=now,
                )
            )
        )
        return True

    def _on_host_heartbeat(
        self,
        station: StationState,
        link: StationLink,
        message: HostHeartbeat,
        effects: list[Effect],
    ) -> None:
        station.signal = message.signal
        station.host_type = message.host_type
        station.last_heartbeat = dt_util.utc_from_timestamp(link.last_heartbeat or link.last_seen)
        if message.iccid:
            station.iccid = message.iccid
        if station.firmware != message.firmware:
            station.firmware = message.firmware
            effects.append(RefreshDevice(station))
        effects.append(Fire(events.host_heartbeat(link, message, timestamp=link.last_seen)))

    # -- state helpers -------------------------------------------------------------------

    def _set_port_status(
        self,
        station: StationState,
        number: int,
        status: int,
        now: float,
        effects: list[Effect],
    ) -> bool:
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
            effects.append(
                Fire(
                    events.port_heartbeat(
                        station.station_id,
                        number,
                        status,
                        previous,
                        voltage_v=station.voltage_v,
                        temperature_c=station.temperature_c,
                        timestamp=now,
                    )
                )
            )
        return changed

    def _count_lifetime(self, station: StationState, port: PortState) -> None:
        """Lifetime energy: the settled orders plus the running one, never decreasing."""
        total = self.book.settled_kwh.get((station.station_id, port.number), 0.0)
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
            station.host_station_id = host.station_id

    @staticmethod
    def _set_host(station: StationState, host_station_id: str, effects: list[Effect]) -> None:
        if station.host_station_id != host_station_id:
            station.host_station_id = host_station_id
            effects += (RefreshDevice(station), Save(), Notify(station))


def _set_port_count(station: StationState, count: int) -> None:
    station.port_count = count
    for number in range(1, count + 1):
        station.port(number)
