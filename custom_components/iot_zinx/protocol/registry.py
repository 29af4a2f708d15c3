"""The live stations of one server: who is online on which connection, and their commands.

``SessionRegistry`` knows every live physical id, whichever connection it arrived on: a host
gateway relays its sub-stations over its own socket (docs/protocol.md 1), so one connection
carries several ids and commands for a sub-station go down the host's socket. It brings
stations online and offline (heartbeat timeout, docs/protocol.md 6), tells the
``ServerObserver``, matches replies to the waiting commands and sends commands with the
protocol's spacing, timeout and single resend (docs/protocol.md 2). One TCP connection is a
``connection.Connection``, which the registry creates (``new_connection``) and which calls back
into it.

The server's public value types (``ServerConfig``, ``StationLink``, ``OfflineReason``,
``ServerObserver``, ``ServerStats`` and the logger types) are defined here, with what keeps and
reports them; ``server.py`` re-exports them, and that is where callers import them from.

Everything here runs in the event loop thread; nothing blocks. Timers are re-armed lazily (a
timer that fires compares the last activity with its deadline instead of being rescheduled on
every frame), so thousands of stations cost a few thousand timer handles, not a reschedule per
frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
import logging
import time
from typing import TYPE_CHECKING, Protocol

from .connection import Connection
from .errors import CommandTimeoutError, StationOfflineError
from .frame import Frame, format_physical_id
from .messages import DOWNSTREAM_COMMANDS, UnknownMessage, decode_station_reply

if TYPE_CHECKING:
    from .messages import (
        CardReply,
        CardSwipe,
        DownstreamCommand,
        Settlement,
        StationReply,
        UpstreamMessage,
    )

_LOGGER = logging.getLogger(__name__)


class OfflineReason(StrEnum):
    """Why the server stopped considering a station online."""

    HEARTBEAT_TIMEOUT = "heartbeat_timeout"
    CONNECTION_LOST = "connection_lost"
    # Also used when a newer connection presents the same physical id and replaces the link.
    MANUAL_DISCONNECT = "manual_disconnect"
    SYSTEM_SHUTDOWN = "system_shutdown"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Listener address, timers and limits of a ``DnyServer``. Times are in seconds."""

    host: str = "0.0.0.0"
    port: int = 7054
    # More than two heartbeat periods of 3 min (docs/protocol.md 3 and 6).
    heartbeat_timeout: float = 420.0
    # docs/protocol.md 2: a reply within 15 s, else one resend; >= 0.5 s between two commands.
    reply_timeout: float = 15.0
    command_spacing: float = 0.5
    # Close a connection that sent no valid frame of an admitted station by then.
    identify_timeout: float = 60.0
    # Close a connection that sent nothing at all (not even ``link``) for that long.
    idle_timeout: float = 600.0
    max_connections: int = 10000
    # Bytes the stream splitter holds back per connection while a frame is incomplete.
    max_buffer: int = 4096
    # Station admission by device id ("04AB373B"); None admits every station.
    admit: Callable[[str], bool] | None = None


@dataclass(slots=True)
class StationLink:
    """The live view of one physical id on one connection (mutable, owned by the server).

    ``connected_at`` is when this link came online (the first admitted frame of the physical
    id on this connection); ``connected_at``, ``last_seen`` and ``last_heartbeat`` are Unix
    times. A sub-station behind a host gateway has the gateway's ``conn_id``,
    ``remote_addr`` and ``iccid``.
    """

    physical_id: int
    device_id: str
    conn_id: int
    remote_addr: str
    connected_at: float
    iccid: str | None
    last_seen: float
    last_heartbeat: float | None = None


class ServerObserver(Protocol):
    """What the server tells its owner. Called in the event loop; must not block.

    ``station_online`` comes before the first ``message_received`` of a physical id on a
    connection. Automatic replies (0x20, 0x21, 0x01, 0x22, 0x12, 0x04) are sent before
    ``message_received``. A card swipe (0x02) goes to ``card_swiped`` only, and its result
    is the reply. A settlement (0x03) goes to ``settlement_received`` only, and is
    acknowledged when that returns. Exceptions raised here are logged and never break the
    connection.
    """

    def station_online(self, link: StationLink) -> None:
        """A physical id sent its first admitted frame on a connection."""

    def message_received(self, link: StationLink, message: UpstreamMessage) -> None:
        """An upstream message (everything but 0x02 and 0x03), after the automatic reply."""

    def station_offline(self, link: StationLink, reason: OfflineReason) -> None:
        """The link ended; a later frame of the same id brings a new ``station_online``."""

    async def card_swiped(self, link: StationLink, swipe: CardSwipe) -> CardReply:
        """Decide a card swipe; the returned reply is sent to the station."""
        ...

    async def settlement_received(self, link: StationLink, settlement: Settlement) -> None:
        """Record a settlement (every copy: stations resend until acknowledged).

        The acknowledgement goes out when this returns, and a station deletes a settlement
        once acknowledged (docs/protocol.md 3, 0x03): store it durably before returning, or a
        crash in between loses it for good. Raising sends no acknowledgement, so the
        station sends it again later.
        """
        ...


@dataclass(slots=True)
class ServerStats:
    """Counters for diagnostics; they only ever grow, except ``connections_open``."""

    connections_total: int = 0
    connections_open: int = 0
    connections_refused: int = 0
    unidentified_closed: int = 0
    idle_closed: int = 0
    # Connections aborted because the peer stopped reading (over MAX_WRITE_BUFFER unsent).
    slow_readers_closed: int = 0
    frames_in: int = 0
    frames_out: int = 0
    bad_frames: int = 0
    skipped_bytes: int = 0
    message_errors: int = 0
    unknown_commands: int = 0
    # Replies to downstream commands that matched no waiting request (late or duplicate).
    unmatched_replies: int = 0
    resends: int = 0
    timeouts: int = 0
    # Physical ids refused by ``ServerConfig.admit`` (once per id and connection) and the
    # frames ignored because of it.
    rejected_stations: int = 0
    rejected_frames: int = 0
    # Stations that moved to a newer connection.
    replaced_links: int = 0
    # Card swipes whose observer failed, answered "card not registered".
    card_errors: int = 0
    # Observer callbacks that raised.
    observer_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for diagnostics and logs."""
        return asdict(self)


# (direction "in" / "out", the station's link or None when there is none, the frame, the
# connection's remote address "ip:port").
type FrameLogger = Callable[[str, StationLink | None, Frame, str], None]
# (event, connection id, remote address, detail). Events: "open", "close" (detail: why),
# "refused" (max_connections), "iccid" (detail: the ICCID), "garbage" (detail: hex bytes).
type ConnectionLogger = Callable[[str, int, str, str], None]


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
