"""Simulated AP3000 stations and host gateways, for tests, demos and benchmarks.

A ``SimulatedStation`` behaves like a real station on its TCP connection (docs/protocol.md 1):
it sends its ICCID, registers (0x20, repeated every heartbeat period until answered), asks
for the time (0x22), sends heartbeats (0x21, or 0x01 for an old station) and ``link`` when
idle, answers the server's commands (section 4), charges (0x06 power heartbeats along a
plausible power ramp) and settles (0x03, resent until acknowledged). A ``SimulatedHost``
is a host gateway relaying sub-stations over its one connection. ``StationSimulator`` runs
many of them against one server.

Ports are the wire value everywhere in this module, as in the rest of the protocol package:
0 is the first port. Every interval is divided by ``speed``; charging time is simulated
time, which runs ``speed`` times faster than the clock, so a 4-hour order at speed 240
takes one minute.

Run ``python -m custom_components.iot_zinx.protocol.simulator --help`` for the command line.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
import contextlib
from dataclasses import dataclass
import logging
import math
import random
import signal
import time
from typing import Final

from .codes import ChargeResult, StopReason, is_fault_status
from .firmware import (
    PACKET_SIZE,
    RESULT_OK,
    RESULT_RESEND,
    FirmwareReceiver,
    host_method,
    station_method,
)
from .frame import Frame, format_physical_id, parse_physical_id
from .messages import (
    DOWNSTREAM_COMMANDS,
    CardKeys,
    CardReply,
    CardSwipe,
    ChangeServerAddress,
    ChargeControl,
    ChargeControlReply,
    ClearMemory,
    ClearSubUpgrade,
    CommandResult,
    DownstreamCommand,
    EepromReadReply,
    FirmwarePacket,
    FirmwareReply,
    Heartbeat,
    HostHeartbeat,
    HostReboot,
    HostTimeRequest,
    HostUpgradeRequest,
    HostUpgradeStart,
    LegacyHeartbeat,
    Limits,
    Locate,
    LockerDoor,
    LockerRelease,
    Message,
    ModifyCharge,
    ModuleReboot,
    Mute,
    PowerHeartbeat,
    QueryStatus,
    ReadEeprom,
    ReadParameters,
    Reboot,
    Register,
    ResultReply,
    RunParameters1,
    RunParameters2,
    ServerReply,
    SetCardBillingMode,
    SetQrCode,
    Settlement,
    SetWorkMode,
    StationReply,
    TemporaryQrCode,
    TimeReply,
    TimeRequest,
    UpgradeRequest,
    decode_downstream,
    decode_server_reply,
)
from .stream import StreamSplitter

_LOGGER = logging.getLogger(__name__)

# Simulated seconds for the power to climb from the start power to the plateau.
RAMP_S: Final = 600.0
# 0x85 default maximum charging time (docs/protocol.md 4).
DEFAULT_MAX_DURATION_S: Final = 36000
# 0x85: the most a port takes; a higher overload power is refused with result 1.
MAX_OVERLOAD_POWER_W: Final = 2000.0
# 0x03: "second_max_power" is the maximum within the first 5 minutes.
SECOND_MAX_WINDOW_S: Final = 300.0
PORT_ANY: Final = 0xFF
START_MODE_ONLINE: Final = 1
_RATE_MODE_ENERGY: Final = 2
_ACTION_START: Final = 1
# Status codes (docs/protocol.md 7.1) the simulation derives by itself.
_IDLE, _CHARGING, _PLUGGED, _FULL = 0x00, 0x01, 0x02, 0x03
# Factory settings answered by the read-backs 0x90-0x93 until the server changes them
# (the vendor's defaults, messages.py docstrings).
_DEFAULT_SETTINGS: Final[dict[int, Message]] = {
    0x83: RunParameters1(0.3, 10, 20, 1800, 3600, 180),
    0x84: RunParameters2(80.0, 30, 1800, 1.0, 300, 10800, 300, 30.0, 1800, 300, 80, 80, 0, 1),
    0x85: Limits(DEFAULT_MAX_DURATION_S, MAX_OVERLOAD_POWER_W, 270.0, 100.0),
    0x86: CardKeys(0, bytes.fromhex("159185191880"), b"\xff" * 6),
}
# 0x8F billing modes the vendor lists (docs/protocol.md 4); others are refused (result 1).
_CARD_BILLING_MODES: Final = frozenset({0, 1, 3, 4, 5, 6})
_LOCKER_FORCE_OPEN: Final = 0  # 0x98 function 0


def default_iccid(physical_id: int) -> str:
    """A plausible 20-digit ICCID derived from the physical id (China Mobile's 8986 prefix)."""
    return f"8986{physical_id:016d}"[-20:].rjust(20, "0")


@dataclass(slots=True)
class SimulatedOrder:
    """A charge running on one port. Times are simulated seconds since the start."""

    order_no: bytes
    rate_mode: int
    start_mode: int
    card_id: int
    max_duration_s: float
    start_power_w: float
    plateau_power_w: float
    started: float  # loop time of the start
    speed: float
    time_limit_s: float | None = None
    energy_limit_kwh: float | None = None
    last_report_s: float = 0.0
    reports: int = 0

    def elapsed_s(self, loop_time: float) -> float:
        return (loop_time - self.started) * self.speed

    def power_w(self, t: float) -> float:
        """The power drawn at ``t``: a linear ramp over RAMP_S, then a plateau."""
        p0, p1 = self.start_power_w, self.plateau_power_w
        return p0 + (p1 - p0) * min(t, RAMP_S) / RAMP_S

    def energy_ws(self, t: float) -> float:
        """Watt-seconds delivered by ``t``: the integral of ``power_w``."""
        p0, p1 = self.start_power_w, self.plateau_power_w
        if t <= RAMP_S:
            return p0 * t + (p1 - p0) * t * t / (2 * RAMP_S)
        return (p0 + p1) * RAMP_S / 2 + p1 * (t - RAMP_S)

    def energy_kwh(self, t: float) -> float:
        return self.energy_ws(t) / 3_600_000

    def time_for_energy(self, kwh: float) -> float:
        """When ``energy_kwh`` reaches ``kwh`` (the inverse of the integral)."""
        target = kwh * 3_600_000
        p0, p1 = self.start_power_w, self.plateau_power_w
        ramp_energy = (p0 + p1) * RAMP_S / 2
        if target > ramp_energy:
            return RAMP_S + (target - ramp_energy) / p1
        slope = (p1 - p0) / (2 * RAMP_S)
        if slope == 0:
            return target / p0
        return (-p0 + math.sqrt(p0 * p0 + 4 * slope * target)) / (2 * slope)

    def end(self, full_energy_kwh: float) -> tuple[float, int]:
        """When and why the order stops if nothing interrupts it (docs/protocol.md 7.3)."""
        ends = [
            (self.time_for_energy(full_energy_kwh), StopReason.FULL.value),
            (self.max_duration_s, StopReason.MAX_DURATION.value),
        ]
        if self.time_limit_s is not None:
            ends.append((self.time_limit_s, StopReason.PRESET_TIME.value))
        if self.energy_limit_kwh is not None:
            ends.append((self.time_for_energy(self.energy_limit_kwh), StopReason.PRESET_ENERGY))
        return min(ends)

    def set_limit(self, energy_mode: bool, value: int) -> None:
        """``value`` is 0.01 kWh in energy mode, else seconds; 0 charges until full."""
        self.time_limit_s = None
        self.energy_limit_kwh = None
        if value:
            if energy_mode:
                self.energy_limit_kwh = value / 100
            else:
                self.time_limit_s = float(value)


@dataclass(slots=True)
class SimulatedPort:
    """One port (``index`` is the 0-based wire value)."""

    index: int
    plugged: bool = False
    # A status the test forces (a fault code); None lets the simulation derive it.
    forced_status: int | None = None
    full: bool = False  # the last order ended full and the charger is still plugged
    order: SimulatedOrder | None = None

    @property
    def status(self) -> int:
        """The docs/protocol.md 7.1 code the heartbeats report."""
        if self.forced_status is not None:
            return self.forced_status
        if self.order is not None:
            return _CHARGING
        if self.plugged:
            return _FULL if self.full else _PLUGGED
        return _IDLE


class _Wire(asyncio.Protocol):
    """The TCP connection of a station or of a host gateway and its sub-stations."""

    def __init__(self, owner: _Endpoint) -> None:
        self.owner = owner
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        # What the server sends: the old models' F8/F9 packets exceed the generic frame cap.
        self.splitter = StreamSplitter(downstream=True)
        self.last_sent = self.loop.time()
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.keepalive: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        for item in self.splitter.feed(data):
            if isinstance(item, Frame):
                endpoint = self.owner.route(item.physical_id)
                if endpoint is not None:
                    endpoint.frame_received(item)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.keepalive is not None:
            self.keepalive.cancel()
        self.lost.set_result(None)
        self.owner.wire_lost(self)

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def write(self, data: bytes) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(data)
        self.last_sent = self.loop.time()
        return True

    async def keep_alive(self, interval: float) -> None:
        """docs/protocol.md 1: ``link`` after ``interval`` seconds without sending anything."""
        while True:
            idle = self.loop.time() - self.last_sent
            if idle >= interval:
                self.write(b"link")
                idle = 0.0
            await asyncio.sleep(interval - idle)


class _Endpoint:
    """What stations and host gateways share: a physical id, frames, the connection."""

    def __init__(
        self,
        physical_id: int,
        *,
        iccid: str | None,
        speed: float,
        link_interval: float,
        reply_timeout: float,
        auto_reconnect: bool,
        reconnect_delay: float,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.physical_id = physical_id
        self.device_id = format_physical_id(physical_id)
        self.iccid = iccid if iccid is not None else default_iccid(physical_id)
        self.speed = speed
        self.link_interval = link_interval
        self.reply_timeout = reply_timeout
        self.auto_reconnect = auto_reconnect
        self.reconnect_delay = reconnect_delay
        self.reboot_delay = 1.0
        self.reboots = 0
        # Set while the server has acknowledged this session's register / time request.
        self.registered = asyncio.Event()
        self.time_synced = asyncio.Event()
        self.connected = asyncio.Event()
        self.server_time: int | None = None
        self.frames_sent = 0
        self.frames_received = 0
        self.frames_dropped = 0  # sent while disconnected
        self.sent_commands: Counter[int] = Counter()
        self.received_commands: Counter[int] = Counter()
        self.connections = 0
        # Downstream commands as decoded, in order (tests read them).
        self.commands: list[DownstreamCommand] = []
        # Commands the test wants unanswered: ``drop_commands`` next ones, or all of them.
        self.ignore_commands = False
        self.drop_commands = 0
        # command -> result code to answer instead of doing the work (0x82 included).
        self.forced_results: dict[int, int] = {}
        # Firmware packets (by number) to leave unanswered / to answer 1 ("resend"), as
        # many times as counted.
        self.drop_packets: Counter[int] = Counter()
        self.refuse_packets: Counter[int] = Counter()
        # Packets answered by asking for the upgrade again instead (0x05 / 0x15: an old
        # model that restarted mid-upgrade), as many times as counted.
        self.request_at_packets: Counter[int] = Counter()
        self.firmware_receiver: FirmwareReceiver | None = None
        self.firmware_images: list[bytes] = []  # every image received whole, in order
        # Nothing in an F8/F9/FA upgrade names the new version (E0's check packet does): the
        # device comes back with this one (None: the old one plus 1).
        self.next_firmware: int | None = None
        self._message_id = 0
        self._address: tuple[str, int] | None = None
        self._wire: _Wire | None = None
        self._wanted = False  # the test wants the connection up (reconnect when lost)
        self._silent = False  # a sub-station that stopped talking
        self._session: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._awaiting: dict[tuple[int, int], asyncio.Future[ServerReply]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._host: SimulatedHost | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.device_id}>"

    # -- conditions for tests ------------------------------------------------------------

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - a test helper must not hang by default
    ) -> None:
        """Wait until ``predicate()`` is true; it is checked after every frame and change.

        Raises ``TimeoutError`` after ``timeout`` seconds (real seconds, not divided).
        """
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while not predicate():
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.append(waiter)
                await waiter

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self._host is not None:
            self._host._changed()

    # -- connection ----------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        wire = self._current_wire()
        return wire is not None and wire.open and not self._silent

    def _current_wire(self) -> _Wire | None:
        return self._host._wire if self._host is not None else self._wire

    async def connect(self, host: str, port: int) -> None:
        """Open the TCP connection (a sub-station talks through its host instead)."""
        if self._host is not None:
            raise RuntimeError(f"{self.device_id} is behind host {self._host.device_id}")
        self._address = (host, port)
        self._wanted = True
        await self._open()

    async def _open(self) -> None:
        assert self._address is not None
        loop = asyncio.get_running_loop()
        _, wire = await loop.create_connection(lambda: _Wire(self), *self._address)
        if wire.lost.done():
            # Dropped before we could use it (a server refusing beyond max_connections):
            # wire_lost ignored it, so report it like a refused connection.
            raise ConnectionResetError(f"{self._address} closed the connection at once")
        self._wire = wire
        self.connections += 1
        wire.keepalive = self._spawn(wire.keep_alive(self.link_interval / self.speed))
        # docs/protocol.md 1: the module sends the SIM's ICCID once, right after connecting.
        wire.write(self.iccid.encode("ascii"))
        self.connected.set()
        self.wire_up()
        self._changed()

    async def disconnect(self) -> None:
        """Close the connection and stay away (a sub-station falls silent instead)."""
        if self._host is not None:
            self._silent = True
            self._end_session()
            self.connected.clear()
            self._changed()
            return
        self._wanted = False
        wire = self._wire
        if wire is not None and wire.transport is not None:
            wire.transport.close()
            await wire.lost

    async def reconnect(self) -> None:
        """Come back: a new connection (or a sub-station talking again), a new session."""
        if self._host is not None:
            self._silent = False
            self.connected.set()
            if self._host.is_connected:
                self._start_session()
            return
        await self.disconnect()
        if self._address is None:
            raise RuntimeError(f"{self.device_id} was never connected")
        self._wanted = True
        await self._open()

    def wire_up(self) -> None:
        """The connection is up: start talking."""
        self._start_session()

    def wire_lost(self, wire: _Wire) -> None:
        if wire is not self._wire:  # lost before _open adopted it
            return
        self._wire = None
        self.connected.clear()
        self._end_session()
        self._changed()
        if self._wanted and self.auto_reconnect:
            self._spawn(self._reconnect_later())

    async def _reconnect_later(self) -> None:
        """A real module redials after losing its connection; so do we, until it works."""
        while self._should_redial():
            await asyncio.sleep(self.reconnect_delay / self.speed)
            if not self._should_redial():
                return
            try:
                await self._open()
            except OSError as err:
                _LOGGER.debug("%s cannot reconnect: %s", self.device_id, err)

    def _should_redial(self) -> bool:
        return self._wanted and self._wire is None

    def redial_after_failed_connect(self) -> bool:
        """After a first connect failed: redial as a real module does, if auto_reconnect."""
        if not (self.auto_reconnect and self._should_redial()):
            return False
        self._spawn(self._reconnect_later())
        return True

    def route(self, physical_id: int) -> _Endpoint | None:
        """The endpoint a received frame is for (a host routes to its sub-stations)."""
        return self if physical_id == self.physical_id else None

    def _start_session(self) -> None:
        self._end_session()
        if not self._silent:
            self._session = self._spawn(self._run_session())

    def _end_session(self) -> None:
        if self._session is not None:
            self._session.cancel()
            self._session = None
        self.registered.clear()
        self.time_synced.clear()
        for future in self._awaiting.values():
            future.cancel()
        self._awaiting.clear()

    async def _run_session(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Stop everything: connection, timers, charging."""
        self._wanted = False
        self._end_session()
        wire = self._wire
        if wire is not None and wire.transport is not None:
            wire.transport.close()
            await wire.lost
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[object, object, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("%s task failed", self.device_id, exc_info=task.exception())

    # -- frames --------------------------------------------------------------------------

    def _next_message_id(self) -> int:
        self._message_id = (self._message_id + 1) & 0xFFFF
        return self._message_id

    def send(self, message: Message, message_id: int | None = None) -> int:
        """Send a message in a frame with our physical id; returns the message id used."""
        if message_id is None:
            message_id = self._next_message_id()
        frame = Frame(self.physical_id, message_id, message.command, message.encode())
        self.send_frame(frame)
        return message_id

    def send_frame(self, frame: Frame) -> None:
        wire = self._current_wire()
        if self._silent or wire is None or not wire.write(frame.encode()):
            self.frames_dropped += 1
            return
        self.frames_sent += 1
        self.sent_commands[frame.command] += 1

    async def exchange(self, message: Message) -> ServerReply | None:
        """Send an upstream message and wait ``reply_timeout`` for the server's reply."""
        loop = asyncio.get_running_loop()
        message_id = self.send(message)
        key = (message.command, message_id)
        future: asyncio.Future[ServerReply] = loop.create_future()
        self._awaiting[key] = future
        try:
            async with asyncio.timeout(self.reply_timeout / self.speed):
                return await future
        except TimeoutError:
            return None
        finally:
            self._awaiting.pop(key, None)

    def frame_received(self, frame: Frame) -> None:
        if self._silent:
            return
        self.frames_received += 1
        self.received_commands[frame.command] += 1
        if frame.command in DOWNSTREAM_COMMANDS:
            command = decode_downstream(frame.command, frame.payload)
            self.commands.append(command)
            if self.ignore_commands:
                pass
            elif self.drop_commands > 0:
                self.drop_commands -= 1
            else:
                self._command(frame, command)
        else:
            reply = decode_server_reply(frame.command, frame.payload)
            future = self._awaiting.pop((frame.command, frame.message_id), None)
            if future is not None and not future.done():
                future.set_result(reply)
            self._server_reply(frame, reply)
        self._changed()

    def _server_reply(self, frame: Frame, reply: ServerReply) -> None:
        if isinstance(reply, ResultReply) and reply.command == 0x20 and reply.result == 0:
            self.registered.set()
        elif isinstance(reply, TimeReply):
            self.server_time = reply.unix_time
            self.time_synced.set()

    def _command(self, frame: Frame, command: DownstreamCommand) -> None:
        raise NotImplementedError

    def answer(self, frame: Frame, reply: StationReply) -> None:
        """Reply to a downstream command: same command, same message id (docs/protocol.md 2)."""
        self.send_frame(Frame(frame.physical_id, frame.message_id, frame.command, reply.encode()))

    def _result(self, frame: Frame, default: int = 0) -> None:
        result = self.forced_results.get(frame.command, default)
        self.answer(frame, CommandResult(frame.command, result))

    def _firmware_packet(
        self, frame: Frame, packet: FirmwarePacket, receiver: FirmwareReceiver
    ) -> None:
        """Take one firmware packet (protocol/firmware.py); a whole image reboots into it."""
        if self.request_at_packets[packet.current] > 0:
            self.request_at_packets[packet.current] -= 1
            self.request_upgrade()
            return
        if self.drop_packets[packet.current] > 0:
            self.drop_packets[packet.current] -= 1
            return
        self.firmware_receiver = receiver
        forced = self.forced_results.get(frame.command)
        if self.refuse_packets[packet.current] > 0:
            self.refuse_packets[packet.current] -= 1
            code = RESULT_RESEND
        else:
            code = receiver.accept(packet) if forced is None else forced
        self.answer(frame, FirmwareReply(packet.command, code, receiver.received))
        if code == RESULT_OK and receiver.image is not None:
            self.firmware_images.append(receiver.image)
            receiver.image = None
            self._upgraded(receiver)

    def _upgraded(self, receiver: FirmwareReceiver) -> None:
        raise NotImplementedError

    def request_upgrade(self) -> None:
        """Ask the server for an upgrade (0x05 station, 0x15 host)."""
        raise NotImplementedError

    def _reboot_later(self) -> None:
        """0x87 / 0x31: the reply goes out, then the module restarts after a moment."""

        async def reboot() -> None:
            await asyncio.sleep(self.reboot_delay / self.speed)
            self.reboots += 1
            await self.reconnect()

        self._spawn(reboot())


class SimulatedStation(_Endpoint):
    """One charging station: its ports, chargers, orders and settlements.

    Test helpers: ``plug``, ``unplug``, ``set_port_status``, ``swipe_card``, ``wait_for``,
    ``disconnect``, ``reconnect``; the events ``registered``, ``time_synced`` and
    ``connected``; the counters ``frames_sent``/``frames_received``,
    ``sent_commands``/``received_commands`` (by command byte), ``settlements_acknowledged``,
    ``heartbeats_answered``; ``settlements`` (every settlement sent, in order),
    ``pending_settlements`` and ``commands`` (every downstream command received); what the
    commands set: ``settings`` (0x83-0x86, read back by 0x90-0x93), ``work_mode``, ``muted``,
    ``main_screen``, ``qr_code``, ``temporary_qr_code``, ``card_billing_mode``, ``located_s``,
    ``memory_clears``, ``doors_opened``. To make the station misbehave: ``ignore_commands``,
    ``drop_commands`` (the next N commands go unanswered), ``forced_results`` (command byte ->
    result code).
    Firmware (protocol/firmware.py): the device type picks E0 (200-byte packets, the check
    packet) or F8 (the old types: 256-byte packets in long frames); ``firmware_receiver``
    checks the packets, ``firmware_images`` holds every image received whole, after which
    the station reboots and registers with the check packet's version (F8:
    ``next_firmware``, default the old one plus 1); ``drop_packets`` / ``refuse_packets``
    (packet number -> count) leave packets unanswered or answer them 1, ``request_at_packets``
    answers them with 0x05 (``request_upgrade``) instead.
    """

    def __init__(
        self,
        physical_id: int,
        port_count: int = 2,
        *,
        iccid: str | None = None,
        firmware: int = 126,
        device_type: int = 0x21,
        work_mode: int = 0,
        virtual_id: int = 0,
        voltage_v: float = 220.0,
        temperature_c: int | None = 30,
        signal_strength: int = 0,
        heartbeat_interval: float = 180.0,
        power_interval: float = 300.0,
        link_interval: float = 30.0,
        settlement_resend_interval: float = 1800.0,
        reply_timeout: float = 15.0,
        reboot_delay: float = 1.0,
        reconnect_delay: float = 5.0,
        auto_reconnect: bool = True,
        speed: float = 1.0,
        legacy_heartbeat: bool = False,
        heartbeat_on_change: bool = True,
        full_energy_kwh: float = 0.8,
        power_range_w: tuple[float, float] = (180.0, 250.0),
        plugged: Iterable[int] = (),
    ) -> None:
        super().__init__(
            physical_id,
            iccid=iccid,
            speed=speed,
            link_interval=link_interval,
            reply_timeout=reply_timeout,
            auto_reconnect=auto_reconnect,
            reconnect_delay=reconnect_delay,
        )
        if not 1 <= port_count <= 16:
            raise ValueError("port_count must be 1..16")
        self.port_count = port_count
        self.firmware = firmware
        self.device_type = device_type
        self.work_mode = work_mode
        self.virtual_id = virtual_id
        self.voltage_v = voltage_v
        self.temperature_c = temperature_c
        self.signal_strength = signal_strength
        self.heartbeat_interval = heartbeat_interval
        self.power_interval = power_interval
        self.settlement_resend_interval = settlement_resend_interval
        self.reboot_delay = reboot_delay
        self.legacy_heartbeat = legacy_heartbeat
        # Send a heartbeat as soon as a port changes, so the server sees it at once.
        self.heartbeat_on_change = heartbeat_on_change
        self.full_energy_kwh = full_energy_kwh
        self.power_range_w = power_range_w
        self.ports = [SimulatedPort(index) for index in range(port_count)]
        for index in plugged:
            self.ports[index].plugged = True
        self.settings: dict[int, Message] = dict(_DEFAULT_SETTINGS)
        # What the other commands set (docs/protocol.md 4), for the tests to read.
        self.muted = False
        self.main_screen = 0  # 0x8E: 0 port states, 1 QR code
        self.qr_code = ""
        self.temporary_qr_code: str | None = None
        self.card_billing_mode = 0
        self.located_s: list[int] = []  # every 0x96, its seconds
        self.memory_clears = 0
        self.doors_opened: list[int] = []  # 0x98: wire ports whose door was forced open
        self.settlements: list[Settlement] = []
        self.pending_settlements: dict[int, Settlement] = {}  # message id -> settlement
        self.settlements_acknowledged = 0
        self.heartbeats_answered = 0
        self.registrations = 0
        self.reboots = 0
        self._charging: dict[int, asyncio.Task[None]] = {}
        self._random = random.Random(physical_id)

    # -- test helpers --------------------------------------------------------------------

    def plug(self, port: int) -> None:
        """Plug a charger into ``port`` (0-based)."""
        self.ports[port].plugged = True
        self.ports[port].full = False
        self._port_changed()

    def unplug(self, port: int) -> None:
        """Pull the charger out; a running order stops with reason 5 (unplugged)."""
        state = self.ports[port]
        if state.order is not None:
            self._finish(state, StopReason.UNPLUGGED.value)
        state.plugged = False
        state.full = False
        self._port_changed()

    def set_port_status(self, port: int, status: int | None) -> None:
        """Force the status the heartbeats report (a fault code); None lifts it."""
        self.ports[port].forced_status = status
        self._port_changed()

    async def swipe_card(self, port: int, card_id: int, card_type: int = 0) -> CardReply:
        """Swipe a card on ``port`` (0xFF: balance query) and return the server's decision.

        Raises ``TimeoutError`` when the server does not answer within ``reply_timeout``.
        """
        swipe = CardSwipe(card_id, card_type, port, 0, int(time.time()))
        reply = await self.exchange(swipe)
        if not isinstance(reply, CardReply):
            raise TimeoutError(f"no card reply for {self.device_id}")
        return reply

    def start_offline_charge(self, port: int, *, card_id: int = 0, seconds: int = 0) -> bytes:
        """Start an order by the station itself (an offline card, start mode 0).

        The order number follows docs/protocol.md 5: ``YYMMDDhhmmss``, then card and port bytes.
        """
        state = self.ports[port]
        stamp = time.strftime("%y%m%d%H%M%S").encode("ascii")
        order_no = stamp + bytes([card_id & 0xFF, (card_id >> 8) & 0xFF, 0, port + 30])
        self._start(state, order_no, rate_mode=0, value=seconds, start_mode=0, card_id=card_id)
        return order_no

    def charging_ports(self) -> list[int]:
        """The ports with a running order."""
        return [state.index for state in self.ports if state.order is not None]

    # -- session -------------------------------------------------------------------------

    def register_message(self) -> Register:
        return Register(
            self.firmware,
            self.port_count,
            self.virtual_id,
            self.device_type,
            self.work_mode,
            0,
        )

    def heartbeat_message(self) -> Heartbeat | LegacyHeartbeat:
        statuses = tuple(state.status for state in self.ports)
        if self.legacy_heartbeat:
            loop_time = asyncio.get_running_loop().time()
            powers = tuple(
                0.0
                if state.order is None
                else round(state.order.power_w(state.order.elapsed_s(loop_time)), 1)
                for state in self.ports
            )
            return LegacyHeartbeat(
                self.firmware,
                self.voltage_v,
                self.port_count,
                statuses,
                powers,
                powers,
                self.virtual_id,
                self.signal_strength,
                self.device_type,
                self.temperature_c,
                self.work_mode,
            )
        return Heartbeat(
            self.voltage_v, self.port_count, statuses, self.signal_strength, self.temperature_c
        )

    def send_heartbeat(self) -> None:
        message = self.heartbeat_message()
        message_id = self.send(message)
        self._spawn(self._count_heartbeat_reply(message.command, message_id))

    async def _count_heartbeat_reply(self, command: int, message_id: int) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ServerReply] = loop.create_future()
        key = (command, message_id)
        self._awaiting[key] = future
        try:
            async with asyncio.timeout(self.reply_timeout / self.speed):
                await future
            self.heartbeats_answered += 1
        except TimeoutError:
            pass
        finally:
            self._awaiting.pop(key, None)

    async def _run_session(self) -> None:
        # docs/protocol.md 3: register at power-up (repeated each heartbeat period until
        # answered), ask the time, then heartbeat; stored settlements go out again.
        resender = self._spawn(self._resend_settlements())
        try:
            await self.exchange(self.register_message())
            await self.exchange(TimeRequest())
            for message_id, settlement in list(self.pending_settlements.items()):
                self.send(settlement, message_id)
            while True:
                self.send_heartbeat()
                await asyncio.sleep(self.heartbeat_interval / self.speed)
                if not self.registered.is_set():
                    self.send(self.register_message())
                if not self.time_synced.is_set():
                    self.send(TimeRequest())
        finally:
            resender.cancel()

    async def _resend_settlements(self) -> None:
        # docs/protocol.md 3, 0x03: resent every 30 min until acknowledged, same message id.
        while True:
            await asyncio.sleep(self.settlement_resend_interval / self.speed)
            for message_id, settlement in list(self.pending_settlements.items()):
                self.send(settlement, message_id)

    def _server_reply(self, frame: Frame, reply: ServerReply) -> None:
        super()._server_reply(frame, reply)
        if not isinstance(reply, ResultReply) or reply.result != 0:
            return
        if reply.command == Register.COMMAND:
            self.registrations += 1
        # The acknowledgement echoes the settlement's message id (docs/protocol.md 2).
        elif (
            reply.command == Settlement.COMMAND
            and self.pending_settlements.pop(frame.message_id, None) is not None
        ):
            self.settlements_acknowledged += 1

    def _port_changed(self) -> None:
        if self.heartbeat_on_change and self.is_connected:
            self.send_heartbeat()
        self._changed()

    # -- commands ------------------------------------------------------------------------

    def _command(self, frame: Frame, command: DownstreamCommand) -> None:
        forced = self.forced_results.get(frame.command)
        if isinstance(command, QueryStatus):
            # No reply: the station reports instead (docs/protocol.md 4, 0x81).
            self.send(self.register_message())
            self.send_heartbeat()
        elif isinstance(command, ChargeControl):
            self._charge_control(frame, command, forced)
        elif isinstance(command, FirmwarePacket):
            method = station_method(self.device_type)
            receiver = self.firmware_receiver or FirmwareReceiver(
                self.device_type, check_packet=method.check_packet, packet_size=method.packet_size
            )
            self._firmware_packet(frame, command, receiver)
        elif forced is not None:
            self._result(frame)
        elif isinstance(command, ModifyCharge):
            self._result(frame, self._modify(command))
        elif isinstance(command, RunParameters1 | RunParameters2 | Limits | CardKeys):
            self._store_setting(frame, command)
        elif isinstance(command, ReadParameters):
            # 0x90-0x93 read back 0x83-0x86 in the setting's own layout.
            setting = self.settings[command.command - 0x90 + 0x83]
            self.send_frame(
                Frame(frame.physical_id, frame.message_id, frame.command, setting.encode())
            )
        elif isinstance(command, ReadEeprom):
            self.answer(frame, EepromReadReply(0, bytes(command.length)))
        elif isinstance(command, Reboot):
            self._result(frame)
            self._reboot_later()
        elif isinstance(command, LockerRelease):
            self._locker_release(frame, command)
        else:
            self._result(frame, self._other_command(command))

    def _store_setting(
        self, frame: Frame, command: RunParameters1 | RunParameters2 | Limits | CardKeys
    ) -> None:
        """0x83-0x86: kept for the read-backs; result 1 where the vendor documents it."""
        if isinstance(command, RunParameters1) and not 1 <= command.float_percent <= 100:
            self._result(frame, 1)  # "1 = parameter error"; the percentage is 1-100
        elif isinstance(command, Limits) and command.overload_power_w > MAX_OVERLOAD_POWER_W:
            self._result(frame, 1)  # over the station's maximum
        else:
            self.settings[command.COMMAND] = command
            self._result(frame)

    def _other_command(self, command: DownstreamCommand) -> int:
        """Carry out a command answered by a result byte; the result (docs/protocol.md 4)."""
        if isinstance(command, SetWorkMode):
            if command.mode > 1:
                return 1  # "the station cannot do that mode"
            self.work_mode = command.mode
        elif isinstance(command, Mute):
            if command.mute > 1:
                return 1
            self.muted = command.mute == 1
        elif isinstance(command, SetQrCode):
            if command.screen > 1:
                return 1
            self.main_screen, self.qr_code = command.screen, command.text
        elif isinstance(command, TemporaryQrCode):
            self.temporary_qr_code = command.text
        elif isinstance(command, SetCardBillingMode):
            if command.mode not in _CARD_BILLING_MODES:
                return 1
            self.card_billing_mode = command.mode
        elif isinstance(command, Locate):
            self.located_s.append(command.duration_s)
        elif isinstance(command, ClearMemory):
            self.memory_clears += 1
        elif isinstance(command, LockerDoor):
            if command.function != _LOCKER_FORCE_OPEN or command.port >= self.port_count:
                return 1
            self.doors_opened.append(command.port)
        return 0

    def _locker_release(self, frame: Frame, command: LockerRelease) -> None:
        """0x72: end the order if its number matches; the reply echoes the number."""
        state = self.ports[command.port] if command.port < self.port_count else None
        matches = (
            state is not None
            and state.order is not None
            and state.order.order_no == command.order_no
        )
        result = 0 if matches else 1
        self.answer(frame, CommandResult(frame.command, result, command.order_no))
        if result == 0 and state is not None and state.order is not None:
            self._finish(state, StopReason.SERVER.value)

    def _upgraded(self, receiver: FirmwareReceiver) -> None:
        """Reboot and register with the version the check packet named (F8: ``next_firmware``)."""
        if receiver.version is not None:
            self.firmware = receiver.version
        else:
            self.firmware = self.firmware + 1 if self.next_firmware is None else self.next_firmware
        self._reboot_later()

    def request_upgrade(self) -> None:
        """0x05: ask the server for an upgrade (an old F8 station: send it from packet 1)."""
        self.send(UpgradeRequest(self.device_type, self.firmware, 0))

    def _charge_control(self, frame: Frame, command: ChargeControl, forced: int | None) -> None:
        port, result, waiting = self._charge_result(command, forced)
        self.answer(frame, ChargeControlReply(result, command.order_no, port, waiting))
        if result != ChargeResult.DONE or forced is not None:
            return
        state = self.ports[port]
        if command.action == _ACTION_START and state.order is not None:
            self._update_limits(state.order, command)
        elif command.action == _ACTION_START:
            self._start(
                state,
                command.order_no,
                rate_mode=command.rate_mode,
                value=command.value,
                start_mode=START_MODE_ONLINE,
                card_id=0,
                max_duration_s=command.max_duration_s,
                max_power_w=command.max_power_w,
            )
        else:
            # After a successful stop the station settles soon (docs/protocol.md 4, 0x82).
            self._finish(state, StopReason.SERVER.value)

    def _charge_result(self, command: ChargeControl, forced: int | None) -> tuple[int, int, int]:
        """(port, result, waiting_ports) of a 0x82 (docs/protocol.md 7.2)."""
        port = command.port
        if forced is not None:
            return port, forced, 0
        start = command.action == _ACTION_START
        if port == PORT_ANY:
            if start:
                # The station picks the port with a charger waiting; several is result 5.
                waiting = [
                    s.index
                    for s in self.ports
                    if s.plugged and s.order is None and s.forced_status is None
                ]
                if not waiting:
                    return port, ChargeResult.NO_CHARGER, 0
                if len(waiting) > 1:
                    bits = sum(1 << index for index in waiting)
                    return port, ChargeResult.SEVERAL_PORTS_WAITING, bits
                port = waiting[0]
            else:
                running = [s.index for s in self.ports if s.order is not None]
                matching = [i for i in running if self._order_no(i) == command.order_no]
                if not matching:
                    return port, ChargeResult.ALREADY_IN_STATE, 0
                port = matching[0]
        if port >= self.port_count:
            return port, ChargeResult.NO_SUCH_PORT, 0
        state = self.ports[port]
        if state.forced_status is not None and is_fault_status(state.forced_status):
            return port, ChargeResult.PORT_FAULT, 0
        if start:
            if state.order is not None:
                # The running order's own start again sets its limits (docs/protocol.md 4,
                # 0x82: max_duration and max_power apply to the current order).
                same = state.order.order_no == command.order_no
                return port, ChargeResult.DONE if same else ChargeResult.ALREADY_IN_STATE, 0
            if not state.plugged:
                return port, ChargeResult.NO_CHARGER, 0
            return port, ChargeResult.DONE, 0
        # A stop must carry the running order's number, else the station ignores it
        # (docs/protocol.md 4); the simulator answers "already in that state" then.
        if state.order is None or state.order.order_no != command.order_no:
            return port, ChargeResult.ALREADY_IN_STATE, 0
        return port, ChargeResult.DONE, 0

    @staticmethod
    def _update_limits(order: SimulatedOrder, command: ChargeControl) -> None:
        """A repeated start of the running order: new limits, 0 keeping the current one."""
        if command.max_power_w:
            order.plateau_power_w = min(order.plateau_power_w, command.max_power_w)
            order.start_power_w = min(order.start_power_w, order.plateau_power_w)
        if command.max_duration_s:
            order.max_duration_s = float(command.max_duration_s)

    def _order_no(self, port: int) -> bytes | None:
        order = self.ports[port].order
        return None if order is None else order.order_no

    def _modify(self, command: ModifyCharge) -> int:
        """0x8A: 0 ok, 1 not charging, 2 below what already ran, 3 bad mode or port."""
        if command.mode > 2 or command.port >= self.port_count:
            return 3
        state = self.ports[command.port]
        order = state.order
        if order is None:
            return 1
        now_s = order.elapsed_s(asyncio.get_running_loop().time())
        energy_mode = command.mode == 2
        ran = order.energy_kwh(now_s) * 100 if energy_mode else now_s
        if command.value and command.value < ran:
            return 2
        order.set_limit(energy_mode, command.value)
        self._schedule_charge(state)
        return 0

    # -- charging ------------------------------------------------------------------------

    def _start(
        self,
        state: SimulatedPort,
        order_no: bytes,
        *,
        rate_mode: int,
        value: int,
        start_mode: int,
        card_id: int,
        max_duration_s: int | None = None,
        max_power_w: float | None = None,
    ) -> None:
        low, high = self.power_range_w
        plateau = self._random.uniform(low + (high - low) / 2, high)
        if max_power_w:
            plateau = min(plateau, max_power_w)
        station_limit = self.settings[Limits.COMMAND]
        assert isinstance(station_limit, Limits)
        order = SimulatedOrder(
            order_no=order_no,
            rate_mode=rate_mode,
            start_mode=start_mode,
            card_id=card_id,
            max_duration_s=float(max_duration_s or station_limit.max_duration_s),
            start_power_w=min(low, plateau),
            plateau_power_w=plateau,
            started=asyncio.get_running_loop().time(),
            speed=self.speed,
        )
        order.set_limit(rate_mode == _RATE_MODE_ENERGY, value)
        state.order = order
        state.full = False
        self._schedule_charge(state)
        self._port_changed()

    def _schedule_charge(self, state: SimulatedPort) -> None:
        previous = self._charging.pop(state.index, None)
        if previous is not None:
            previous.cancel()
        self._charging[state.index] = self._spawn(self._charge(state))

    async def _charge(self, state: SimulatedPort) -> None:
        """Report power every ``power_interval`` and stop at the order's end (7.3)."""
        order = state.order
        assert order is not None
        loop = asyncio.get_running_loop()
        while True:
            end_s, reason = order.end(self.full_energy_kwh)
            target = min(end_s, order.last_report_s + self.power_interval)
            delay = (target - order.elapsed_s(loop.time())) / self.speed
            if delay > 0:
                await asyncio.sleep(delay)
            if target >= end_s:
                self._charging.pop(state.index, None)
                self._finish(state, reason, at_s=end_s)
                return
            self._send_power(state, order, order.last_report_s, target)
            order.last_report_s = target
            order.reports += 1

    def _send_power(
        self, state: SimulatedPort, order: SimulatedOrder, t0: float, t1: float
    ) -> None:
        """One 0x06 power heartbeat for the interval t0..t1 (docs/protocol.md 3)."""
        power = order.power_w(t1)
        average = (order.energy_ws(t1) - order.energy_ws(t0)) / (t1 - t0) if t1 > t0 else power
        temperature = 0 if self.temperature_c is None else self.temperature_c + 65
        self.send(
            PowerHeartbeat(
                port=state.index,
                status=1,
                duration_s=int(t1),
                energy_kwh=round(order.energy_kwh(t1), 2),
                start_mode=order.start_mode,
                power_w=round(power, 1),
                max_power_w=round(max(power, order.power_w(t0)), 1),
                min_power_w=round(min(power, order.power_w(t0)), 1),
                avg_power_w=round(average, 1),
                order_no=order.order_no,
                interval_energy_raw=0,
                peak_power_w=round(power, 1),
                voltage_v=self.voltage_v,
                current_a=round(power / self.voltage_v, 3),
                ambient_temp_raw=temperature,
                port_temp_raw=temperature + 5 if temperature else 0,
                timestamp=int(time.time()),
            )
        )

    def _finish(self, state: SimulatedPort, reason: int, at_s: float | None = None) -> None:
        """End the order and send its settlement, resent until acknowledged (0x03)."""
        order = state.order
        assert order is not None
        task = self._charging.pop(state.index, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        t = order.elapsed_s(asyncio.get_running_loop().time()) if at_s is None else at_s
        settlement = Settlement(
            duration_s=int(t),
            max_power_w=round(order.power_w(t), 1),
            energy_kwh=round(order.energy_kwh(t), 2),
            port=state.index,
            start_mode=order.start_mode,
            card_id=order.card_id,
            stop_reason=reason,
            order_no=order.order_no,
            second_max_power_w=round(order.power_w(min(t, SECOND_MAX_WINDOW_S)), 1),
            timestamp=int(time.time()),
        )
        state.order = None
        state.full = reason == StopReason.FULL
        self.settlements.append(settlement)
        message_id = self.send(settlement)
        self.pending_settlements[message_id] = settlement
        self._port_changed()


class SimulatedHost(_Endpoint):
    """A host gateway (kind 09/0A) relaying sub-stations over its one connection.

    It sends the ICCID, a 0x11 host heartbeat (every ``host_heartbeat_interval``) and a 0x12
    time request; its sub-stations then talk through it (docs/protocol.md 1, "Host gateways").
    It answers every command with result 0: 0x31 reboots it, 0x32 restarts its module (the
    connection drops and comes back), 0x34 is kept in ``server_address`` and 0x33 counted in
    ``sub_upgrade_clears``. Firmware: an empty FA then 200-byte FA packets, or, for host type
    01 (the old RS-485 host), 256-byte F9 packets from packet 1; ``request_upgrade`` sends
    0x15. It comes back with ``next_firmware``.
    """

    def __init__(
        self,
        physical_id: int,
        sub_stations: Iterable[SimulatedStation] = (),
        *,
        iccid: str | None = None,
        firmware: int = 101,
        host_type: int = 0x50,
        module_type: int = 0x06,
        host_heartbeat_interval: float = 1800.0,
        link_interval: float = 30.0,
        reply_timeout: float = 15.0,
        reboot_delay: float = 1.0,
        reconnect_delay: float = 5.0,
        auto_reconnect: bool = True,
        speed: float = 1.0,
    ) -> None:
        super().__init__(
            physical_id,
            iccid=iccid,
            speed=speed,
            link_interval=link_interval,
            reply_timeout=reply_timeout,
            auto_reconnect=auto_reconnect,
            reconnect_delay=reconnect_delay,
        )
        self.firmware = firmware
        self.host_type = host_type
        self.module_type = module_type
        self.host_heartbeat_interval = host_heartbeat_interval
        self.reboot_delay = reboot_delay
        self.reboots = 0
        # 0x34 / 0x32 / 0x33, for the tests to read.
        self.server_address: ChangeServerAddress | None = None
        self.module_reboots = 0
        self.sub_upgrade_clears = 0
        self.sub_stations: dict[int, SimulatedStation] = {}
        for station in sub_stations:
            self.add(station)

    def add(self, station: SimulatedStation) -> SimulatedStation:
        """Put a station behind this host (before connecting)."""
        station._host = self
        self.sub_stations[station.physical_id] = station
        return station

    def route(self, physical_id: int) -> _Endpoint | None:
        if physical_id == self.physical_id:
            return self
        return self.sub_stations.get(physical_id)

    def wire_up(self) -> None:
        super().wire_up()
        for station in self.sub_stations.values():
            station.connected.set()
            station._start_session()

    def wire_lost(self, wire: _Wire) -> None:
        if wire is self._wire:
            for station in self.sub_stations.values():
                station.connected.clear()
                station._end_session()
        super().wire_lost(wire)

    async def close(self) -> None:
        for station in self.sub_stations.values():
            await station.close()
        await super().close()

    async def _module_restart(self) -> None:
        await asyncio.sleep(self.reboot_delay / self.speed)
        await self.reconnect()

    def host_heartbeat_message(self) -> HostHeartbeat:
        return HostHeartbeat(
            firmware=self.firmware,
            rtc=1,
            host_time=int(time.time()),
            signal=31,
            module_type=self.module_type,
            iccid=self.iccid,
            host_type=self.host_type,
            frequency=0,
        )

    def _upgraded(self, receiver: FirmwareReceiver) -> None:
        self.firmware = self.firmware + 1 if self.next_firmware is None else self.next_firmware
        self.firmware_receiver = None
        self._reboot_later()

    def request_upgrade(self) -> None:
        """0x15 (the old RS-485 host): ask the server to send the F9 image from packet 1."""
        self.send(HostUpgradeRequest())

    async def _run_session(self) -> None:
        self.send(self.host_heartbeat_message())
        await self.exchange(HostTimeRequest())
        while True:
            await asyncio.sleep(self.host_heartbeat_interval / self.speed)
            self.send(self.host_heartbeat_message())
            if not self.time_synced.is_set():
                self.send(HostTimeRequest())

    def _command(self, frame: Frame, command: DownstreamCommand) -> None:
        if isinstance(command, QueryStatus):
            return
        if isinstance(command, HostUpgradeStart):
            # Host document 4.4: the reply (result, 0000) also asks for packet 1.
            self.firmware_receiver = FirmwareReceiver(
                self.host_type, check_packet=False, packet_size=PACKET_SIZE
            )
            self.answer(frame, FirmwareReply(command.command, 0, 0))
            return
        if isinstance(command, FirmwarePacket):
            method = host_method(self.host_type)
            if self.firmware_receiver is None and not method.start:
                # F9 (the old RS-485 host): packet 1 starts the upgrade, 256-byte packets.
                self.firmware_receiver = FirmwareReceiver(
                    self.host_type, check_packet=False, packet_size=method.packet_size
                )
            if self.firmware_receiver is None:
                self.answer(frame, FirmwareReply(command.command, RESULT_RESEND, 0))
            else:
                self._firmware_packet(frame, command, self.firmware_receiver)
            return
        self._result(frame)
        if frame.command in self.forced_results:
            return
        if isinstance(command, HostReboot):
            self._reboot_later()
        elif isinstance(command, ModuleReboot):
            # The communication module restarts: the connection drops and comes back.
            self.module_reboots += 1
            self._spawn(self._module_restart())
        elif isinstance(command, ChangeServerAddress):
            # A real host would dial the new server; the simulator keeps its connection.
            self.server_address = command
        elif isinstance(command, ClearSubUpgrade):
            self.sub_upgrade_clears += 1


class StationSimulator:
    """Many simulated stations and host gateways against one server.

    ``add_station``/``add_stations``/``add_host`` before ``start``; ``start`` connects them
    (at most ``connect_concurrency`` at a time, so a large fleet does not overflow the
    server's listen backlog); ``stop`` closes everything. Also an async context manager.
    """

    def __init__(
        self, host: str, port: int, *, speed: float = 1.0, connect_concurrency: int = 64
    ) -> None:
        self.host = host
        self.port = port
        self.speed = speed
        self.connect_concurrency = connect_concurrency
        self.stations: list[SimulatedStation] = []
        self.hosts: list[SimulatedHost] = []
        self._direct: list[SimulatedStation] = []

    async def __aenter__(self) -> StationSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def add_station(self, station: SimulatedStation) -> SimulatedStation:
        """A station with its own connection."""
        self.stations.append(station)
        self._direct.append(station)
        return station

    def add_stations(
        self, count: int, *, first_id: int = 0x04A228CD, **station_options: object
    ) -> list[SimulatedStation]:
        """``count`` stations with consecutive physical ids, each on its own connection.

        ``station_options`` go to ``SimulatedStation`` (``speed`` defaults to the
        simulator's).
        """
        station_options.setdefault("speed", self.speed)
        return [
            self.add_station(SimulatedStation(first_id + offset, **station_options))  # type: ignore[arg-type]
            for offset in range(count)
        ]

    def add_host(
        self,
        host_id: int,
        sub_stations: Iterable[SimulatedStation],
        **host_options: object,
    ) -> SimulatedHost:
        """A host gateway with its sub-stations on one connection."""
        host_options.setdefault("speed", self.speed)
        host = SimulatedHost(host_id, **host_options)  # type: ignore[arg-type]
        for station in sub_stations:
            self.stations.append(host.add(station))
        self.hosts.append(host)
        return host

    def station(self, device_id: str) -> SimulatedStation:
        """The station with this device id ("04A228CD"); KeyError when unknown."""
        physical_id = parse_physical_id(device_id)
        for station in self.stations:
            if station.physical_id == physical_id:
                return station
        raise KeyError(device_id)

    async def start(self) -> None:
        """Connect every station and host.

        One refused connection does not stop the others: a station with ``auto_reconnect``
        keeps redialing in the background (a server still starting, a connect storm beyond
        the listen backlog); once every endpoint has tried, the first error of one without
        it is raised.
        """
        semaphore = asyncio.Semaphore(self.connect_concurrency)

        async def connect(endpoint: _Endpoint) -> None:
            async with semaphore:
                try:
                    await endpoint.connect(self.host, self.port)
                except OSError:
                    if not endpoint.redial_after_failed_connect():
                        raise

        endpoints: Sequence[_Endpoint] = [*self._direct, *self.hosts]
        results = await asyncio.gather(
            *(connect(endpoint) for endpoint in endpoints), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def stop(self) -> None:
        """Close every connection and stop every task."""
        endpoints: Sequence[_Endpoint] = [*self._direct, *self.hosts]
        await asyncio.gather(*(endpoint.close() for endpoint in endpoints))

    async def wait_registered(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until every station's register has been acknowledged."""
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(station.registered.wait() for station in self.stations))

    def totals(self) -> dict[str, int]:
        """Fleet-wide counters."""
        stations = self.stations
        return {
            "stations": len(stations),
            "registered": sum(station.registered.is_set() for station in stations),
            "charging_ports": sum(len(station.charging_ports()) for station in stations),
            "frames_sent": sum(station.frames_sent for station in stations),
            "frames_received": sum(station.frames_received for station in stations),
            "settlements": sum(len(station.settlements) for station in stations),
            "settlements_acknowledged": sum(s.settlements_acknowledged for s in stations),
        }


# -- command line ----------------------------------------------------------------------------


def _physical_id(text: str) -> int:
    try:
        return parse_physical_id(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m custom_components.iot_zinx.protocol.simulator",
        description="Simulate AP3000 charging stations talking DNY to a server.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="server address")
    parser.add_argument("--port", type=int, default=7054, help="server port")
    parser.add_argument("--stations", type=int, default=1, help="number of stations")
    parser.add_argument("--ports", type=int, default=2, help="ports per station")
    parser.add_argument(
        "--first-id", type=_physical_id, default=0x04A228CD, help="first physical id (hex)"
    )
    parser.add_argument("--speed", type=float, default=1.0, help="divide every interval by X")
    parser.add_argument(
        "--autoplug", action="store_true", help="plug chargers in, ready for the server to start"
    )
    parser.add_argument(
        "--charge-fraction",
        type=float,
        default=1.0,
        help="with --autoplug: the fraction of ports with a charger plugged in",
    )
    parser.add_argument(
        "--host-gateway",
        type=int,
        default=0,
        metavar="K",
        help="put the stations behind K host gateways (ids 09A00001...)",
    )
    parser.add_argument("--heartbeat-interval", type=float, default=180.0)
    parser.add_argument("--power-interval", type=float, default=300.0)
    parser.add_argument("--report-every", type=float, default=10.0, help="seconds between totals")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def build_simulator(args: argparse.Namespace) -> StationSimulator:
    simulator = StationSimulator(args.host, args.port, speed=args.speed)
    stations = [
        SimulatedStation(
            args.first_id + offset,
            args.ports,
            speed=args.speed,
            heartbeat_interval=args.heartbeat_interval,
            power_interval=args.power_interval,
        )
        for offset in range(args.stations)
    ]
    if args.autoplug:
        # Deterministic choice: the same command line plugs the same ports.
        chooser = random.Random(args.first_id)
        for station in stations:
            for state in station.ports:
                state.plugged = chooser.random() < args.charge_fraction
    if args.host_gateway > 0:
        for index in range(args.host_gateway):
            simulator.add_host(0x09A00001 + index, stations[index :: args.host_gateway])
    else:
        for station in stations:
            simulator.add_station(station)
    return simulator


async def run(args: argparse.Namespace, stop: asyncio.Event | None = None) -> dict[str, int]:
    """Run the simulator until ``stop`` is set (or SIGINT/SIGTERM); returns the totals."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no signal handlers
            loop.add_signal_handler(signum, stop.set)
    simulator = build_simulator(args)
    await simulator.start()
    _LOGGER.info("%d stations connected to %s:%d", len(simulator.stations), args.host, args.port)
    try:
        while not stop.is_set():
            try:
                async with asyncio.timeout(args.report_every):
                    await stop.wait()
            except TimeoutError:
                _LOGGER.info("%s", simulator.totals())
    finally:
        await simulator.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return simulator.totals()


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
