"""Charging commands and the orders they start: pending starts, held events, results.

A start command (0x82) is sent with a new order; while it waits for the station's reply the
station's events are held back, so that ``charging_start`` (or ``charging_failed``) comes
before the heartbeat a station sends right after accepting (docs/events.md, the session
example). Stop, modify, query, reboot and limits are sent here too, and a station's refusal
becomes a typed ``StationRefusedError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import time
from typing import TYPE_CHECKING, Final
import uuid

from . import events
from .models import ChargeMode, Order, StationState
from .protocol import codes
from .protocol.errors import CommandError, CommandTimeoutError, StationRefusedError
from .protocol.messages import (
    ChargeControl,
    ChargeControlReply,
    CommandResult,
    HostReboot,
    Limits,
    ModifyCharge,
    QueryStatus,
    Reboot,
    order_no_text,
    parse_order_no,
)
from .store import HubStore, OrderBook, order_key

if TYPE_CHECKING:
    from .protocol.frame import Frame
    from .protocol.messages import StationReply
    from .protocol.server import DnyServer, StationLink

_CMD_CHARGE_CONTROL: Final = ChargeControl.COMMAND
_ACTION_STOP: Final = 0
_ACTION_START: Final = 1
# Result codes of 0x8A modify-charging and 0x85 limits (docs/protocol.md 4), for error messages.
_MODIFY_RESULTS: Final = {
    1: "port not charging",
    2: "below what already ran",
    3: "bad mode or port",
}
_LIMITS_RESULTS: Final = {1: "beyond the station's maximum"}

# The hub's: tell a station's entities (ports, whether the station itself changed).
type NotifyEntities = Callable[[StationState, tuple[int, ...], bool], None]


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    """What a start or stop command achieved."""

    order_number: str
    response_code: int
    status_desc: str


class NoActiveOrderError(CommandError):
    """A stop for a port without a known order: the station ignores a stop without it."""

    def __init__(self, station_id: str, port: int) -> None:
        super().__init__(f"port {port} of station {station_id} has no running order to stop")
        self.station_id = station_id
        self.port = port


class Orders:
    """The commands of one server and the orders they start."""

    def __init__(
        self,
        server: DnyServer,
        stations: dict[str, StationState],
        book: OrderBook,
        store: HubStore,
        *,
        notify: NotifyEntities,
        fire_now: Callable[[events.Envelope], None],
    ) -> None:
        """Send through ``server``; ``notify`` and ``fire_now`` are the hub's."""
        self._server = server
        self._stations = stations
        self._book = book
        self._store = store
        self._notify = notify
        self._fire_now = fire_now
        # Orders of start commands waiting for the station's reply (the tracker reads them:
        # a 0x06 can report an order before its start reply arrives).
        self.pending: dict[str, Order] = {}
        # While start commands to a station wait for their reply, its events wait too
        # (station_id -> events, and how many starts are out). The state is updated at once.
        self._held: dict[str, list[events.Envelope]] = {}
        self._starting: dict[str, int] = {}
        # Message id of the last 0x82 sent to each physical id (the events name it).
        self._charge_message_ids: dict[int, int] = {}

    def fire(self, event: events.Envelope) -> None:
        """Fire an envelope, unless its station waits for a start command's reply."""
        if (held := self._held.get(event["device_id"])) is not None:
            held.append(event)
        else:
            self._fire_now(event)

    def frame_logged(
        self, direction: str, _link: StationLink | None, frame: Frame, _addr: str
    ) -> None:
        """The server's frame logger: remember the message id of each 0x82 going out.

        The server does not hand back the message id of a command it sent, and the
        charging events name it (docs/events.md).
        """
        if direction == "out" and frame.command == _CMD_CHARGE_CONTROL:
            self._charge_message_ids[frame.physical_id] = frame.message_id

    def port_number(self, station_id: str, port: int) -> int:
        station = self._stations.get(station_id)
        limit = station.port_count if station is not None and station.port_count else 16
        if not 1 <= port <= limit:
            raise ValueError(f"station {station_id} has no port {port} (1..{limit})")
        return port

    async def async_start_charging(
        self,
        station_id: str,
        port: int,
        *,
        mode: ChargeMode,
        minutes: int | None = None,
        seconds: int | None = None,
        energy_kwh: float | None = None,
        order_number: str | None = None,
        max_power_w: float | None = None,
        balance_fen: int = 0,
    ) -> ChargeOutcome:
        """Start charging ``port`` (1-based); ``StationRefusedError`` when refused.

        Time mode takes ``minutes`` (the action) or ``seconds`` (the HTTP API, whose platforms
        give seconds); ``balance_fen`` is only read out by the station's voice.
        """
        self.port_number(station_id, port)
        if mode is ChargeMode.ENERGY:
            if energy_kwh is None:
                raise ValueError("energy mode needs energy_kwh")
            rate_mode, value = codes.RateMode.ENERGY, round(energy_kwh * 100)
        elif mode is ChargeMode.TIME:
            if minutes is None and seconds is None:
                raise ValueError("time mode needs minutes or seconds")
            rate_mode = codes.RateMode.TIME
            value = seconds if seconds is not None else (minutes or 0) * 60
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
            balance_or_expiry=balance_fen,
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
        key = order_key(station_id, order_no)
        self.pending[key] = order
        self._held.setdefault(station_id, [])
        self._starting[station_id] = self._starting.get(station_id, 0) + 1
        try:
            return await self._async_send_start(station_id, command, order)
        finally:
            del self.pending[key]
            self._starting[station_id] -= 1
            if not self._starting[station_id]:
                del self._starting[station_id]
                for event in self._held.pop(station_id):
                    self._fire_now(event)

    async def _async_send_start(
        self, station_id: str, command: ChargeControl, order: Order
    ) -> ChargeOutcome:
        # The link as the command leaves: charging_start names the connection that carried
        # it, even if the station drops it right after answering.
        link = self._server.link(station_id)
        try:
            reply = await self._server.request(station_id, command)
        except CommandTimeoutError as err:
            self._fire_now(
                events.charging_failed(
                    station_id,
                    order.port,
                    order_number=order.order_number,
                    response_code=int(codes.ChargeResult.NO_RESPONSE),
                    message_id=err.message_id,
                )
            )
            raise
        code = self._charge_result(reply)
        desc = codes.describe(codes.ChargeResult, code)
        station = self._stations[station_id]
        message_id = self._charge_message_ids.get(station.physical_id, 0)
        if code != codes.ChargeResult.DONE:
            self._fire_now(
                events.charging_failed(
                    station_id,
                    order.port,
                    order_number=order.order_number,
                    response_code=code,
                    message_id=message_id,
                )
            )
            raise StationRefusedError(station_id, _CMD_CHARGE_CONTROL, code, desc)
        now = time.time()
        if not order.started_at:
            order.started_at = now
        self._book.open(order_key(station_id, order.order_no), order)
        port = station.port(order.port)
        if port.order is not order:
            port.order = order
            port.session_energy_kwh = 0.0
            port.session_duration_s = 0
        # An open order is what a settlement after a crash needs: store it at once.
        self._store.schedule_save(0)
        self._notify(station, (order.port,), False)
        if link is not None:
            self._fire_now(events.charging_start(link, order, message_id=message_id, timestamp=now))
        return ChargeOutcome(order.order_number, code, desc)

    @staticmethod
    def _charge_result(reply: StationReply | None) -> int:
        if isinstance(reply, ChargeControlReply):
            return reply.result
        # A station that answers 0x82 with something undecodable has not done it.
        return int(codes.ChargeResult.NO_RESPONSE)

    async def async_stop_charging(self, station_id: str, port: int) -> ChargeOutcome:
        """Stop the running order of ``port``; its settlement follows (0x03)."""
        self.port_number(station_id, port)
        station = self._stations.get(station_id)
        state = None if station is None else station.ports.get(port)
        if state is None or state.order is None:
            raise NoActiveOrderError(station_id, port)
        order = state.order
        reply = await self._server.request(
            station_id,
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
            raise StationRefusedError(station_id, _CMD_CHARGE_CONTROL, code, desc)
        return ChargeOutcome(order.order_number, code, desc)

    async def async_modify_charging(
        self, station_id: str, port: int, *, mode: int, value: int
    ) -> int:
        """Change the running order's limit (0x8A: seconds, or 0.01 kWh in mode 2)."""
        self.port_number(station_id, port)
        reply = await self._server.request(station_id, ModifyCharge(mode, port - 1, value))
        return self._checked_result(station_id, ModifyCharge.COMMAND, reply, _MODIFY_RESULTS)

    async def async_query_status(self, station_id: str) -> None:
        """Ask the station to report (0x81); it answers with 0x20 and a heartbeat."""
        await self._server.request(station_id, QueryStatus(), expect_reply=False)

    async def async_reboot(self, station_id: str) -> None:
        """Reboot a station (0x87) or a host gateway (0x31).

        The station may restart before it replies (docs/protocol.md 4, 0x87), so no reply is
        awaited.
        """
        station = self._stations.get(station_id)
        command = HostReboot() if station is not None and station.is_host else Reboot()
        await self._server.request(station_id, command, expect_reply=False)

    async def async_set_limits(
        self,
        station_id: str,
        *,
        max_duration_s: int,
        overload_power_w: float,
        over_voltage_v: float,
        under_voltage_v: float,
    ) -> int:
        """Set the station's limits (0x85); refused (1) beyond the station's maximum."""
        reply = await self._server.request(
            station_id, Limits(max_duration_s, overload_power_w, over_voltage_v, under_voltage_v)
        )
        return self._checked_result(station_id, Limits.COMMAND, reply, _LIMITS_RESULTS)

    @staticmethod
    def _checked_result(
        station_id: str, command: int, reply: StationReply | None, meanings: dict[int, str]
    ) -> int:
        code = reply.result if isinstance(reply, CommandResult) else 0xFF
        if code != 0:
            raise StationRefusedError(
                station_id, command, code, meanings.get(code, f"result {code}")
            )
        return code
