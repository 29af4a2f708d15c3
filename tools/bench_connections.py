"""Idle-connection benchmark of the DNY server (protocol level, no Home Assistant).

    scripts/bench_connections --connections 10000 [--stations 50] [--limit L] [--duration 60]

A ``DnyServer`` runs in a child process (this script with ``--server-child``) on 127.0.0.1
with a no-op observer. This process opens ``--stations`` known stations (register, then a 0x21
heartbeat every ``--interval`` s each) and measures the heartbeat reply latency (send to
reply, both stamped here):

  1. baseline: only the known stations, for a third of ``--duration``;
  2. the idle crowd: ``--connections`` TCP connections that send their ICCID and ``link``
     and then nothing more, opened in one burst, then measured for the rest of ``--duration``.

With ``--limit L`` the server's ``max_connections`` is L (otherwise connections + stations +
100): connections beyond it are refused, which the server logs once per burst ("Refusing
connections ..."); the count of such lines and of refused connections is reported, and the
known stations (connected before the crowd) must still be answered.

The crowd's connections are kept past the server's identify timeout (60 s by default) by
setting that timeout to an hour in the child: otherwise a connection that never sends a frame
is closed after a minute, by design. Both processes raise their file-descriptor soft limit
(RLIMIT_NOFILE) up to the hard limit; the figure is printed. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from functools import partial
import json
import logging
import os
from pathlib import Path
import resource
import socket
import sys
import time
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# The repository's root, for the integration's packages (Python puts only tools/ on sys.path).
sys.path.insert(0, str(REPO))

from custom_components.iot_zinx.protocol.frame import Frame
from custom_components.iot_zinx.protocol.messages import Heartbeat, Register
from custom_components.iot_zinx.protocol.simulator import default_iccid
from custom_components.iot_zinx.protocol.stream import StreamSplitter

FIRST_ID = 0x04A228CD
CROWD_FIRST_ID = 0x05000001


def raise_fd_limit(wanted: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        soft = min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft, hard


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# -- the server child -------------------------------------------------------------------------


async def server_child(args: argparse.Namespace) -> None:
    from custom_components.iot_zinx.protocol.messages import CardReply  # noqa: PLC0415
    from custom_components.iot_zinx.protocol.server import (  # noqa: PLC0415
        DnyServer,
        ServerConfig,
    )

    class Observer:
        def station_online(self, link: Any) -> None:
            pass

        def message_received(self, link: Any, message: Any) -> None:
            pass

        def station_offline(self, link: Any, reason: Any) -> None:
            pass

        async def card_swiped(self, link: Any, swipe: Any) -> Any:
            return CardReply(swipe.card_id, 0, 0, 0, swipe.port)

        async def settlement_received(self, link: Any, settlement: Any) -> None:
            pass

    raise_fd_limit(args.max_connections + 256)
    config = ServerConfig(
        host="127.0.0.1",
        port=args.server_port,
        max_connections=args.max_connections,
        identify_timeout=3600.0,
        idle_timeout=3600.0,
    )
    server = DnyServer(config, Observer())
    await server.start()
    loop = asyncio.get_running_loop()
    print(f"READY {server.port}", flush=True)
    stop = asyncio.Event()

    def stdin_readable() -> None:
        if not os.read(sys.stdin.fileno(), 100):  # end of file: the parent is done
            stop.set()

    loop.add_reader(sys.stdin.fileno(), stdin_readable)

    async def report() -> None:
        while True:
            print("STATS " + json.dumps(server.stats.as_dict()), flush=True)
            await asyncio.sleep(1)

    reporter = asyncio.create_task(report())
    await stop.wait()
    reporter.cancel()
    await server.stop()


# -- known stations ---------------------------------------------------------------------------


class Station(asyncio.Protocol):
    """A minimal station: register, then heartbeats; the reply latency of each."""

    def __init__(self, physical_id: int, latencies: list[tuple[float, float, int]]) -> None:
        self.physical_id = physical_id
        self.latencies = latencies
        self.splitter = StreamSplitter()
        self.transport: asyncio.Transport | None = None
        self.message_id = 0
        self.sent: dict[int, float] = {}
        self.lost = False
        self.unanswered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(default_iccid(self.physical_id).encode())
        self.send(Register(126, 10, 0, 0x21, 0, 0).COMMAND, Register(126, 10, 0, 0x21, 0, 0))

    def send(self, command: int, message: Any) -> int:
        assert self.transport is not None
        self.message_id = (self.message_id + 1) & 0xFFFF
        frame = Frame(self.physical_id, self.message_id, command, message.encode())
        self.transport.write(frame.encode())
        return self.message_id

    def heartbeat(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        message = Heartbeat(220.0, 10, (0,) * 10, 0, 30)
        message_id = self.send(Heartbeat.COMMAND, message)
        self.sent[message_id] = time.monotonic()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        for item in self.splitter.feed(data):
            if (
                isinstance(item, Frame)
                and item.command == Heartbeat.COMMAND
                and (sent := self.sent.pop(item.message_id, None)) is not None
            ):
                self.latencies.append((now, (now - sent) * 1000, self.physical_id))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.transport = None


async def run_stations(stations: list[Station], interval: float, stop: asyncio.Event) -> None:
    """Heartbeats spread evenly over ``interval``."""
    loop = asyncio.get_running_loop()
    step = interval / max(1, len(stations))
    start = loop.time()
    tick = 0
    while not stop.is_set():
        stations[tick % len(stations)].heartbeat()
        tick += 1
        delay = start + tick * step - loop.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


# -- the crowd --------------------------------------------------------------------------------


def open_crowd(count: int, port: int) -> tuple[list[socket.socket], int]:
    """``count`` connections in one burst, each sending its ICCID and ``link``; failures."""
    sockets: list[socket.socket] = []
    failed = 0
    pending = []
    for index in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(("127.0.0.1", port))
        pending.append((index, sock))
    deadline = time.monotonic() + 30
    import selectors  # noqa: PLC0415

    selector = selectors.DefaultSelector()
    for index, sock in pending:
        selector.register(sock, selectors.EVENT_WRITE, index)
    while selector.get_map() and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            fileobj = key.fileobj
            assert isinstance(fileobj, socket.socket)
            sock = fileobj
            selector.unregister(sock)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                failed += 1
                sock.close()
                continue
            try:
                sock.send(default_iccid(CROWD_FIRST_ID + key.data).encode() + b"link")
            except OSError:
                failed += 1
                sock.close()
                continue
            sockets.append(sock)
    for key in list(selector.get_map().values()):
        failed += 1
        key.fileobj.close()  # type: ignore[union-attr]
    selector.close()
    return sockets, failed


def count_closed(sockets: list[socket.socket]) -> int:
    """Connections the server closed (refused beyond max_connections): EOF or reset."""
    closed = 0
    for sock in sockets:
        try:
            if sock.recv(64) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


# -- the benchmark ----------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    soft, hard = raise_fd_limit(args.connections + args.stations + 512)
    print(f"file-descriptor soft limit {soft} (hard {hard}) in both processes", flush=True)
    max_connections = args.limit or args.connections + args.stations + 100
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        server_port = probe.getsockname()[1]
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--server-child",
        "--server-port", str(server_port), "--max-connections", str(max_connections),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stats: dict[str, Any] = {}
    log_lines: list[str] = []

    async def read_stdout() -> None:
        assert child.stdout is not None
        async for raw in child.stdout:
            line = raw.decode().strip()
            if line.startswith("STATS "):
                stats.update(json.loads(line[6:]))

    async def read_stderr() -> None:
        assert child.stderr is not None
        async for raw in child.stderr:
            log_lines.append(raw.decode().rstrip())

    assert child.stdout is not None
    ready = (await child.stdout.readline()).decode()
    if not ready.startswith("READY"):
        raise RuntimeError(f"server child failed: {ready}")
    readers = [asyncio.create_task(read_stdout()), asyncio.create_task(read_stderr())]
    loop = asyncio.get_running_loop()
    latencies: list[tuple[float, float, int]] = []
    stations = []
    for index in range(args.stations):
        _, station = await loop.create_connection(
            partial(Station, FIRST_ID + index, latencies), "127.0.0.1", server_port
        )
        stations.append(station)
    stop = asyncio.Event()
    runner = asyncio.create_task(run_stations(stations, args.interval, stop))
    crowd: list[socket.socket] = []
    try:
        await asyncio.sleep(1)  # registered
        t0 = time.monotonic()
        await asyncio.sleep(args.duration / 3)
        t1 = time.monotonic()
        rss_before = server_rss(child.pid)
        print(f"opening {args.connections} idle connections ...", flush=True)
        burst_start = time.monotonic()
        crowd, failed = await loop.run_in_executor(None, open_crowd, args.connections, server_port)
        burst_s = time.monotonic() - burst_start
        await asyncio.sleep(2)
        t2 = time.monotonic()
        await asyncio.sleep(args.duration * 2 / 3)
        t3 = time.monotonic()
        closed = count_closed(crowd)
        connected = sum(1 for station in stations if not station.lost)
        rss_after = server_rss(child.pid)
        open_now = stats.get("connections_open", 0)
        refused = stats.get("connections_refused", 0)
    finally:
        stop.set()
        await runner
        for station in stations:
            if station.transport is not None:
                station.transport.close()
        for sock in crowd:
            sock.close()
        assert child.stdin is not None
        child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), 15)
        except TimeoutError:
            child.kill()
        for reader in readers:
            reader.cancel()
    before = [ms for t, ms, _ in latencies if t0 <= t < t1]
    during = [ms for t, ms, _ in latencies if t2 <= t < t3]
    answered = len({pid for t, _, pid in latencies if t2 <= t < t3})
    refusing_lines = [line for line in log_lines if "Refusing connections" in line]
    report = {
        "connections": args.connections,
        "stations": args.stations,
        "limit": max_connections,
        "baseline_p50_ms": round(percentile(before, 0.5), 2),
        "baseline_p99_ms": round(percentile(before, 0.99), 2),
        "crowd_p50_ms": round(percentile(during, 0.5), 2),
        "crowd_p99_ms": round(percentile(during, 0.99), 2),
        "crowd_max_ms": round(max(during, default=float("nan")), 2),
        "connections_open": open_now,
        "connections_refused": refused,
        "refusing_log_lines": len(refusing_lines),
        "stations_still_connected": connected,
        "stations_answered_with_crowd": answered,
        "server_rss_mb": round(rss_after, 1),
        "kb_per_idle_connection": round(
            (rss_after - rss_before) * 1024 / max(1, open_now - args.stations), 2
        ),
    }
    rows = [
        ("server max_connections", f"{max_connections}"),
        ("idle crowd opened", f"{len(crowd)} of {args.connections} in {burst_s:.1f} s"
         f" ({failed} failed to connect)"),
        ("connections open at the server", f"{open_now}"),
        ("refused (server count / seen closed here)", f"{refused} / {closed}"),
        ("'Refusing connections' log lines", f"{len(refusing_lines)}"),
        ("heartbeat reply, stations alone (n)", f"{len(before)}"),
        ("   p50 / p99 / max", f"{percentile(before, 0.5):.2f} / {percentile(before, 0.99):.2f}"
         f" / {max(before, default=float('nan')):.2f} ms"),
        ("heartbeat reply, with the crowd (n)", f"{len(during)}"),
        ("   p50 / p99 / max", f"{percentile(during, 0.5):.2f} / {percentile(during, 0.99):.2f}"
         f" / {max(during, default=float('nan')):.2f} ms"),
        ("known stations connected / answered with the crowd",
         f"{connected} / {answered} of {args.stations}"),
        ("server RSS before / after the crowd", f"{rss_before:.0f} / {rss_after:.0f} MB"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    print(f"\nDNY server idle-connection benchmark (127.0.0.1, {args.duration:.0f} s)")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for line in refusing_lines[:3]:
        print(f"  log: {line}")
    return report


def server_rss(pid: int) -> float:
    try:
        import psutil  # noqa: PLC0415

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except Exception:
        return float("nan")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_connections", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--connections", type=int, default=10000, help="idle connections")
    parser.add_argument("--stations", type=int, default=50, help="known stations served")
    parser.add_argument("--interval", type=float, default=1.0, help="heartbeat period, s")
    parser.add_argument("--limit", type=int, default=0, help="server max_connections")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--server-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--server-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--max-connections", type=int, help=argparse.SUPPRESS)
    return parser


def main() -> int:
    args = build_parser().parse_args()
    if args.server_child:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        asyncio.run(server_child(args))
        return 0
    report = asyncio.run(bench(args))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
