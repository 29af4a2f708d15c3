"""Test doubles for the server and simulator tests: a recording observer and raw peers.

Everything talks real TCP on 127.0.0.1. ``RawPeer`` is a byte-exact station (or, wrapped by
``FakeServer``, a byte-exact server): it writes exactly the bytes it is given and records
every frame it receives with the loop time of its arrival.
"""

# Test helpers take a timeout so that a broken test fails fast instead of hanging; polling
# is how a test waits for state it does not own.
# ruff: noqa: ASYNC109, ASYNC110

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field

from custom_components.iot_zinx.protocol.frame import Frame
from custom_components.iot_zinx.protocol.messages import (
    CardReply,
    CardSwipe,
    Settlement,
    UpstreamMessage,
)
from custom_components.iot_zinx.protocol.server import OfflineReason, StationLink
from custom_components.iot_zinx.protocol.stream import Iccid, LinkKeepalive, StreamSplitter

ICCID = "89860413161892009275"


def unhex(text: str) -> bytes:
    """``"44 4E 59"`` -> bytes."""
    return bytes.fromhex(text)


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` between loop turns until it holds.

    The timeout only guards against a hang: the test loop runs in asyncio debug mode, often
    on two busy cores, so what holds at once on a desktop can take a second there.
    """
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.002)


@dataclass
class Recorder:
    """A ``ServerObserver`` that records every callback in order."""

    events: list[tuple[str, str, object]] = field(default_factory=list)
    card_reply: CardReply | None = None
    # Callback names that raise RuntimeError ("online", "message", "offline", "card").
    failing: set[str] = field(default_factory=set)
    card_delay: float = 0.0

    def station_online(self, link: StationLink) -> None:
        self.events.append(("online", link.device_id, link))
        if "online" in self.failing:
            raise RuntimeError("observer failure")

    def message_received(self, link: StationLink, message: UpstreamMessage) -> None:
        self.events.append(("message", link.device_id, message))
        if "message" in self.failing:
            raise RuntimeError("observer failure")

    def station_offline(self, link: StationLink, reason: OfflineReason) -> None:
        self.events.append(("offline", link.device_id, reason))
        if "offline" in self.failing:
            raise RuntimeError("observer failure")

    async def card_swiped(self, link: StationLink, swipe: CardSwipe) -> CardReply:
        self.events.append(("card", link.device_id, swipe))
        if self.card_delay:
            await asyncio.sleep(self.card_delay)
        if "card" in self.failing:
            raise RuntimeError("observer failure")
        if self.card_reply is not None:
            return self.card_reply
        return CardReply(swipe.card_id, 0, 0, 10000, swipe.port)

    async def settlement_received(self, link: StationLink, settlement: Settlement) -> None:
        # Recorded as a message: for the tests a settlement is one more upstream message.
        self.events.append(("message", link.device_id, settlement))
        if "settlement" in self.failing:
            raise RuntimeError("observer failure")

    def kinds(self, device_id: str | None = None) -> list[str]:
        return [kind for kind, dev, _ in self.events if device_id in (None, dev)]

    def messages(self, device_id: str | None = None) -> list[object]:
        return [
            value
            for kind, dev, value in self.events
            if kind == "message" and device_id in (None, dev)
        ]

    def offline(self, device_id: str | None = None) -> list[object]:
        return [
            value
            for kind, dev, value in self.events
            if kind == "offline" and device_id in (None, dev)
        ]

    def online(self, device_id: str | None = None) -> list[StationLink]:
        links: list[StationLink] = []
        for kind, dev, value in self.events:
            if kind == "online" and device_id in (None, dev):
                assert isinstance(value, StationLink)
                links.append(value)
        return links


class RawPeer:
    """One end of a TCP connection that sends raw bytes and records the frames it gets."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.loop = asyncio.get_running_loop()
        self.frames: asyncio.Queue[tuple[float, Frame]] = asyncio.Queue()
        self.items: list[object] = []  # everything received, ICCIDs and links included
        self.received: list[tuple[float, Frame]] = []
        self.eof = asyncio.Event()
        self._task = self.loop.create_task(self._read())

    @classmethod
    async def connect(cls, port: int) -> RawPeer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def _read(self) -> None:
        splitter = StreamSplitter()
        try:
            while data := await self.reader.read(4096):
                for item in splitter.feed(data):
                    self.items.append(item)
                    if isinstance(item, Frame):
                        entry = (self.loop.time(), item)
                        self.received.append(entry)
                        self.frames.put_nowait(entry)
        except ConnectionError:
            pass
        finally:
            self.eof.set()

    def send(self, data: bytes | Frame) -> None:
        self.writer.write(data.encode() if isinstance(data, Frame) else data)

    async def frame(self, timeout: float = 2.0) -> Frame:
        """The next frame received."""
        async with asyncio.timeout(timeout):
            _, frame = await self.frames.get()
        return frame

    async def raw(self, timeout: float = 2.0) -> bytes:
        """The bytes of the next frame received."""
        return (await self.frame(timeout)).encode()

    async def nothing(self, duration: float = 0.1) -> None:
        """Assert that no frame arrives for ``duration`` seconds."""
        await asyncio.sleep(duration)
        assert self.frames.empty(), f"unexpected frame {self.frames.get_nowait()}"

    async def closed(self, timeout: float = 2.0) -> None:
        """Wait until the other side closed the connection."""
        async with asyncio.timeout(timeout):
            await self.eof.wait()

    @property
    def iccids(self) -> list[str]:
        return [item.value for item in self.items if isinstance(item, Iccid)]

    @property
    def links(self) -> int:
        return sum(isinstance(item, LinkKeepalive) for item in self.items)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class FakeServer:
    """A TCP listener whose connections are ``RawPeer``s: the simulator's byte-exact peer."""

    def __init__(self) -> None:
        self.peers: asyncio.Queue[RawPeer] = asyncio.Queue()
        self.all: list[RawPeer] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = RawPeer(reader, writer)
            self.all.append(peer)
            self.peers.put_nowait(peer)

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def peer(self, timeout: float = 2.0) -> RawPeer:
        async with asyncio.timeout(timeout):
            return await self.peers.get()

    async def stop(self) -> None:
        for peer in self.all:
            await peer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
