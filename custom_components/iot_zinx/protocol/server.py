"""The DNY TCP server: one listener for every station and host gateway.

``DnyServer`` is the protocol package's front door. It listens, answers what a gateway
answers by itself (docs/protocol.md 6), tells a ``ServerObserver`` what the stations say, and
sends downstream commands with the protocol's spacing, timeout and single resend
(docs/protocol.md 2). The live stations and their command queues are in ``registry.py``, one
TCP connection in ``connection.py``; the public value types this module exports are defined in
``registry.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
import time
from typing import TYPE_CHECKING

from .errors import StationOfflineError
from .frame import parse_physical_id
from .registry import (
    ConnectionLogger,
    FrameLogger,
    OfflineReason,
    ServerConfig,
    ServerObserver,
    ServerStats,
    SessionRegistry,
    StationLink,
)

if TYPE_CHECKING:
    from .messages import DownstreamCommand, StationReply

__all__ = [
    "ConnectionLogger",
    "DnyServer",
    "FrameLogger",
    "OfflineReason",
    "ServerConfig",
    "ServerObserver",
    "ServerStats",
    "StationLink",
]

_LOGGER = logging.getLogger(__name__)

# How long stop() lets connections flush their last bytes before aborting them.
_CLOSE_GRACE = 2.0
# Connections the kernel completes and queues while the event loop is busy. asyncio's
# default of 100 overflows when a fleet redials at once after an outage (every module
# within seconds): the excess SYNs are dropped and retried with growing delays, so stations
# come back minutes late, or their connects time out. Linux caps it at net.core.somaxconn
# (4096 by default since 5.4).
_LISTEN_BACKLOG = 4096


class DnyServer:
    """Listen for stations, keep their links, and carry commands to them.

    ``frame_logger`` sees every frame in and out (the protocol console prints them);
    ``connection_logger`` sees connections open, close, be refused, send their ICCID or
    garbage. ``clock`` is the Unix-time source of time replies and link timestamps.
    """

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
        self._registry = SessionRegistry(
            config,
            observer,
            frame_logger=frame_logger,
            connection_logger=connection_logger,
            clock=clock,
        )
        self._server: asyncio.Server | None = None
        self._port = config.port

    @property
    def stats(self) -> ServerStats:
        """Counters for diagnostics."""
        return self._registry.stats

    @property
    def port(self) -> int:
        """The bound port (``config.port`` may be 0 to let the system choose)."""
        return self._port

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def serving(self) -> bool:
        """Whether stations can connect (bound and accepting)."""
        return self._server is not None and self._server.is_serving()

    async def start(self, *, serve: bool = True) -> None:
        """Bind and listen; raises ``OSError`` when the address cannot be bound.

        With ``serve=False`` the address is bound (so a port in use fails here) but no
        connection is accepted, a station's dial is refused, until ``serve``.
        """
        if self._server is not None:
            raise RuntimeError("the server is already running")
        registry = self._registry
        registry.closing = False
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            registry.new_connection,
            self.config.host or None,
            self.config.port,
            reuse_address=True,
            backlog=_LISTEN_BACKLOG,
            start_serving=serve,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        if serve:
            _LOGGER.info("Listening for DNY stations on %s:%d", self.config.host, self._port)

    async def serve(self) -> None:
        """Accept connections on the address ``start(serve=False)`` bound; idempotent."""
        if self._server is None or self._server.is_serving():
            return
        await self._server.start_serving()
        _LOGGER.info("Listening for DNY stations on %s:%d", self.config.host, self._port)

    async def stop(self) -> None:
        """Every station offline (SYSTEM_SHUTDOWN), every connection and the listener closed.

        Pending commands fail with ``StationOfflineError``. Safe to call twice.
        """
        server = self._server
        registry = self._registry
        if server is None:
            return
        self._server = None
        server.close()
        closed = registry.shut_down()
        try:
            async with asyncio.timeout(_CLOSE_GRACE):
                await server.wait_closed()
        except TimeoutError:
            # A peer that does not read keeps its transport flushing; drop it.
            for conn in closed:
                conn.abort()
            await server.wait_closed()
        _LOGGER.info("DNY server stopped")

    def link(self, device_id: str) -> StationLink | None:
        """The live link of a station ("04AB373B"), or None when it is offline."""
        try:
            physical_id = parse_physical_id(device_id)
        except ValueError:
            return None
        session = self._registry.sessions.get(physical_id)
        return None if session is None else session.link

    def links(self) -> list[StationLink]:
        """Every live link."""
        return [session.link for session in self._registry.sessions.values()]

    async def request(
        self, device_id: str, command: DownstreamCommand, *, expect_reply: bool = True
    ) -> StationReply | None:
        """Send a downstream command to a station and return its reply.

        Commands to one station go one at a time, in request order, at least
        ``command_spacing`` apart, each with a new message id. Without a reply within
        ``reply_timeout`` the command is resent once with the same id, then
        ``CommandTimeoutError``. ``StationOfflineError`` when the station has no live link,
        or loses it while waiting. ``expect_reply=False`` (0x81) returns None once sent.
        """
        try:
            physical_id = parse_physical_id(device_id)
        except ValueError:
            raise StationOfflineError(device_id) from None
        return await self._registry.request(physical_id, command, expect_reply=expect_reply)

    def disconnect(self, device_id: str) -> bool:
        """Close the connection of a station (and of its host's other sub-stations).

        Every station on it goes offline with MANUAL_DISCONNECT. False when it was offline.
        """
        try:
            physical_id = parse_physical_id(device_id)
        except ValueError:
            return False
        return self._registry.disconnect(physical_id)
