"""Live connections and stations of one server: replies, command queues, timers.

``Connection`` is the ``asyncio.Protocol`` of one TCP connection. It splits the byte stream
(docs/protocol.md 1), answers what the gateway answers by itself (docs/protocol.md 6) and hands the
rest to the ``SessionRegistry``, which knows every live physical id, whichever connection it
arrived on: a host gateway relays its sub-stations over its own socket (docs/protocol.md 1), so
one connection carries several ids and commands for a sub-station go down the host's socket.

Everything here runs in the event loop thread; nothing blocks. The per-frame path is a few
dictionary look-ups besides decoding, and timers are re-armed lazily (a timer that fires
compares the last activity with its deadline instead of being rescheduled on every frame),
so thousands of stations cost a few thousand timer handles, not a reschedule per frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
import logging
import time
from typing import TYPE_CHECKING, Final

from .errors import CommandTimeoutError, MessageError, StationOfflineError
from .frame import Frame, format_physical_id
from .link import (
    ConnectionLogger,
    FrameLogger,
    OfflineReason,
    ServerConfig,
    ServerObserver,
    ServerStats,
    StationLink,
)
from .messages import (
    DOWNSTREAM_COMMANDS,
    UPSTREAM_COMMANDS,
    CardReply,
    CardSwipe,
    LegacyOrderConfirm,
    OrderConfirmReply,
    ResultReply,
    Settlement,
    TimeReply,
    UnknownMessage,
    decode_station_reply,
    decode_upstream,
)
from .stream import Garbage, Iccid, StreamSplitter

if TYPE_CHECKING:
    from .messages import DownstreamCommand, StationReply, UpstreamMessage

_LOGGER = logging.getLogger(__name__)

# Upstream commands (docs/protocol.md 3).
_CMD_LEGACY_HEARTBEAT: Final = 0x01
_CMD_CARD_SWIPE: Final = 0x02
_CMD_SETTLEMENT: Final = 0x03
_CMD_LEGACY_ORDER_CONFIRM: Final = 0x04
_CMD_HOST_HEARTBEAT: Final = 0x11
_CMD_HOST_TIME: Final = 0x12
_CMD_REGISTER: Final = 0x20
_CMD_HEARTBEAT: Final = 0x21
_CMD_TIME: Final = 0x22
_HEARTBEATS: Final = frozenset({_CMD_LEGACY_HEARTBEAT, _CMD_HEARTBEAT, _CMD_HOST_HEARTBEAT})
# Table 7.4: "card not registered", the answer when the observer could not decide.
_CARD_NOT_REGISTERED: Final = 1
# A station that does not read what we send is dead; do not queue replies for it forever.
MAX_WRITE_BUFFER: Final = 64 * 1024


@dataclass(slots=True)
class _Pending:
    """The one command of a station waiting for its reply."""

    command: int
    message_id: int
    future: asyncio.Future[StationReply]


class CommandChannel:
    """The command queue of one physical id; it outlives connections.

    docs/protocol.md 2: every new command gets a new message id, a resend keeps it, and two
    commands to one station are at least ``command_spacing`` apart. The lock is FIFO, so
    commands go out one at a time in the order they were requested.
    """

    __slots__ = ("last_message_id", "lock", "next_send_at", "pending")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.last_message_id = 0
        self.next_send_at = 0.0
        self.pending: _Pending | None = None

    def next_message_id(self) -> int:
        self.last_message_id = (self.last_message_id + 1) & 0xFFFF
        return self.last_message_id


class StationSession:
    """One physical id on one connection: its public link and its heartbeat timer."""

    __slots__ = ("connection", "link", "seen", "timer")

    def __init__(self, link: StationLink, connection: Connection, seen: float) -> None:
        self.link = link
        self.connection = connection
        # Monotonic (loop) time of the last frame; the link's last_seen is the Unix time.
        self.seen = seen
        self.timer: asyncio.TimerHandle | None = None


class SessionRegistry:
    """Every live connection and station of one server, and the command queues."""

    def __init__(
        self,
        config: ServerConfig,
        observer: ServerObserver,
        *,
        frame_logger: FrameLogger | None = None,
        connection_logger: ConnectionLogger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.observer = observer
        self.frame_logger = frame_logger
        self.connection_logger = connection_logger
        self.clock = clock
        self.stats = ServerStats()
        self.connections: set[Connection] = set()
        self.sessions: dict[int, StationSession] = {}
        self.channels: dict[int, CommandChannel] = {}
        # Physical ids that ever sent 0x21: from then on their 0x01 is not answered
        # (docs/protocol.md 3, "answer only one kind").
        self.modern_heartbeat: set[int] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False
        self._next_conn_id = 0
        self._refusing = 0  # connections refused since the last one accepted

    # -- connections ---------------------------------------------------------------------

    def new_connection(self) -> Connection:
        """Protocol factory for the listener."""
        self._next_conn_id += 1
        return Connection(self, self._next_conn_id)

    def connection_opened(self, conn: Connection) -> bool:
        """Count a new connection; False when it must be refused (max_connections)."""
        stats = self.stats
        if self.closing or stats.connections_open >= self.config.max_connections:
            stats.connections_refused += 1
            if not self._refusing:
                # Log once per burst: a station fleet reconnecting after an outage would
                # otherwise write thousands of lines.
                _LOGGER.warning(
                    "Refusing connections: %d are open, the limit is %d",
                    stats.connections_open,
                    self.config.max_connections,
                )
            self._refusing += 1
            self.log_connection("refused", conn, "max_connections")
            return False
        if self._refusing:
            _LOGGER.info("Accepting connections again after refusing %d", self._refusing)
            self._refusing = 0
        stats.connections_total += 1
        stats.connections_open += 1
        self.connections.add(conn)
        self.log_connection("open", conn, "")
        return True

    def connection_closed(self, conn: Connection, why: str) -> None:
        """The transport is gone: every station still on it is offline."""
        self.connections.discard(conn)
        self.stats.connections_open -= 1
        for session in list(conn.stations.values()):
            self.detach(session, OfflineReason.CONNECTION_LOST)
        self.log_connection("close", conn, why)

    def log_connection(self, event: str, conn: Connection, detail: str) -> None:
        if self.connection_logger is not None:
            try:
                self.connection_logger(event, conn.conn_id, conn.remote_addr, detail)
            except Exception:
                _LOGGER.exception("Connection logger failed")

    def log_frame(self, direction: str, link: StationLink | None, frame: Frame, addr: str) -> None:
        if self.frame_logger is not None:
            try:
                self.frame_logger(direction, link, frame, addr)
            except Exception:
                _LOGGER.exception("Frame logger failed")

    # -- stations ------------------------------------------------------------------------

    def attach(self, conn: Connection, physical_id: int) -> StationSession | None:
        """The first frame of a physical id on ``conn``: admit it and bring it online.

        Returns None when the frame must be ignored: the station is not admitted, or it is
        already live on a newer connection (the older one is a leftover the station has
        abandoned, so it does not take the id back).
        """
        device_id = format_physical_id(physical_id)
        admit = self.config.admit
        if admit is not None and not self._admitted(admit, device_id):
            if physical_id not in conn.rejected:
                conn.rejected.add(physical_id)
                self.stats.rejected_stations += 1
                _LOGGER.info("Station %s is not admitted; ignoring its frames", device_id)
            self.stats.rejected_frames += 1
            return None
        existing = self.sessions.get(physical_id)
        if existing is not None:
            old_conn = existing.connection
            if old_conn.conn_id > conn.conn_id:
                self.stats.rejected_frames += 1
                return None
            # The station reconnected (its module redialled, or it moved to another host):
            # the newer connection wins, the old link ends.
            self.stats.replaced_links += 1
            _LOGGER.info(
                "Station %s moved from %s to %s", device_id, old_conn.remote_addr, conn.remote_addr
            )
            self.detach(existing, OfflineReason.MANUAL_DISCONNECT, replaced=True)
            if not old_conn.stations:
                old_conn.close("replaced")
        now = self.clock()
        link = StationLink(
            physical_id=physical_id,
            device_id=device_id,
            conn_id=conn.conn_id,
            remote_addr=conn.remote_addr,
            connected_at=now,
            iccid=conn.iccid,
            last_seen=now,
        )
        loop = conn.loop
        session = StationSession(link, conn, loop.time())
        session.timer = loop.call_at(
            session.seen + self.config.heartbeat_timeout, self._check_heartbeat, session
        )
        self.sessions[physical_id] = session
        conn.stations[physical_id] = session
        self.notify_online(link)
        return session

    @staticmethod
    def _admitted(admit: Callable[[str], bool], device_id: str) -> bool:
        try:
            return admit(device_id)
        except Exception:
            _LOGGER.exception("Admission check failed for %s; refusing it", device_id)
            return False

    def _check_heartbeat(self, session: StationSession) -> None:
        """Timer: offline when no frame came within heartbeat_timeout (docs/protocol.md 6)."""
        # detach() cancels the timer, so the session is still the live one.
        session.timer = None
        loop = session.connection.loop
        deadline = session.seen + self.config.heartbeat_timeout
        if loop.time() >= deadline:
            self.detach(session, OfflineReason.HEARTBEAT_TIMEOUT)
        else:
            session.timer = loop.call_at(deadline, self._check_heartbeat, session)

    def detach(
        self, session: StationSession, reason: OfflineReason, *, replaced: bool = False
    ) -> None:
        """End a station's link and tell the observer.

        A waiting command fails with ``StationOfflineError``, except when the station was
        ``replaced`` by a newer connection: then its resend goes down the new one.
        """
        link = session.link
        physical_id = link.physical_id
        # Only live sessions are detached: those of a connection's stations or the registry's
        # current one, which are the same objects.
        self.sessions.pop(physical_id, None)
        session.connection.stations.pop(physical_id, None)
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        if not replaced:
            channel = self.channels.get(physical_id)
            if channel is not None and channel.pending is not None:
                future = channel.pending.future
                if not future.done():
                    future.set_exception(StationOfflineError(link.device_id))
        _LOGGER.debug("Station %s offline: %s", link.device_id, reason)
        try:
            self.observer.station_offline(link, reason)
        except Exception:
            self.stats.observer_errors += 1
            _LOGGER.exception("Observer failed on station_offline of %s", link.device_id)

    def notify_online(self, link: StationLink) -> None:
        _LOGGER.debug("Station %s online from %s", link.device_id, link.remote_addr)
        try:
            self.observer.station_online(link)
        except Exception:
            self.stats.observer_errors += 1
            _LOGGER.exception("Observer failed on station_online of %s", link.device_id)

    def reply_received(self, session: StationSession, frame: Frame) -> None:
        """A frame whose command is not upstream: the reply to a downstream command.

        It matches the waiting command by physical id, command and message id
        (docs/protocol.md 2: a reply echoes both); anything else is late or unknown.
        """
        channel = self.channels.get(frame.physical_id)
        pending = channel.pending if channel is not None else None
        if (
            pending is None
            or pending.command != frame.command
            or pending.message_id != frame.message_id
            or pending.future.done()
        ):
            self._unexpected(session, frame)
            return
        try:
            reply = decode_station_reply(frame.command, frame.payload)
        except Exception as err:  # MessageError, or a decoder bug: one frame lost either way
            # Leave the command waiting: the resend may get a better answer.
            self.stats.message_errors += 1
            _LOGGER.warning("Bad reply from %s: %s", session.link.device_id, err)
            return
        pending.future.set_result(reply)

    def _unexpected(self, session: StationSession, frame: Frame) -> None:
        """A late reply (after a timeout or a duplicate) or a command nobody knows."""
        if frame.command in DOWNSTREAM_COMMANDS:
            self.stats.unmatched_replies += 1
            _LOGGER.debug(
                "Unmatched reply 0x%02X (message id 0x%04X) from %s",
                frame.command,
                frame.message_id,
                session.link.device_id,
            )
            return
        self.stats.unknown_commands += 1
        self.deliver(session.link, UnknownMessage(frame.command, frame.payload))

    def deliver(self, link: StationLink, message: UpstreamMessage) -> None:
        try:
            self.observer.message_received(link, message)
        except Exception:
            self.stats.observer_errors += 1
            _LOGGER.exception("Observer failed on a message of %s", link.device_id)

    # -- commands ------------------------------------------------------------------------

    async def request(
        self, physical_id: int, command: DownstreamCommand, *, expect_reply: bool
    ) -> StationReply | None:
        """Send a downstream command and wait for its reply (docs/protocol.md 2 and 4)."""
        device_id = format_physical_id(physical_id)
        if physical_id not in self.sessions:
            raise StationOfflineError(device_id)
        channel = self.channels.get(physical_id)
        if channel is None:
            channel = self.channels[physical_id] = CommandChannel()
        code = command.command
        payload = command.encode()
        async with channel.lock:
            frame = Frame(physical_id, channel.next_message_id(), code, payload)
            if not expect_reply:
                await self._send_command(channel, frame)
                return None
            loop = asyncio.get_running_loop()
            future: asyncio.Future[StationReply] = loop.create_future()
            channel.pending = _Pending(code, frame.message_id, future)
            try:
                for attempt in range(2):
                    if attempt:
                        self.stats.resends += 1
                        _LOGGER.debug(
                            "Resending 0x%02X (message id 0x%04X) to %s",
                            code,
                            frame.message_id,
                            device_id,
                        )
                    await self._send_command(channel, frame)
                    # asyncio.wait does not cancel the future on timeout, so a reply that
                    # races the timer is still taken.
                    done, _ = await asyncio.wait((future,), timeout=self.config.reply_timeout)
                    if done:
                        return future.result()
                self.stats.timeouts += 1
                raise CommandTimeoutError(device_id, code, frame.message_id)
            finally:
                channel.pending = None
                if future.done():
                    if not future.cancelled():
                        future.exception()  # retrieved, so asyncio does not warn about it
                else:
                    future.cancel()

    async def _send_command(self, channel: CommandChannel, frame: Frame) -> None:
        """Send once the spacing allows it, on the station's current connection."""
        loop = asyncio.get_running_loop()
        delay = channel.next_send_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        session = self.sessions.get(frame.physical_id)
        if session is None:
            raise StationOfflineError(format_physical_id(frame.physical_id))
        session.connection.send(frame, session.link)
        channel.next_send_at = loop.time() + self.config.command_spacing

    # -- shutdown ------------------------------------------------------------------------

    def disconnect(self, physical_id: int) -> bool:
        """Close the connection carrying a station; its stations go offline (MANUAL_DISCONNECT).

        False when the station is not online.
        """
        session = self.sessions.get(physical_id)
        if session is None:
            return False
        conn = session.connection
        for other in list(conn.stations.values()):
            self.detach(other, OfflineReason.MANUAL_DISCONNECT)
        conn.close("disconnect")
        return True

    def shut_down(self) -> list[Connection]:
        """Every station offline (SYSTEM_SHUTDOWN), every connection closed, tasks cancelled.

        Returns the connections it closed, which may still be flushing.
        """
        self.closing = True
        for session in list(self.sessions.values()):
            self.detach(session, OfflineReason.SYSTEM_SHUTDOWN)
        closed = list(self.connections)
        for conn in closed:
            conn.close("shutdown")
        for task in list(self.tasks):
            task.cancel()
        return closed


