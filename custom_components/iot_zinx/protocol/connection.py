"""One TCP connection of the server: a station, or a host gateway and its sub-stations.

``Connection`` is the ``asyncio.Protocol`` of one connection. It splits the byte stream
(docs/protocol.md 1), answers what the gateway answers by itself (docs/protocol.md 6), asks the
observer about card swipes and settlements, and hands everything else to the
``registry.SessionRegistry`` that created it, which knows every live physical id whichever
connection it arrived on.

Everything here runs in the event loop thread; nothing blocks. The per-frame path is a few
dictionary look-ups besides decoding, and the identify and idle timers are re-armed lazily (a
timer that fires compares the last activity with its deadline instead of being rescheduled on
every read).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

from .errors import MessageError
from .frame import Frame
from .messages import (
    UPSTREAM_COMMANDS,
    CardReply,
    CardSwipe,
    LegacyOrderConfirm,
    OrderConfirmReply,
    ResultReply,
    Settlement,
    TimeReply,
    decode_upstream,
)
from .stream import Garbage, Iccid, StreamSplitter

if TYPE_CHECKING:
    from .messages import UpstreamMessage
    from .registry import SessionRegistry, StationLink, StationSession

_LOGGER = logging.getLogger(__name__)

# Upstream commands (docs/protocol.md 3).
_CMD_LEGACY_HEARTBEAT: Final = 0x01
_CMD_CARD_SWIPE: Final = 0x02
_CMD_SETTLEMENT: Final = 0x03
_CMD_LEGACY_ORDER_CONFIRM: Final = 0x04
_CMD_HOST_HEARTBEAT: Final = 0x11
_CMD_HOST_TIME: Final = 0x12
_CMD_HOST_UPGRADE_REQUEST: Final = 0x15
_CMD_REGISTER: Final = 0x20
_CMD_HEARTBEAT: Final = 0x21
_CMD_TIME: Final = 0x22
_HEARTBEATS: Final = frozenset({_CMD_LEGACY_HEARTBEAT, _CMD_HEARTBEAT, _CMD_HOST_HEARTBEAT})
# Table 7.4: "card not registered", the answer when the observer could not decide.
_CARD_NOT_REGISTERED: Final = 1
# A station that does not read what we send is dead; do not queue replies for it forever.
MAX_WRITE_BUFFER: Final = 64 * 1024


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
            # LinkKeepalive: the idle keepalive (docs/protocol.md 1) only refreshes last_data.
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
        if command in (_CMD_REGISTER, _CMD_HOST_UPGRADE_REQUEST):
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
