"""Hostile peers against a real DnyServer: each is refused or contained, counted, logged once.

Every test runs a known station ("the prober", 04AB373B) that sends a heartbeat every 20 ms
through the whole attack: the server must answer every one of them, in order, during the
attack and after it. The attackers, the prober and the server share one event loop, so an
attack that made the server stall (unbounded work per byte, a wait on the attacker) shows up
as a probe left unanswered. Nothing here compares against absolute seconds: the plugin runs
the loop in asyncio debug mode on machines of two busy cores, where a healthy reply can take
hundreds of milliseconds. Timeouts only guard against a hang (``STALL``), and time-outs of
the server under test are asserted by order: a connection is closed while its attacker is
still sending, never before the configured time.
"""

# Test helpers take a timeout so that a broken test fails fast instead of hanging.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
import contextlib
import logging
import random
import socket
from typing import Any

import pytest

from custom_components.iot_zinx.protocol.frame import Frame
from custom_components.iot_zinx.protocol.messages import Heartbeat, Register, Settlement
from custom_components.iot_zinx.protocol.server import DnyServer, ServerConfig
from custom_components.iot_zinx.protocol.stream import StreamSplitter

from .harness import RawPeer, Recorder, wait_until

pytestmark = pytest.mark.timeout(60)

PROBER = 0x04AB373B
PROBE_INTERVAL = 0.02
# Not a latency bound: a probe unanswered this long means the server stalled.
STALL = 10.0
# Small limits, so every limit is reached within a fraction of a second.
HOSTILE: dict[str, Any] = {
    "heartbeat_timeout": 30.0,
    "reply_timeout": 1.0,
    "command_spacing": 0.0,
    "identify_timeout": 5.0,
    "idle_timeout": 30.0,
    "max_connections": 50,
    "max_buffer": 512,
}
# registry.py and connection.py log under the protocol package's logger.
PROTOCOL_LOGGER = "custom_components.iot_zinx.protocol"


def register(physical_id: int, message_id: int = 1) -> Frame:
    return Frame(physical_id, message_id, 0x20, Register(126, 2, 0, 0x21, 0, 0).encode())


def heartbeat(physical_id: int, message_id: int) -> Frame:
    return Frame(physical_id, message_id, 0x21, Heartbeat(220.0, 2, (0, 0), 20, 30).encode())


def settlement(physical_id: int, message_id: int) -> Frame:
    payload = Settlement(600, 120.0, 0.1, 0, 1, 0, 7, b"\x01" * 16, 110.0).encode()
    return Frame(physical_id, message_id, 0x03, payload)


class Prober:
    """A registered station that sends a heartbeat every ``PROBE_INTERVAL``; counts replies."""

    def __init__(self, peer: RawPeer) -> None:
        self.peer = peer
        self.answered = 0
        self.unanswered = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.peer.send(register(PROBER))
        frame = await self.peer.frame()
        assert (frame.command, frame.payload) == (0x20, b"\x00")
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        message_id = 1
        while True:
            message_id = message_id % 0xFFFF + 1
            self.peer.send(heartbeat(PROBER, message_id))
            try:
                # Replies come in order: the first heartbeat reply must be this probe's.
                while True:
                    frame = await self.peer.frame(timeout=STALL)
                    if frame.command == 0x21:
                        assert frame.message_id == message_id, (frame.message_id, message_id)
                        break
            except TimeoutError:
                self.unanswered += 1
                continue
            self.answered += 1
            await asyncio.sleep(PROBE_INTERVAL)

    async def stop(self) -> None:
        """Stop probing; every heartbeat was answered, and the server still answers."""
        assert self._task is not None
        # A few answers after the attack too: the server is still healthy once it is over.
        done = self.answered + self.unanswered
        await wait_until(lambda: self.answered + self.unanswered >= done + 3, STALL)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        assert self.unanswered == 0
        assert self.answered >= 3


type Start = Callable[..., Any]


@pytest.fixture
async def hostile() -> AsyncGenerator[Start]:
    """Start a server with small limits plus its prober; stop both after the test."""
    servers: list[DnyServer] = []
    peers: list[RawPeer] = []

    async def start(**options: Any) -> tuple[DnyServer, Prober]:
        server = DnyServer(
            ServerConfig(host="127.0.0.1", port=0, **{**HOSTILE, **options}), Recorder()
        )
        await server.start()
        servers.append(server)
        peer = await RawPeer.connect(server.port)
        peers.append(peer)
        prober = Prober(peer)
        await prober.start()
        return server, prober

    yield start
    for peer in peers:
        await peer.close()
    for server in servers:
        await server.stop()