class Connection(asyncio.Protocol):
    """One TCP connection: a station, or a host gateway and its sub-stations."""

    transport: asyncio.Transport  # set by connection_made, before anything else runs

    __slots__ = (
        "_garbage_logged",
        "_identify_timer",
        "_idle_timer",
        "_registry",
        "_splitter",
        "accepted",
        "closed",
        "conn_id",
        "iccid",
        "identified",
        "last_data",
        "loop",
        "rejected",
        "remote_addr",
        "stations",
        "transport",
    )

    def __init__(self, registry: SessionRegistry, conn_id: int) -> None:
        self._registry = registry
        self.conn_id = conn_id
        self.loop = asyncio.get_running_loop()
        self.remote_addr = "?"
        self.iccid: str | None = None
        self.stations: dict[int, StationSession] = {}
        self.rejected: set[int] = set()
        self.accepted = False
        self.identified = False
        self.closed = False
        self.last_data = 0.0
        self._splitter = StreamSplitter(registry.config.max_buffer)
        self._garbage_logged = False
        self._identify_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.remote_addr = f"{peer[0]}:{peer[1]}"
        registry = self._registry
        if not registry.connection_opened(self):
            self.closed = True
            transport.abort()
            return
        self.accepted = True
        config = registry.config
        now = self.loop.time()
        self.last_data = now
        self._identify_timer = self.loop.call_at(
            now + config.identify_timeout, self._identify_expired
        )
        self._idle_timer = self.loop.call_at(now + config.idle_timeout, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timers()
        if self.accepted:
            self.accepted = False
            self._registry.connection_closed(self, "lost" if exc is None else f"lost: {exc}")

    def eof_received(self) -> bool:
        # The station half-closed: nothing more will come, so close our side too.
        return False

    def data_received(self, data: bytes) -> None:
        self.last_data = self.loop.time()
        registry = self._registry
        splitter = self._splitter
        bad_before = splitter.bad_frames
        skipped_before = splitter.skipped_bytes
        for item in splitter.feed(data):
            if isinstance(item, Frame):
                self._frame_received(item)
            elif isinstance(item, Iccid):
                self._iccid_received(item.value)
            elif isinstance(item, Garbage):
                if not self._garbage_logged:
                    # Once per connection: a peer sending endless noise must not flood the
                    # log; the rest is counted in skipped_bytes / bad_frames.
                    self._garbage_logged = True
                    _LOGGER.debug(
                        "Skipped %d bytes from %s: %s (further garbage is only counted)",
                        len(item.data),
                        self.remote_addr,
                        item.data[:64].hex(" "),
                    )
                registry.log_connection("garbage", self, item.data.hex(" ").upper())
            # Link: the idle keepalive (docs/protocol.md 1) only refreshes last_data.
        stats = registry.stats
        stats.bad_frames += splitter.bad_frames - bad_before
        stats.skipped_bytes += splitter.skipped_bytes - skipped_before

    # -- sending and closing -------------------------------------------------------------

    def send(self, frame: Frame, link: StationLink | None) -> None:
        """Write one frame; a peer that stopped reading is aborted."""
        if self.closed:
            return
        transport = self.transport
        transport.write(frame.encode())
        registry = self._registry
        registry.stats.frames_out += 1
        registry.log_frame("out", link, frame, self.remote_addr)
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            registry.stats.slow_readers_closed += 1
            _LOGGER.warning("%s does not read what it is sent; closing", self.remote_addr)
            self.closed = True
            transport.abort()

    def close(self, why: str) -> None:
        """Close the transport; stations still on it go offline when it is gone."""
        if self.closed:
            return
        self.closed = True
        self._cancel_timers()
        _LOGGER.debug("Closing %s: %s", self.remote_addr, why)
        self.transport.close()
        # Do the bookkeeping now rather than in connection_lost, which comes a loop
        # iteration later (or never, if the loop stops first).
        self.accepted = False
        self._registry.connection_closed(self, why)

    def abort(self) -> None:
        """Drop the transport without flushing (shutdown of a peer that does not read)."""
        self.transport.abort()

    def _cancel_timers(self) -> None:
        if self._identify_timer is not None:
            self._identify_timer.cancel()
            self._identify_timer = None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _identify_expired(self) -> None:
        # Cancelled by the first admitted frame, so nothing identified this connection.
        self._identify_timer = None
        self._registry.stats.unidentified_closed += 1
        _LOGGER.debug("%s sent no valid frame in time; closing", self.remote_addr)
        self.close("identify_timeout")

    def _check_idle(self) -> None:
        """Timer: close a connection that sent nothing at all for idle_timeout."""
        self._idle_timer = None
        deadline = self.last_data + self._registry.config.idle_timeout
        if self.loop.time() >= deadline:
            self._registry.stats.idle_closed += 1
            _LOGGER.debug("%s idle; closing", self.remote_addr)
            self.close("idle_timeout")
        else:
            self._idle_timer = self.loop.call_at(deadline, self._check_idle)

    # -- incoming items ------------------------------------------------------------------

    def _iccid_received(self, iccid: str) -> None:
        # docs/protocol.md 1: sent once after connecting; every station of the connection
        # (a host's sub-stations included) shares the SIM.
        self.iccid = iccid
        for session in self.stations.values():
            session.link.iccid = iccid
        self._registry.log_connection("iccid", self, iccid)

    def _frame_received(self, frame: Frame) -> None:
        if self.closed:
            # Closed by an earlier item of the same read (an observer disconnected it).
            return
        registry = self._registry
        registry.stats.frames_in += 1
        session = self.stations.get(frame.physical_id)
        if session is None:
            session = registry.attach(self, frame.physical_id)
            if session is None:
                registry.log_frame("in", None, frame, self.remote_addr)
                return
        if not self.identified:
            self.identified = True
            if self._identify_timer is not None:
                self._identify_timer.cancel()
                self._identify_timer = None
        link = session.link
        session.seen = self.loop.time()
        now = registry.clock()
        link.last_seen = now
        registry.log_frame("in", link, frame, self.remote_addr)
        command = frame.command
        if command not in UPSTREAM_COMMANDS:
            registry.reply_received(session, frame)
            return
        try:
            message = decode_upstream(command, frame.payload)
        except MessageError as err:
            # Counted, not logged above debug: a station repeating a short frame every few
            # minutes would flood the log (docs/protocol.md 2 already tolerates short payloads).
            registry.stats.message_errors += 1
            _LOGGER.debug(
                "Bad 0x%02X frame from %s: %s (payload %s)",
                command,
                link.device_id,
                err,
                frame.payload.hex(" "),
            )
            return
        except Exception:
            # A decoder bug must cost one frame, not the connection of every station on it.
            registry.stats.message_errors += 1
            _LOGGER.exception(
                "Cannot decode 0x%02X from %s (payload %s)",
                command,
                link.device_id,
                frame.payload.hex(" "),
            )
            return
        if command in _HEARTBEATS:
            link.last_heartbeat = now
        if command == _CMD_CARD_SWIPE:
            assert isinstance(message, CardSwipe)
            task = self.loop.create_task(self._decide_card(session, frame, message))
            registry.tasks.add(task)
            task.add_done_callback(registry.tasks.discard)
            return
        if command == _CMD_SETTLEMENT:
            assert isinstance(message, Settlement)
            # Started eagerly: the observer processes the settlement now, before the frames
            # behind it in the same read (events keep the station's order), and only the
            # write to storage is awaited.
            task = asyncio.Task(
                self._record_settlement(session, frame, message), loop=self.loop, eager_start=True
            )
            if task.done():
                return
            registry.tasks.add(task)
            task.add_done_callback(registry.tasks.discard)
            return
        reply = self._automatic_reply(frame, message, int(now))
        if reply is not None:
            self._reply(session, frame, reply)
        registry.deliver(link, message)

    def _automatic_reply(
        self, frame: Frame, message: UpstreamMessage, now: int
    ) -> ResultReply | TimeReply | OrderConfirmReply | None:
        """The gateway's own answers (docs/protocol.md 3 and 6)."""
        command = frame.command
        if command == _CMD_REGISTER:
            return ResultReply(command, 0)
        if command == _CMD_HEARTBEAT:
            self._registry.modern_heartbeat.add(frame.physical_id)
            return ResultReply(command, 0)
        if command == _CMD_LEGACY_HEARTBEAT:
            # Answer only one heartbeat kind: a station answered on 0x01 keeps sending both.
            if frame.physical_id in self._registry.modern_heartbeat:
                return None
            return ResultReply(command, 0)
        if command in (_CMD_TIME, _CMD_HOST_TIME):
            return TimeReply(command, now)
        if command == _CMD_LEGACY_ORDER_CONFIRM:
            assert isinstance(message, LegacyOrderConfirm)
            return OrderConfirmReply(message.port, 0)
        return None

    def _reply(
        self,
        session: StationSession,
        frame: Frame,
        reply: ResultReply | TimeReply | OrderConfirmReply | CardReply,
    ) -> None:
        # A reply echoes the command and the message id of what it answers (docs/protocol.md 2).
        out = Frame(frame.physical_id, frame.message_id, frame.command, reply.encode())
        self.send(out, session.link)

    async def _record_settlement(
        self, session: StationSession, frame: Frame, settlement: Settlement
    ) -> None:
        """Acknowledge a settlement once the observer has recorded it.

        Every copy is acknowledged (the station resends until it is, and deduplication
        belongs to whoever processes it), but only after ``settlement_received`` returned:
        the station deletes an acknowledged settlement (docs/protocol.md 3, 0x03).
        """
        registry = self._registry
        try:
            await registry.observer.settlement_received(session.link, settlement)
        except asyncio.CancelledError:
            raise
        except Exception:
            # No acknowledgement: the station keeps the settlement and sends it again.
            registry.stats.observer_errors += 1
            _LOGGER.exception(
                "Could not record a settlement of %s; it stays unacknowledged",
                session.link.device_id,
            )
            return
        if not self.closed and self.stations.get(frame.physical_id) is session:
            self._reply(session, frame, ResultReply(_CMD_SETTLEMENT, 0))

    async def _decide_card(self, session: StationSession, frame: Frame, swipe: CardSwipe) -> None:
        registry = self._registry
        try:
            reply = await registry.observer.card_swiped(session.link, swipe)
        except asyncio.CancelledError:
            raise
        except Exception:
            registry.stats.card_errors += 1
            _LOGGER.exception("Card decision failed for %s; refusing the card", swipe.card_id)
            reply = CardReply(
                card_id=swipe.card_id,
                account_status=_CARD_NOT_REGISTERED,
                rate_mode=0,
                balance_or_expiry=0,
                port=swipe.port,
            )
        if not self.closed and self.stations.get(frame.physical_id) is session:
            self._reply(session, frame, reply)
