"""The server's public value types: configuration, station links, observer, statistics.

They live apart from ``server.py`` so that ``session.py`` (which ``server.py`` imports) can
use them without an import cycle; ``server.py`` re-exports every name, and that is where
callers import them from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .frame import Frame
    from .messages import CardReply, CardSwipe, Settlement, UpstreamMessage


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
