"""Fuzz the server's receive path: random and mutated frames through a real session.

Seeds: the vendor's example frames (tests/fixtures/vectors.json) and the frames of a short
real exchange recorded off the wire (the station simulator charging, swiping cards and
settling against a ``DnyServer``, both directions). Each buffer handed to
``Connection.data_received`` is built from one to four seeds with zero to three mutations
(bit flips, random bytes, insertions, deletions, truncation, duplicated slices, a corrupted
length field, half the time with the checksum recomputed so that the mutated payload reaches
the decoders), or is pure noise, then cut at random places like TCP does.

The session code is real: a ``SessionRegistry`` with a recording observer, a ``Connection``
over a fake transport that records writes. Every few thousand buffers the connection is
dropped and a new one made (``connection_lost``: every station offline). The event loop runs
between buffers, so card decisions and timers run too.

An exception is either one escaping ``data_received`` or one the session caught and logged
(a decoder or observer failure: logged at ERROR with a traceback); a ``MessageError`` for a
short payload is the documented, counted outcome and not an exception. The script prints
buffers/s, frames decoded, bytes skipped and the number of exceptions, and exits 1 if any.

    scripts/fuzz [--buffers 1000000] [--seed S] [--progress 100000]
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
import json
import logging
from pathlib import Path
import random
import sys
import time
import traceback
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The repository's root, for the integration's packages (Python puts only tools/ on sys.path).
sys.path.insert(0, str(REPO))

from custom_components.iot_zinx.protocol.connection import Connection
from custom_components.iot_zinx.protocol.frame import Frame, checksum
from custom_components.iot_zinx.protocol.messages import (
    CardReply,
    CardSwipe,
    ChargeControl,
    QueryStatus,
    Settlement,
    UpstreamMessage,
)
from custom_components.iot_zinx.protocol.registry import (
    OfflineReason,
    ServerConfig,
    SessionRegistry,
    StationLink,
)
from custom_components.iot_zinx.protocol.server import DnyServer
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator

VECTORS = REPO / "tests" / "fixtures" / "vectors.json"
RECYCLE_EVERY = 5000  # buffers per connection
LOOP_EVERY = 64  # buffers between two turns of the event loop


class CountingObserver:
    """A ``ServerObserver`` that counts callbacks and answers every card."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def station_online(self, link: StationLink) -> None:
        self.counts["online"] += 1

    def message_received(self, link: StationLink, message: UpstreamMessage) -> None:
        self.counts["messages"] += 1

    def station_offline(self, link: StationLink, reason: OfflineReason) -> None:
        self.counts["offline"] += 1

    async def card_swiped(self, link: StationLink, swipe: CardSwipe) -> CardReply:
        self.counts["cards"] += 1
        return CardReply(swipe.card_id, 0, 0, 10000, swipe.port)

    async def settlement_received(self, link: StationLink, settlement: Settlement) -> None:
        self.counts["settlements"] += 1