async def raw_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = 3.0) -> None:
    """Wait until the server closes (or resets) the connection, reading anything it sends."""
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):
                pass


def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.transport.abort()


async def test_connection_flood(hostile: Start, caplog: pytest.LogCaptureFixture) -> None:
    """Beyond max_connections every connection is refused and counted, logged once per burst."""
    caplog.set_level(logging.INFO, logger=PROTOCOL_LOGGER)
    server, prober = await hostile(max_connections=10)
    flood = await asyncio.gather(*(raw_connection(server.port) for _ in range(200)))
    writers = [writer for _, writer in flood]
    # The prober holds one slot: 9 are accepted, the other 191 are closed at once.
    await wait_until(lambda: server.stats.connections_refused == 191)
    refused = [reader for reader, _ in flood[9:]]
    await asyncio.gather(*(closed_by_server(reader) for reader in refused))
    stats = server.stats
    assert (stats.connections_open, stats.connections_total) == (10, 10)
    assert caplog.text.count("Refusing connections") == 1
    # A second wave while still full is the same burst: no new line.
    second = await asyncio.gather(*(raw_connection(server.port) for _ in range(20)))
    await wait_until(lambda: server.stats.connections_refused == 211)
    assert caplog.text.count("Refusing connections") == 1
    close_all(writers + [writer for _, writer in second])
    await wait_until(lambda: server.stats.connections_open == 1)
    # A slot frees up: the next connection is served, and the burst's end is logged once.
    reader, writer = await raw_connection(server.port)
    writer.write(register(0x04000001).encode())
    assert await reader.read(4096) == Frame(0x04000001, 1, 0x20, b"\x00").encode()
    assert caplog.text.count("Accepting connections again after refusing 211") == 1
    writer.transport.abort()
    await prober.stop()


async def test_slow_loris(hostile: Start, caplog: pytest.LogCaptureFixture) -> None:
    """One byte now and then, never a whole frame: closed at identify_timeout, counted."""
    caplog.set_level(logging.DEBUG, logger=PROTOCOL_LOGGER)
    server, prober = await hostile(identify_timeout=0.5)
    loop = asyncio.get_running_loop()
    # A frame header announcing 200 bytes, then a byte every 50 ms: the splitter keeps
    # waiting for a frame that never completes, and the idle timer keeps being refreshed.
    trickle = register(0x04000002).encode()[:5].replace(b"\x13\x00", b"\xc8\x00") + bytes(200)
    # Before connecting: the server's identify timer of each loris starts at its accept.
    opened = loop.time()
    lorises = [await raw_connection(server.port) for _ in range(5)]

    async def drip(writer: asyncio.StreamWriter) -> None:
        for byte in trickle:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)

    drips = [loop.create_task(drip(writer)) for _, writer in lorises]
    await asyncio.gather(*(closed_by_server(reader, STALL) for reader, _ in lorises))
    elapsed = loop.time() - opened
    # Closed while every loris was still dripping (the trickle lasts over 10 s), and not
    # before identify_timeout: the bytes kept arriving, but no frame did.
    still_dripping = sum(not task.done() for task in drips)
    for task in drips:
        task.cancel()
    await asyncio.gather(*drips, return_exceptions=True)
    close_all([writer for _, writer in lorises])
    assert still_dripping == 5
    assert elapsed >= 0.5
    stats = server.stats
    assert stats.unidentified_closed == 5
    assert stats.frames_in > 0  # the prober's
    assert stats.bad_frames == 0  # waiting for a frame is not a bad frame
    assert caplog.text.count("sent no valid frame in time; closing") == 5  # once each
    assert server.links()[0].device_id == "04AB373B"
    assert len(server.links()) == 1
    await prober.stop()


async def test_header_announcing_65535_bytes(
    hostile: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A length of 0xFFFF is garbage at once: nothing waits for it, the next frame is answered."""
    buffered = record_buffered(monkeypatch)
    server, prober = await hostile()
    peer = await RawPeer.connect(server.port)
    try:
        peer.send(register(0x04000003))
        await peer.frame()
        bad_before = server.stats.bad_frames
        # The header alone, then more bytes than max_buffer, then a valid heartbeat.
        peer.send(b"DNY\xff\xff")
        await peer.nothing(0.05)
        peer.send(bytes(range(256)) * 4)
        peer.send(heartbeat(0x04000003, 7))
        reply = await peer.frame()
        assert (reply.command, reply.message_id, reply.payload) == (0x21, 7, b"\x00")
        assert server.stats.bad_frames == bad_before + 1
        assert server.stats.skipped_bytes == 5 + 1024
        assert max(buffered) <= HOSTILE["max_buffer"]
        assert not peer.eof.is_set()
        assert server.link("04000003") is not None
    finally:
        await peer.close()
    await prober.stop()


def record_buffered(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Wrap ``StreamSplitter.feed`` to record the bytes held back after every call."""
    buffered: list[int] = [0]
    feed = StreamSplitter.feed

    def recording(self: StreamSplitter, data: bytes | bytearray | memoryview) -> Any:
        items = feed(self, data)
        buffered.append(self.buffered)
        return items

    monkeypatch.setattr(StreamSplitter, "feed", recording)
    return buffered


async def test_endless_garbage(
    hostile: Start, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """2 MB of noise and bogus headers: bounded buffer, every byte counted, logged once.

    The server's policy: garbage never closes a connection by itself (a cellular module
    leaks noise between real frames); an unidentified one is closed by identify_timeout
    anyway, an identified one stays and keeps being answered.
    """
    caplog.set_level(logging.DEBUG, logger=PROTOCOL_LOGGER)
    buffered = record_buffered(monkeypatch)
    server, prober = await hostile()
    peer = await RawPeer.connect(server.port)
    try:
        peer.send(register(0x04000004))
        await peer.frame()
        rng = random.Random(4)
        # No "D" (so no frame header can form by chance), no digits (no ICCID), no "l"
        # (no keepalive): every byte is garbage, except the bogus headers put in on purpose.
        alphabet = bytes(b for b in range(256) if b not in b"Dl0123456789")
        total = 0
        headers = 0
        for _ in range(256):
            chunk = bytearray(rng.choices(alphabet, k=8192))
            # Lengths below 9 or above 256, at distinct places so that none overlaps another.
            for at in rng.sample(range(0, len(chunk) - 5, 8), 4):
                chunk[at : at + 5] = b"DNY" + rng.choice((3, 8, 257, 4000, 0xFFFF)).to_bytes(
                    2, "little"
                )
                headers += 1
            peer.send(bytes(chunk))
            total += len(chunk)
            await peer.writer.drain()
        peer.send(heartbeat(0x04000004, 9))
        reply = await peer.frame(timeout=5)
        assert (reply.command, reply.message_id) == (0x21, 9)
        stats = server.stats
        assert stats.skipped_bytes == total
        assert stats.bad_frames == headers
        assert max(buffered) <= HOSTILE["max_buffer"]
        assert not peer.eof.is_set()
        assert server.link("04000004") is not None
        assert caplog.text.count("Skipped ") == 1  # the first run; the rest is only counted
    finally:
        await peer.close()
    await prober.stop()


async def test_peer_that_never_reads(hostile: Start, caplog: pytest.LogCaptureFixture) -> None:
    """Replies pile up unread: aborted past the write high-water mark, counted, logged once."""
    caplog.set_level(logging.WARNING, logger=PROTOCOL_LOGGER)
    # Every settlement is acknowledged (15 bytes); 20,000 of them outgrow 64 KiB of buffer.
    # Built before the prober starts: building them would block the shared loop.
    frames = b"".join(settlement(0x04000005, n % 0xFFFF + 1).encode() for n in range(20000))
    server, prober = await hostile()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    _, writer = await asyncio.open_connection(sock=sock)
    assert isinstance(writer.transport, asyncio.Transport)
    writer.transport.pause_reading()  # never reads a byte
    writer.write(register(0x04000005).encode())
    await wait_until(lambda: server.link("04000005") is not None)
    conn = server._registry.sessions[0x04000005].connection
    conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2048)
    writer.write(frames)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    # A generous bound: on a loaded machine the 20,000 frames take a while to go through.
    await wait_until(lambda: server.link("04000005") is None, 60)
    stats = server.stats
    assert stats.slow_readers_closed == 1
    assert stats.frames_out < 20000
    assert caplog.text.count("does not read what it is sent") == 1
    writer.transport.abort()
    await prober.stop()