class ErrorCounter(logging.Handler):
    """Counts records at ERROR and above (``_LOGGER.exception`` of a caught failure)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class FakeTransport(asyncio.Transport):
    """Records what the session writes; never buffers, so it is never a slow reader."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.writes = 0
        self.closing = False

    def write(self, data: Any) -> None:
        self.written += len(data)
        self.writes += 1

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("192.0.2.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


# -- seeds ------------------------------------------------------------------------------------


def vector_frames() -> list[bytes]:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    return [bytes.fromhex(vector["hex"]) for vector in vectors]


async def recorded_frames() -> list[bytes]:
    """The frames of a short, busy, real exchange between the simulator and a server."""
    frames: list[bytes] = []

    def record(direction: str, link: StationLink | None, frame: Frame, remote: str) -> None:
        frames.append(frame.encode())

    observer = CountingObserver()
    server = DnyServer(
        ServerConfig(host="127.0.0.1", port=0, command_spacing=0.0, reply_timeout=2.0),
        observer,
        frame_logger=record,
    )
    await server.start()
    speed = 600.0
    simulator = StationSimulator("127.0.0.1", server.port, speed=speed)
    options: dict[str, Any] = {"speed": speed, "full_energy_kwh": 0.05, "plugged": (0, 1)}
    station = simulator.add_station(SimulatedStation(0x04A228CD, 2, **options))
    sixteen = simulator.add_station(SimulatedStation(0x04A228CE, 16, **options))
    simulator.add_host(0x09A00001, [SimulatedStation(0x04A228CF, 10, **options)])
    await simulator.start()
    try:
        await simulator.wait_registered(timeout=10)
        for target in (station, sixteen):
            for port in (0, 1):
                command = ChargeControl(0, 0, port, 1, 0, bytes([port + 1]) * 16, 0, 0)
                await server.request(target.device_id, command)
        await server.request(station.device_id, QueryStatus(), expect_reply=False)
        await station.swipe_card(1, 0x7A8D05DD)
        sixteen.unplug(1)  # a settlement with reason 5
        await asyncio.sleep(2.0)  # heartbeats, power reports, chargers full, settlements
    finally:
        await simulator.stop()
        await server.stop()
    return frames


def with_checksum(frame: bytearray) -> bytes:
    """Recompute the length field and the checksum of a mutated frame."""
    if len(frame) >= 5 and frame[:3] == b"DNY":
        frame[3:5] = (len(frame) - 5).to_bytes(2, "little")
        if len(frame) >= 7:
            frame[-2:] = checksum(bytes(frame[:-2])).to_bytes(2, "little")
    return bytes(frame)


# -- buffers ----------------------------------------------------------------------------------


class Generator:
    """Random and mutated byte streams, cut into buffers."""

    def __init__(self, rng: random.Random, seeds: list[bytes]) -> None:
        self.rng = rng
        self.seeds = seeds
        self.noise = rng.randbytes(1 << 16)

    def bytes_(self, count: int) -> bytes:
        start = self.rng.randrange(len(self.noise) - count)
        return self.noise[start : start + count]

    def mutate(self, data: bytes) -> bytes:
        rng = self.rng
        frame = bytearray(data)
        for _ in range(rng.randrange(4)):
            op = rng.randrange(8)
            size = len(frame)
            if op == 0 and size:  # flip a bit
                frame[rng.randrange(size)] ^= 1 << rng.randrange(8)
            elif op == 1 and size:  # a random byte
                frame[rng.randrange(size)] = rng.randrange(256)
            elif op == 2:  # insert bytes
                at = rng.randrange(size + 1)
                frame[at:at] = self.bytes_(rng.randrange(1, 40))
            elif op == 3 and size > 1:  # delete a slice
                at = rng.randrange(size)
                del frame[at : at + rng.randrange(1, 20)]
            elif op == 4 and size > 1:  # truncate
                del frame[rng.randrange(size) :]
            elif op == 5 and size > 1:  # duplicate a slice
                at = rng.randrange(size)
                frame[at:at] = frame[at : at + rng.randrange(1, 30)]
            elif op == 6 and size >= 5:  # a length field of any value
                frame[3:5] = rng.randrange(1 << 16).to_bytes(2, "little")
            elif op == 7 and size >= 12:  # another command byte
                frame[11] = rng.randrange(256)
        if rng.random() < 0.5:
            return with_checksum(frame)
        return bytes(frame)

    def stream(self) -> bytes:
        rng = self.rng
        kind = rng.random()
        if kind < 0.05:
            return self.bytes_(rng.randrange(1, 600))  # noise
        if kind < 0.08:
            return b"link" + rng.choice((b"", b"89860413161892009275"))
        parts = []
        for _ in range(rng.randrange(1, 5)):
            seed = rng.choice(self.seeds)
            parts.append(self.mutate(seed) if rng.random() < 0.8 else seed)
        return b"".join(parts)

    def buffers(self) -> list[bytes]:
        """One stream, cut at up to three random places."""
        data = self.stream()
        rng = self.rng
        if len(data) < 2 or rng.random() < 0.5:
            return [data]
        cuts = sorted(rng.randrange(1, len(data)) for _ in range(rng.randrange(1, 4)))
        return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


# -- the run ----------------------------------------------------------------------------------


async def fuzz(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    seeds = vector_frames()
    recorded = await recorded_frames()
    seeds += sorted(set(recorded))
    commands = Counter(seed[11] for seed in seeds if len(seed) > 11)
    print(
        f"seed {args.seed}: {len(seeds)} seed frames ({len(recorded)} recorded), "
        f"{len(commands)} commands",
        flush=True,
    )
    errors = ErrorCounter()
    logging.getLogger("custom_components.iot_zinx").addHandler(errors)
    logging.getLogger("custom_components.iot_zinx").setLevel(logging.WARNING)
    logging.getLogger("custom_components.iot_zinx").propagate = False

    observer = CountingObserver()
    registry = SessionRegistry(ServerConfig(host="127.0.0.1", port=0), observer)
    generator = Generator(rng, seeds)
    escaped: list[str] = []
    connections = 0
    written = 0

    def connect() -> tuple[Connection, FakeTransport]:
        nonlocal connections
        conn = registry.new_connection()
        transport = FakeTransport()
        conn.connection_made(transport)
        connections += 1
        return conn, transport

    conn, transport = connect()
    started = time.perf_counter()
    buffers = 0
    next_progress = args.progress
    while buffers < args.buffers:
        for data in generator.buffers():
            buffers += 1
            try:
                conn.data_received(data)
            except Exception:  # counting them is the point
                escaped.append(traceback.format_exc())
            if conn.closed or buffers % RECYCLE_EVERY == 0:
                written += transport.written
                conn.connection_lost(None)
                conn, transport = connect()
        if buffers % LOOP_EVERY < 4:
            await asyncio.sleep(0)
        if args.progress and buffers >= next_progress:
            next_progress += args.progress
            rate = buffers / (time.perf_counter() - started)
            print(f"  {buffers:>9,} buffers  {rate:>8,.0f}/s", flush=True)
    conn.connection_lost(None)
    written += transport.written
    await asyncio.sleep(0.05)  # the last card decisions
    elapsed = time.perf_counter() - started
    stats = registry.stats
    exceptions = len(escaped) + len(errors.records)
    print(f"buffers          {buffers:,} in {elapsed:.1f} s: {buffers / elapsed:,.0f} buffers/s")
    print(
        f"frames decoded   {stats.frames_in:,} (messages delivered {observer.counts['messages']:,})"
    )
    print(f"bytes skipped    {stats.skipped_bytes:,} (bad frames {stats.bad_frames:,})")
    print(
        f"session          {connections:,} connections, {observer.counts['online']:,} links, "
        f"{stats.message_errors:,} short payloads, {stats.unknown_commands:,} unknown commands, "
        f"{stats.frames_out:,} replies ({written:,} bytes), {observer.counts['cards']:,} cards"
    )
    print(f"{exceptions} exceptions")
    for text in escaped[:3]:
        print(text, file=sys.stderr)
    for record in errors.records[:3]:
        print(logging.Formatter().format(record), file=sys.stderr)
    print(
        json.dumps(
            {
                "buffers": buffers,
                "seconds": round(elapsed, 1),
                **stats.as_dict(),
                "exceptions": exceptions,
            }
        )
    )
    return 1 if exceptions else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--buffers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--progress", type=int, default=100_000, help="print every N buffers")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 32)
    sys.exit(asyncio.run(fuzz(args)))


if __name__ == "__main__":
    main()
