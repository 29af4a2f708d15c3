"""End-to-end scale benchmark: a real Home Assistant, the integration, N simulated stations.

    scripts/bench_scale --stations 500 [--ports 10] [--duration 60] [--speed 1]
        [--port-entities all|essential|none|connectivity] [--settle S]
        [--allocator auto|jemalloc|glibc]

Home Assistant is started exactly as ``scripts/develop --no-simulator`` starts it (the code
of tools/demo_setup.py), in a temporary configuration directory, plus a small probe
component (``iot_zinx_bench``, written into that directory only) that samples the event
loop's lag with ``loop.call_at`` every 50 ms and reports, every 0.5 s, the lag samples, the
DNY server's frame counters, the hub's online count and the number of states.

The stations run in a child process (this script with ``--simulator-child``), so the
simulator does not share a CPU with the measuring client: all ports plugged in, a third of
them started with ``iot_zinx.start_charging`` (over the websocket); during the measurement a
tenth of those are stopped with ``iot_zinx.stop_charging`` at a steady rate (orders end,
settlements flow, as on a site), and after it another tenth at once (the stop burst, with
its own figure: until every settlement was acknowledged, and the loop's worst lag meanwhile).
Heartbeats (180 s) and 0x06 power reports (300 s) run at the docs/protocol.md rates divided by
``--speed``. ``--port-entities`` sets the integration's option of that name through the
options flow first (with ``none`` the probes are heartbeats only: a 0x06 changes no entity of
its own); ``--settle`` waits between the storm and the measurement window, so that the window
shows the steady state and not the database catching up with the storm.

Measured:
  latency      a probe is a frame with a distinctive value: a 0x06 of a charging port with
               power 4000.0 W + k x 0.1, or a 0x21 heartbeat with voltage 300.0 V + k x 0.1.
               The child stamps the send time (CLOCK_MONOTONIC, shared by processes); the
               client receives the entity's new state through a websocket ``subscribe_trigger``
               (a state trigger on the probed entities only, so Home Assistant does not stream
               every state change of the fleet to the benchmark) and stamps its arrival.
               With ``connectivity`` (one entity per station) a probe is a station's redial:
               the child stamps the moment the new connection is made, and the probe arrives
               when that station's Connectivity turns on again (its ICCID, link and register
               frames handled, the station back online).
  loop lag     the probe component's samples during the measurement window.
  frames/s     the DNY server's frames_in counter over the window.
  CPU, RSS     of the Home Assistant process (psutil); memory per station is the RSS at the
               end minus the RSS with the integration loaded and no station, over N.
  online       time from the connect storm (every station connects at once) until the hub
               counts all N online (0.5 s resolution), and until all their entities exist.
  stop burst   a tenth of the orders stopped at once after the window: time until the
               simulator counts all their settlements acknowledged; loop lag max meanwhile.
Diagnosis only: --stall-stacks MS (every thread's stack when the event loop stalls longer than
MS), --census (what the garbage collector walks, by type and by code), --tracemalloc
(Python's allocations since the idle baseline), --purge (the memory after a full collection
and an allocator purge). --large-site-tuning turns on the integration's option of that name
(runtime_tuning.py) and opens the window after its first heap freeze (whose pause is reported).

The last line of output is one JSON object. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
from functools import partial
import itertools
import json
import os
from pathlib import Path
import random
import resource
import shutil
import socket
import sys
import tempfile
import time
from typing import Any

import aiohttp
import psutil

REPO = Path(__file__).resolve().parent.parent
# The repository's root, for the integration's packages (Python puts only tools/ on sys.path),
# and tools/ itself for demo_setup (also when Python was told not to put it there: -P).
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import demo_setup

# Home Assistant's own container starts it with jemalloc and these settings (core's
# rootfs/etc/services.d/home-assistant/run); glibc's malloc keeps far more freed memory.
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
JEMALLOC_CONF = "background_thread:true,metadata_thp:auto,dirty_decay_ms:20000,muzzy_decay_ms:20000"
ALLOCATOR_ENV = ("LD_PRELOAD", "MALLOC_CONF", "PYTHONTRACEMALLOC")

PROBE_DOMAIN = "iot_zinx_bench"
PROBE_EVENT = "iot_zinx_bench_sample"
FIRST_ID = demo_setup.SIMULATOR_FIRST_ID

# The probe component: only ever written into the benchmark's temporary config directory.
PROBE_MANIFEST = {
    "domain": PROBE_DOMAIN,
    "name": "IoT-Zinx benchmark probe",
    "codeowners": [],
    "dependencies": ["websocket_api"],
    "documentation": "https://example.invalid",
    "iot_class": "local_push",
    "requirements": [],
    "version": "0.0.0",
}
PROBE_COMPONENT = '''
"""Loop-lag sampler and counters for scripts/bench_scale (temporary config dir only)."""
import collections
import gc
import time

import voluptuous as vol

from homeassistant.components import websocket_api
from homeassistant.helpers import entity_platform, entity_registry as er

DOMAIN = "iot_zinx_bench"
INTERVAL = 0.05
REPORT = 0.5


async def async_setup(hass, config):
    loop = hass.loop
    lags = []
    gc_pauses = []  # (generation, seconds) of the cyclic garbage collector's runs
    gc_start = [0.0]

    def gc_callback(phase, info):
        if phase == "start":
            gc_start[0] = time.perf_counter()
        elif info["generation"] == 2:
            gc_pauses.append(time.perf_counter() - gc_start[0])

    gc.callbacks.append(gc_callback)

    # --stall-stacks: a thread that, when the loop has not ticked for stall_ms, records every
    # thread's stack once per stall (what ran in the loop, and what the other threads did).
    stall_ms = (config.get(DOMAIN) or {}).get("stall_ms")
    last_tick = [time.monotonic()]
    stalls = collections.deque(maxlen=40)  # the last ones: the measurement window's

    def watchdog():
        import sys
        import threading
        import traceback
        dumped_for = None
        loop_thread = threading.main_thread().ident
        while True:
            time.sleep(0.02)
            since = time.monotonic() - last_tick[0]
            if since * 1000 < stall_ms or dumped_for == last_tick[0]:
                continue
            dumped_for = last_tick[0]
            names = {t.ident: t.name for t in threading.enumerate()}
            stacks = {}
            for ident, frame in sys._current_frames().items():
                if ident == threading.get_ident():
                    continue
                label = ("LOOP " if ident == loop_thread else "") + names.get(ident, str(ident))
                stacks[label] = "".join(traceback.format_stack(frame, limit=14))
            stalls.append(
                {"t": time.monotonic(), "after_ms": round(since * 1000), "stacks": stacks}
            )

    if stall_ms:
        import threading
        threading.Thread(target=watchdog, name="bench stall watchdog", daemon=True).start()

    @websocket_api.websocket_command({vol.Required("type"): "iot_zinx_bench/stalls"})
    @websocket_api.callback
    def stall_stacks(hass, connection, msg):
        connection.send_result(msg["id"], list(stalls))

    def tick(expected):
        now = loop.time()
        last_tick[0] = time.monotonic()
        lags.append(now - expected)
        loop.call_at(now + INTERVAL, tick, now + INTERVAL)

    def report():
        hub = None
        server_entry = None
        for entry in hass.config_entries.async_entries("iot_zinx"):
            if entry.data.get("kind") != "forwarding":  # webhook forwarding's entry: no hub
                hub = getattr(entry, "runtime_data", None)
                server_entry = entry
        data = {"t": time.monotonic(), "lags_ms": [round(x * 1000, 2) for x in lags],
                "states": hass.states.async_entity_ids_count(),
                "gc2_ms": [round(x * 1000, 1) for x in gc_pauses]}
        lags.clear()
        gc_pauses.clear()
        if server_entry is not None:
            # Home Assistant adds no new enabled entity to a config entry beyond its cap
            # (entity_platform.MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY): what the entry has.
            data["enabled_entities"] = er.async_get(
                hass).entities.get_enabled_count_for_config_entry_id(server_entry.entry_id)
            data["entity_cap"] = getattr(
                entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", None)
        if hub is not None:
            stats = hub.server.stats
            data.update(frames_in=stats.frames_in, frames_out=stats.frames_out,
                        connections_open=stats.connections_open,
                        stations=len(hub.stations),
                        online=sum(1 for s in hub.stations.values() if s.online))
        hass.bus.async_fire("iot_zinx_bench_sample", data)
        loop.call_later(REPORT, report)

    loop.call_later(INTERVAL, tick, loop.time() + INTERVAL)
    loop.call_later(REPORT, report)

    @websocket_api.websocket_command(
        {vol.Required("type"): "iot_zinx_bench/entity_ids", vol.Required("keys"): list}
    )
    @websocket_api.callback
    def entity_ids(hass, connection, msg):
        registry = er.async_get(hass)
        connection.send_result(msg["id"], [
            registry.async_get_entity_id(domain, "iot_zinx", unique_id)
            for domain, unique_id in msg["keys"]
        ])

    marks = []

    @websocket_api.websocket_command(
        {vol.Required("type"): "iot_zinx_bench/memory", vol.Optional("mark"): bool}
    )
    @websocket_api.callback
    def memory(hass, connection, msg):
        # Where the memory is (only with --tracemalloc): the biggest lines and files.
        import tracemalloc
        if not tracemalloc.is_tracing():
            connection.send_result(msg["id"], None)
            return
        snapshot = tracemalloc.take_snapshot()
        if msg.get("mark"):
            # The idle baseline: the report then shows what the fleet added.
            marks[:] = [snapshot]
            connection.send_result(msg["id"], {})
            return
        result = {}
        for group in ("lineno", "filename"):
            stats = snapshot.compare_to(marks[0], group) if marks else snapshot.statistics(group)
            result[group] = [
                [str(stat.traceback), getattr(stat, "size_diff", stat.size),
                 getattr(stat, "count_diff", stat.count)]
                for stat in stats[:40]
            ]
        result["total"] = [["traced now", sum(s.size for s in snapshot.statistics("filename")), 0]]
        if marks:
            result["total"].append(
                ["traced at idle", sum(s.size for s in marks[0].statistics("filename")), 0])
        connection.send_result(msg["id"], result)

    @websocket_api.websocket_command({vol.Required("type"): "iot_zinx_bench/census"})
    @websocket_api.callback
    def census(hass, connection, msg):
        try:
            _census(hass, connection, msg)
        except Exception:
            import traceback
            connection.send_error(msg["id"], "census", traceback.format_exc())

    def _census(hass, connection, msg):
        # What a full garbage collection walks: the tracked objects, by type and module.
        import collections
        counts = collections.Counter(
            f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
        )
        # Which code made them: functions and partials by what they call, HassJobs by target,
        # events by type and by what keeps them alive.
        def name(f):
            f = getattr(f, "func", f)
            return f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', type(f).__name__)}"
        detail = collections.Counter()
        events = []
        for o in gc.get_objects():
            kind = type(o).__qualname__
            if kind in ("function", "partial", "method"):
                detail[f"{kind} {name(getattr(o, '__func__', o))}"] += 1
            elif kind == "HassJob":
                detail[f"HassJob {name(o.target)}"] += 1
            elif (
                kind == "Event" and type(o).__module__ == "homeassistant.core" and len(events) < 300
            ):
                events.append(o)
        holders = collections.Counter()
        for event in events:
            for ref in gc.get_referrers(event):
                if ref is events:
                    continue
                label = type(ref).__qualname__
                if isinstance(ref, dict):
                    label += " " + ",".join(sorted(map(str, ref))[:4])
                holders[f"{event.event_type} <- {label}"] += 1
        connection.send_result(msg["id"], {"total": sum(counts.values()),
                                           "top": counts.most_common(40),
                                           "detail": detail.most_common(40),
                                           "event_holders": holders.most_common(15)})

    @websocket_api.websocket_command({vol.Required("type"): "iot_zinx_bench/heap"})
    @websocket_api.callback
    def heap(hass, connection, msg):
        # --large-site-tuning: the integration's, to open the window after its first freeze.
        tuning = hass.data.get("iot_zinx_runtime_tuning")
        connection.send_result(msg["id"], None if tuning is None else tuning.diagnostics())

    @websocket_api.websocket_command({vol.Required("type"): "iot_zinx_bench/purge"})
    @websocket_api.callback
    def purge(hass, connection, msg):
        # --purge: how much of the resident memory is live: a full collection, then the
        # allocator returns what it holds free (jemalloc's purge; glibc's malloc_trim).
        import ctypes
        gc.collect()
        libc = ctypes.CDLL(None)
        done = "none"
        if hasattr(libc, "mallctl"):
            libc.mallctl(b"arena.4096.purge", None, None, None, 0)
            done = "jemalloc purge"
        elif hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
            done = "malloc_trim"
        connection.send_result(msg["id"], done)

    websocket_api.async_register_command(hass, purge)
    websocket_api.async_register_command(hass, entity_ids)
    websocket_api.async_register_command(hass, memory)
    websocket_api.async_register_command(hass, heap)
    websocket_api.async_register_command(hass, census)
    websocket_api.async_register_command(hass, stall_stacks)
    return True
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def station_id(index: int) -> str:
    return f"{FIRST_ID + index:08X}"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        soft = min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


# -- the simulator child ----------------------------------------------------------------------


async def simulator_child(args: argparse.Namespace) -> None:
    """N stations; probe commands on stdin, send times on stdout (one line each)."""
    from custom_components.iot_zinx.protocol.messages import (  # noqa: PLC0415
        PowerHeartbeat,
    )
    from custom_components.iot_zinx.protocol.simulator import (  # noqa: PLC0415
        SimulatedStation,
        StationSimulator,
    )

    raise_fd_limit(args.stations + 256)
    loop = asyncio.get_running_loop()
    simulator = StationSimulator(
        "127.0.0.1", args.station_port, speed=args.speed, connect_concurrency=args.stations
    )
    stations = [
        simulator.add_station(
            SimulatedStation(
                FIRST_ID + index,
                args.ports,
                speed=args.speed,
                plugged=range(args.ports),
                # Long orders: none ends by itself within the run.
                full_energy_kwh=50.0,
            )
        )
        for index in range(args.stations)
    ]

    def out(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def command(line: str) -> None:
        parts = line.split()
        if not parts:
            return
        if parts[0] == "P":  # P seq station port(0-based) value
            seq, index, port, value = int(parts[1]), int(parts[2]), int(parts[3]), float(parts[4])
            station = stations[index]
            state = station.ports[port]
            order = state.order
            if order is None or not station.is_connected:
                out(f"X {seq}")
                return
            t = order.elapsed_s(loop.time())
            power = PowerHeartbeat(
                port=port, status=1, duration_s=int(t),
                energy_kwh=round(order.energy_kwh(t), 2), start_mode=order.start_mode,
                power_w=value, max_power_w=value, min_power_w=value, avg_power_w=value,
                order_no=order.order_no, interval_energy_raw=0, peak_power_w=value,
                voltage_v=station.voltage_v, current_a=round(value / station.voltage_v, 3),
                ambient_temp_raw=95, port_temp_raw=100, timestamp=int(time.time()),
            )  # fmt: skip
            station.send(power)
            out(f"S {seq} {time.monotonic():.6f}")
        elif parts[0] == "H":  # H seq station value
            seq, index, value = int(parts[1]), int(parts[2]), float(parts[3])
            station = stations[index]
            if not station.is_connected:
                out(f"X {seq}")
                return
            heartbeat = dataclasses.replace(station.heartbeat_message(), voltage_v=value)
            station.send(heartbeat)
            out(f"S {seq} {time.monotonic():.6f}")
        elif parts[0] == "R":  # R seq station: the station's module redials
            seq, index = int(parts[1]), int(parts[2])
            station = stations[index]
            if not station.is_connected:
                out(f"X {seq}")
                return
            redials.add(loop.create_task(redial(seq, station)))
        elif parts[0] == "T":
            # With the simulator's own loop lag since the last T: a congested simulator (every
            # station's heartbeat at once) delays what it sends after the probe's stamp.
            lags = sorted(child_lags)
            child_lags.clear()
            totals = {
                **simulator.totals(),
                "simulator_lag_p99_ms": round(lags[int(0.99 * (len(lags) - 1))], 1) if lags else 0,
                "simulator_lag_max_ms": round(lags[-1], 1) if lags else 0,
            }
            out("T " + json.dumps(totals))

    redials: set[asyncio.Task[None]] = set()
    child_lags: list[float] = []

    def tick(expected: float) -> None:
        now = loop.time()
        child_lags.append((now - expected) * 1000)
        loop.call_at(now + 0.05, tick, now + 0.05)

    loop.call_soon(tick, loop.time())

    async def redial(seq: int, station: SimulatedStation) -> None:
        # Closes the connection, opens a new one, sends the ICCID; the register frame, which
        # brings the station back online, goes out as the loop runs next: stamped now.
        try:
            await station.reconnect()
        except OSError:
            out(f"X {seq}")
            return
        finally:
            redials.discard(asyncio.current_task())
        out(f"S {seq} {time.monotonic():.6f}")

    buffer = bytearray()

    def readable() -> None:
        data = os.read(sys.stdin.fileno(), 65536)
        if not data:
            stop.set()
            return
        buffer.extend(data)
        while (end := buffer.find(b"\n")) >= 0:
            line = buffer[:end].decode()
            del buffer[: end + 1]
            command(line)

    stop = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), readable)
    started = time.monotonic()
    out(f"B {started:.6f}")
    await simulator.start()
    out(f"C {time.monotonic():.6f}")
    try:
        await stop.wait()
    finally:
        loop.remove_reader(sys.stdin.fileno())
        await simulator.stop()


# -- the websocket client ---------------------------------------------------------------------


class Ws:
    """One authenticated websocket with many commands in flight and subscriptions."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session = session
        self.url = url.replace("http", "ws", 1) + "/api/websocket"
        self.token = token
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.handlers: dict[int, Any] = {}
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(self.url, max_msg_size=0, heartbeat=None)
        await self.ws.receive_json()
        await self.ws.send_json({"type": "auth", "access_token": self.token})
        if (await self.ws.receive_json())["type"] != "auth_ok":
            raise RuntimeError("websocket authentication failed")
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            received = time.monotonic()
            payload = json.loads(message.data)
            for item in payload if isinstance(payload, list) else [payload]:
                if item.get("type") == "event":
                    if (handler := self.handlers.get(item["id"])) is not None:
                        handler(item["event"], received)
                elif (
                    future := self.pending.pop(item.get("id"), None)
                ) is not None and not future.done():
                    future.set_result(item)

    async def call(self, command: str, **data: Any) -> Any:
        assert self.ws is not None
        message_id = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[message_id] = future
        await self.ws.send_json({"id": message_id, "type": command, **data})
        reply = await future
        if not reply.get("success"):
            raise RuntimeError(f"{command}: {reply.get('error')}")
        return reply.get("result")

    async def subscribe(self, command: str, handler: Any, **data: Any) -> None:
        assert self.ws is not None
        message_id = next(self.ids)
        self.handlers[message_id] = handler
        future = asyncio.get_running_loop().create_future()
        self.pending[message_id] = future
        await self.ws.send_json({"id": message_id, "type": command, **data})
        reply = await future
        if not reply.get("success"):
            raise RuntimeError(f"{command}: {reply.get('error')}")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


# -- the benchmark ----------------------------------------------------------------------------


@dataclasses.dataclass
class Samples:
    """What the probe component reported."""

    lags_ms: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # (t, lag)
    gc_ms: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # full GC runs
    last: dict[str, Any] = dataclasses.field(default_factory=dict)
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def add(self, event: dict[str, Any], _received: float) -> None:
        data = event["data"]
        t = data["t"]
        self.lags_ms.extend((t, lag) for lag in data["lags_ms"])
        self.gc_ms.extend((t, pause) for pause in data.get("gc2_ms", ()))
        self.last = data
        self.history.append(data)
        self.changed.set()

    async def wait(self, predicate: Any, within: float) -> float | None:
        """Until predicate(last sample) holds; the sample's time, or None on timeout."""
        deadline = time.monotonic() + within
        while True:
            if self.last and predicate(self.last):
                return float(self.last["t"])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    def lags_between(self, start: float, end: float) -> list[float]:
        return [lag for t, lag in self.lags_ms if start <= t <= end]


class Child:
    """The simulator child process and its probe protocol."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.sent: dict[int, float] = {}
        self.skipped = 0
        self.begin = 0.0
        self.connected = asyncio.Event()
        self.connected_at = 0.0
        self.totals: asyncio.Future[dict[str, Any]] | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            parts = raw.decode().split(maxsplit=2)
            if not parts:
                continue
            if parts[0] == "S":
                self.sent[int(parts[1])] = float(parts[2])
            elif parts[0] == "X":
                self.skipped += 1
            elif parts[0] == "B":
                self.begin = float(parts[1])
            elif parts[0] == "C":
                self.connected_at = float(parts[1])
                self.connected.set()
            elif parts[0] == "T" and self.totals is not None and not self.totals.done():
                self.totals.set_result(json.loads(raw.decode()[2:]))

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")

    async def get_totals(self) -> dict[str, Any]:
        self.totals = asyncio.get_running_loop().create_future()
        self.send("T")
        return await asyncio.wait_for(self.totals, 10)

    async def stop(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.reader.cancel()


def customize(config: Path, *, exclude_events: bool = False, stall_ms: int = 0) -> None:
    if exclude_events:
        # What a large site would do: keep the integration's event stream (every frame's
        # envelope, for automations and forwarding) out of the recorder's database.
        path = config / "configuration.yaml"
        text = path.read_text()
        recorder = "recorder:\n  purge_keep_days: 10\n"
        if recorder not in text:
            raise SystemExit("develop/configuration.yaml has changed: update --exclude-events")
        path.write_text(
            text.replace(
                recorder, recorder + "  exclude:\n    event_types:\n      - iot_zinx_event\n"
            )
        )
    component = config / "custom_components" / PROBE_DOMAIN
    component.mkdir(parents=True, exist_ok=True)
    (component / "manifest.json").write_text(json.dumps(PROBE_MANIFEST))
    (component / "__init__.py").write_text(PROBE_COMPONENT)
    with (config / "configuration.yaml").open("a") as out:
        out.write(f"\n{PROBE_DOMAIN}:\n")
        if stall_ms:
            out.write(f"  stall_ms: {stall_ms}\n")


async def set_options(
    session: aiohttp.ClientSession, state: dict[str, Any], options: dict[str, Any], within: float
) -> None:
    """Set the integration's options through the options flow, then wait for the reload."""
    base, headers = state["url"], {"Authorization": f"Bearer {state['token']}"}
    flows = f"{base}/api/config/config_entries/options/flow"
    async with session.post(flows, json={"handler": state["entry_id"]}, headers=headers) as reply:
        form = await reply.json()
    async with session.post(f"{flows}/{form['flow_id']}", json=options, headers=headers) as reply:
        result = await reply.json()
    if result.get("type") != "create_entry":
        raise RuntimeError(f"options flow: {result}")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        async with session.get(f"{base}/api/config/config_entries/entry", headers=headers) as reply:
            entries = await reply.json()
        if any(e["entry_id"] == state["entry_id"] and e["state"] == "loaded" for e in entries):
            return
    raise RuntimeError("the entry did not reload")


def rss_mb(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / 2**20


def rss_parts_mb(process: psutil.Process) -> dict[str, float]:
    """The resident memory by kind (/proc/PID/status): anonymous (the heaps), file, shmem."""
    parts = {}
    with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("RssAnon", "RssFile", "RssShmem"):
                parts[name] = int(value.split()[0]) / 1024
    return parts


async def call_many(ws: Ws, service: str, targets: list[tuple[int, int]], limit: int) -> int:
    """``iot_zinx.<service>`` on (station index, port) pairs, ``limit`` in flight; failures."""
    semaphore = asyncio.Semaphore(limit)
    failures = 0

    async def one(index: int, port: int) -> None:
        nonlocal failures
        async with semaphore:
            try:
                await ws.call(
                    "call_service",
                    domain="iot_zinx",
                    service=service,
                    service_data={"station_id": station_id(index), "port": port + 1},
                )
            except RuntimeError:
                failures += 1

    await asyncio.gather(*(one(index, port) for index, port in targets))
    return failures


async def call_paced(ws: Ws, service: str, targets: list[tuple[int, int]], seconds: float) -> int:
    """``iot_zinx.<service>`` on each target, one every ``seconds / len(targets)``; failures."""
    if not targets:
        return 0
    gap = seconds / len(targets)
    calls = []
    for target in targets:
        calls.append(asyncio.create_task(call_many(ws, service, [target], 1)))
        await asyncio.sleep(gap)
    return sum(await asyncio.gather(*calls))


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    n, ports = args.stations, args.ports
    config = Path(tempfile.mkdtemp(prefix="iot_zinx_bench_"))
    demo_args = demo_setup.build_parser().parse_args(
        [
            "--config", str(config),
            "--port", str(free_port()),
            "--station-port", str(free_port()),
            "--no-simulator",
            "--background",
            "--log-level", "warning",
            "--timeout", str(args.start_timeout),
        ]
    )  # fmt: skip
    demo = demo_setup.Demo(
        demo_args,
        customize=partial(
            customize, exclude_events=args.exclude_events, stall_ms=args.stall_stacks
        ),
    )
    child: Child | None = None
    report: dict[str, Any] = {"stations": n, "ports": ports}
    lines: list[tuple[str, str]] = []
    t_all = time.monotonic()
    try:
        print(f"Home Assistant in {config} ...", flush=True)
        await demo.start()
        state = demo.state
        hass = psutil.Process(state["hass_pid"])
        async with aiohttp.ClientSession() as session:
            if args.port_entities != "all" or args.large_site_tuning:
                options = {
                    "port_entities": args.port_entities,
                    "large_site_tuning": args.large_site_tuning,
                }
                await set_options(session, state, options, args.start_timeout)
            ws = Ws(session, state["url"], state["token"])
            await ws.connect()
            samples = Samples()
            await ws.subscribe("subscribe_events", samples.add, event_type=PROBE_EVENT)
            # Idle baseline: integration loaded, no station.
            await asyncio.sleep(5)
            idle_start = time.monotonic()
            await asyncio.sleep(5)
            idle_lags = samples.lags_between(idle_start, time.monotonic())
            baseline_rss = rss_mb(hass)
            baseline_parts = rss_parts_mb(hass)
            if args.tracemalloc:
                await ws.call("iot_zinx_bench/memory", mark=True)
            lines.append(("idle RSS (0 stations)", f"{baseline_rss:.0f} MB"))
            lines.append(
                ("idle loop lag p99/max", f"{percentile(idle_lags, 0.99):.1f} / "
                 f"{max(idle_lags, default=0):.1f} ms")
            )  # fmt: skip
            states_before = samples.last.get("states", 0)

            # Connect storm.
            print(f"connecting {n} stations x {ports} ports at once ...", flush=True)
            process = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--simulator-child",
                "--stations", str(n), "--ports", str(ports), "--speed", str(args.speed),
                "--station-port", str(state["station_port"]),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                env={k: v for k, v in os.environ.items() if k not in ALLOCATOR_ENV},
                stderr=(config / "simulator.log").open("ab"),
            )  # fmt: skip
            child = Child(process)
            await asyncio.wait_for(child.connected.wait(), args.start_timeout)
            online_t = await samples.wait(lambda s: s.get("online", 0) >= n, args.start_timeout)
            online_after = None if online_t is None else online_t - child.begin
            # Entities: added once the state count stops growing.
            stable_t = await wait_states_stable(samples, args.start_timeout)
            entities_after = None if stable_t is None else stable_t - child.begin
            states_now = samples.last.get("states", 0)
            report["online_after_s"] = None if online_after is None else round(online_after, 1)
            lines.append(
                (
                    "connect storm: all online after",
                    f"{online_after:.1f} s" if online_after is not None else "not all online",
                )
            )
            lines.append(
                (
                    "  ... all entities added after",
                    f"{entities_after:.1f} s" if entities_after is not None else "not settled",
                )
            )
            lines.append(("entities (states) of the fleet", f"{states_now - states_before}"))
            # Home Assistant adds no new enabled entity to a config entry at its cap (it logs
            # a warning): the rest of the fleet's entities would silently be missing.
            enabled, cap = samples.last.get("enabled_entities", 0), samples.last.get("entity_cap")
            report["enabled_entities"] = enabled
            report["entity_cap_reached"] = cap is not None and enabled >= cap
            lines.append(
                ("enabled entities of the server's entry (cap)",
                 f"{enabled} ({cap})" + (
                     "  REACHED: the fleet's entities are incomplete"
                     if report["entity_cap_reached"] else ""))
            )  # fmt: skip
            storm_rss = rss_mb(hass)

            # Charging on a third of the ports.
            targets = [
                (index, port)
                for index in range(n)
                for port in range(ports)
                if (index * ports + port) % 3 == 0
            ]
            t = time.monotonic()
            failures = await call_many(ws, "start_charging", targets, args.in_flight)
            lines.append(
                ("start_charging on 1/3 of the ports", f"{len(targets) - failures}/{len(targets)}"
                 f" in {time.monotonic() - t:.1f} s")
            )  # fmt: skip
            started_rss = rss_mb(hass)
            charging = targets
            random.Random(1).shuffle(charging)

            # Probed entities.
            probe_ports = charging[: args.probe_entities]
            probe_stations = random.Random(2).sample(range(n), min(n, args.probe_entities))
            redial_probes = args.port_entities == "connectivity"
            if args.port_entities in ("none", "connectivity"):
                probe_ports = []  # no port entity: heartbeats (none) or redials are the probes
            keys = [("sensor", f"{station_id(i)}_port{p + 1}_power") for i, p in probe_ports]
            if redial_probes:
                # One entity per station, which a heartbeat does not change: a probe is a
                # station redialling, and its register frame turns its connectivity on.
                keys += [("binary_sensor", f"{station_id(i)}_connectivity") for i in probe_stations]
            else:
                keys += [("sensor", f"{station_id(i)}_voltage") for i in probe_stations]
            entity_ids = await ws.call("iot_zinx_bench/entity_ids", keys=keys)
            port_entity = dict(zip(probe_ports, entity_ids[: len(probe_ports)], strict=True))
            station_entity = dict(zip(probe_stations, entity_ids[len(probe_ports) :], strict=True))
            watched = [e for e in entity_ids if e]
            expected: dict[tuple[str, float | str], int] = {}
            latency_ms: dict[str, list[float]] = {"power": [], "heartbeat": [], "redial": []}
            kind_of: dict[int, str] = {}
            arrived: dict[int, float] = {}

            def on_trigger(event: dict[str, Any], received: float) -> None:
                to_state = event["variables"]["trigger"]["to_state"]
                if to_state is None:
                    return
                key: tuple[str, float | str]
                if to_state["state"] in ("on", "off"):
                    key = (to_state["entity_id"], to_state["state"])
                else:
                    try:
                        key = (to_state["entity_id"], round(float(to_state["state"]), 1))
                    except ValueError:
                        return
                if (seq := expected.pop(key, None)) is not None:
                    arrived[seq] = received

            await ws.subscribe(
                "subscribe_trigger",
                on_trigger,
                trigger={"platform": "state", "entity_id": watched},
            )

            # Steady state: the storm's database writes drain before the window opens (the
            # storm has its own figure above).
            if args.settle > 0:
                print(f"settling for {args.settle:.0f} s ...", flush=True)
                await asyncio.sleep(args.settle)
            if args.large_site_tuning:
                # The integration's first (full) freeze comes a few minutes after the option
                # is set; the window shows the steady state after it (young passes every ten
                # seconds, whose pauses are among the full collections below).
                print("waiting for the integration's first heap freeze ...", flush=True)
                # Another process's state, over the websocket: polled.
                while not (heap := await ws.call("iot_zinx_bench/heap"))["full_passes"]:  # noqa: ASYNC110
                    await asyncio.sleep(1)
                pause = heap["last_full"]["pause_ms"]
                report["heap_freeze_pause_ms"] = pause
                lines.append(
                    ("heap frozen before the window (pause)",
                     f"{heap['frozen_objects']} objects ({pause:.0f} ms)")
                )  # fmt: skip

            # Measurement window. Orders end at a steady rate through it (a tenth of the
            # charging ports, not the probed ones), as a site's orders do; a tenth more stop at
            # once after it, the burst measured on its own (like the connect storm).
            print(f"measuring for {args.duration:.0f} s ...", flush=True)
            unprobed = charging[len(probe_ports) :]
            if redial_probes:  # a stop sent while its station redials would fail
                redialled = set(probe_stations)
                unprobed = [target for target in unprobed if target[0] not in redialled]
            tenth = len(charging) // 10
            steady_stops, burst_stops = unprobed[:tenth], unprobed[tenth : 2 * tenth]
            stopping = asyncio.get_running_loop().create_task(
                call_paced(ws, "stop_charging", steady_stops, args.duration * 0.9)
            )
            await child.get_totals()  # the simulator's loop lag from here on
            cpu_before = hass.cpu_times()
            window_start = time.monotonic()
            first = samples.last
            seq = 0
            rng = random.Random(3)
            while time.monotonic() - window_start < args.duration:
                seq += 1
                if seq % 3 and port_entity:
                    (index, port), entity = rng.choice(list(port_entity.items()))
                    value: float | str = round(4000.0 + (seq % 20000) / 10, 1)
                    kind = "power"
                    line = f"P {seq} {index} {port} {value:.1f}"
                elif redial_probes:
                    index = rng.choice(probe_stations)
                    entity = station_entity[index]
                    if (entity, "on") in expected:  # still redialling from its last probe
                        await asyncio.sleep(1 / args.probe_rate)
                        continue
                    value = "on"
                    kind = "redial"
                    line = f"R {seq} {index}"
                else:
                    index = rng.choice(probe_stations)
                    entity = station_entity[index]
                    value = round(300.0 + (seq % 1000) / 10, 1)
                    kind = "heartbeat"
                    line = f"H {seq} {index} {value:.1f}"
                if entity is None:
                    continue
                expected[(entity, value)] = seq
                kind_of[seq] = kind
                child.send(line)
                await asyncio.sleep(1 / args.probe_rate)
            window_end = time.monotonic()
            cpu_after = hass.cpu_times()
            stop_failures = await stopping
            await asyncio.sleep(2)  # the last probes' states
            last = samples.last
            lost = 0
            for number, kind in kind_of.items():
                if number in arrived and number in child.sent:
                    latency_ms[kind].append((arrived[number] - child.sent[number]) * 1000)
                elif number in child.sent:
                    lost += 1
            all_latency = latency_ms["power"] + latency_ms["heartbeat"] + latency_ms["redial"]
            lags = samples.lags_between(window_start, window_end)
            wall = window_end - window_start
            cpu = (
                ((cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system))
                / wall
                * 100
            )
            span = last["t"] - first["t"]
            frames_in = (last["frames_in"] - first["frames_in"]) / span if span else 0.0
            frames_out = (last["frames_out"] - first["frames_out"]) / span if span else 0.0
            rss = rss_mb(hass)
            if args.large_site_tuning:
                after = await ws.call("iot_zinx_bench/heap")
                report["heap_young_passes"] = after["young_passes"] - heap["young_passes"]
                if (young := after["last"]) is not None and young["kind"] == "young":
                    lines.append(
                        ("  ... the last young pass: pause, collected",
                         f"{young['pause_ms']:.0f} ms, {young['collected']}")
                    )  # fmt: skip
                lines.append(
                    ("heap passes in the window: young, full (retried)",
                     f"{report['heap_young_passes']}, "
                     f"{after['full_passes'] - heap['full_passes']} ({after['retries']})")
                )  # fmt: skip
            lines.append(
                ("orders ended during the window (steady)",
                 f"{len(steady_stops) - stop_failures}/{len(steady_stops)}")
            )  # fmt: skip

            # The stop burst: a tenth of the orders end within the same second.
            window_totals = await child.get_totals()
            settled_before = window_totals["settlements_acknowledged"]
            report["simulator_lag_p99_ms"] = window_totals["simulator_lag_p99_ms"]
            report["simulator_lag_max_ms"] = window_totals["simulator_lag_max_ms"]
            lines.append(
                ("the simulator's own loop lag in the window p99/max",
                 f"{report['simulator_lag_p99_ms']:.1f} / {report['simulator_lag_max_ms']:.1f} ms")
            )  # fmt: skip
            burst_start = time.monotonic()
            burst_failures = await call_many(ws, "stop_charging", burst_stops, args.in_flight)
            settled_t = None
            while time.monotonic() - burst_start < args.start_timeout:
                settled = (await child.get_totals())["settlements_acknowledged"] - settled_before
                if settled >= len(burst_stops) - burst_failures:
                    settled_t = time.monotonic() - burst_start
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1)
            burst_lags = samples.lags_between(burst_start, time.monotonic())
            report["stop_burst_settled_s"] = None if settled_t is None else round(settled_t, 1)
            report["stop_burst_lag_max_ms"] = round(max(burst_lags, default=0.0), 1)
            lines.append(
                (f"stop burst: {len(burst_stops)} orders at once, all settled after",
                 "not all settled" if settled_t is None else
                 f"{settled_t:.1f} s (loop lag max {report['stop_burst_lag_max_ms']:.0f} ms)")
            )  # fmt: skip
            totals = await child.get_totals()
            report.update(
                frames_per_s=round(frames_in, 1),
                latency_p50_ms=round(percentile(all_latency, 0.5), 1),
                latency_p99_ms=round(percentile(all_latency, 0.99), 1),
                latency_max_ms=round(max(all_latency, default=float("nan")), 1),
                loop_lag_p99_ms=round(percentile(lags, 0.99), 1),
                loop_lag_max_ms=round(max(lags, default=float("nan")), 1),
                rss_mb=round(rss, 1),
                kb_per_station=round((rss - baseline_rss) * 1024 / n, 1) if n else None,
                cpu_percent=round(cpu, 1),
                speed=args.speed,
                exclude_events=args.exclude_events,
                port_entities=args.port_entities,
                allocator=args.allocator,
                large_site_tuning=args.large_site_tuning,
            )
            for kind, values in latency_ms.items():
                lines.append(
                    (f"latency {kind} frame -> state (n={len(values)})",
                     f"p50 {percentile(values, 0.5):.1f}  p99 {percentile(values, 0.99):.1f}  "
                     f"max {max(values, default=float('nan')):.1f} ms")
                )  # fmt: skip
            lines.append(("probes without a state change (lost)", f"{lost}"))
            worst = sorted(
                ((lag, t - window_start) for t, lag in samples.lags_ms
                 if window_start <= t <= window_end), reverse=True,
            )[:3]  # fmt: skip
            lines.append(
                ("worst loop stalls (ms at s into the window)",
                 ", ".join(f"{lag:.0f} at {at:.1f}" for lag, at in worst))
            )  # fmt: skip
            full_gc = [pause for t, pause in samples.gc_ms if window_start <= t <= window_end + 1]
            lines.append(
                ("full (gen 2) garbage collections: n, max",
                 f"{len(full_gc)}, {max(full_gc, default=0):.0f} ms")
            )  # fmt: skip
            report["gc2_max_ms"] = round(max(full_gc, default=0), 1)
            lines.append(
                ("loop lag (50 ms timer) p50/p99/max",
                 f"{percentile(lags, 0.5):.1f} / {percentile(lags, 0.99):.1f} / "
                 f"{max(lags, default=float('nan')):.1f} ms")
            )  # fmt: skip
            lines.append(("frames/s in / out (DNY server)", f"{frames_in:.0f} / {frames_out:.0f}"))
            lines.append(("Home Assistant CPU (1 core = 100 %)", f"{cpu:.0f} %"))
            lines.append(("Home Assistant RSS", f"{rss:.0f} MB"))
            lines.append(("memory per station above idle", f"{report['kb_per_station']} KB"))
            lines.append(
                ("  ... per station after the storm, after the starts",
                 f"{(storm_rss - baseline_rss) * 1024 / n:.1f} KB, "
                 f"{(started_rss - baseline_rss) * 1024 / n:.1f} KB")
            )  # fmt: skip
            parts = rss_parts_mb(hass)
            lines.append(
                ("  ... of which anonymous / file / shmem",
                 " / ".join(f"{(parts[k] - baseline_parts[k]) * 1024 / n:.1f}" for k in
                            ("RssAnon", "RssFile", "RssShmem")) + " KB")
            )  # fmt: skip
            if args.purge:
                how = await ws.call("iot_zinx_bench/purge")
                await asyncio.sleep(1)
                purged = rss_mb(hass)
                lines.append(
                    (f"  ... after gc.collect() and {how} (diagnosis)",
                     f"{purged:.0f} MB, {(purged - baseline_rss) * 1024 / n:.1f} KB per station")
                )  # fmt: skip
            lines.append(("simulator totals", json.dumps(totals)))
            if args.census:
                census = await ws.call("iot_zinx_bench/census")
                print(f"\nobjects tracked by the garbage collector: {census['total']}")
                for name, count in census["top"]:
                    print(f"  {count:9d}  {name}")
                print("\nfunctions, partials, methods and HassJobs by what they call:")
                for name, count in census["detail"]:
                    print(f"  {count:9d}  {name}")
                print("\nwhat keeps a sample of 300 events alive:")
                for name, count in census["event_holders"]:
                    print(f"  {count:9d}  {name}")
            if args.stall_stacks:
                stalls = await ws.call("iot_zinx_bench/stalls")
                print(f"\nloop stalls over {args.stall_stacks} ms: the last {len(stalls)}")
                for stall in stalls:
                    print(
                        f"\n-- stall at {stall['t'] - window_start:.1f} s into the window, "
                        f"{stall['after_ms']} ms without a tick when recorded"
                    )
                    for thread, stack in stall["stacks"].items():
                        print(f"   [{thread}]\n{stack}")
            if args.tracemalloc:
                memory = await ws.call("iot_zinx_bench/memory")
                for group, stats in memory.items():
                    print(f"\ntracemalloc: biggest growth since idle by {group}")
                    for where, size, count in stats:
                        print(f"  {size / 2**20:9.1f} MB {count:9d}  {where}")
            await ws.close()
    finally:
        if child is not None:
            await child.stop()
        # The benchmark's own throwaway instance: no need to wait a minute for its shutdown.
        if demo.hass_process is not None:
            demo_setup.stop_pid(demo.hass_process.pid, "Home Assistant", 15)
        if not args.keep:
            shutil.rmtree(config, ignore_errors=True)
        else:
            print(f"kept {config}")
    width = max(len(name) for name, _ in lines)
    print(
        f"\nIoT-Zinx scale benchmark: {n} stations x {ports} ports, speed x{args.speed:g}, "
        f"port entities: {args.port_entities}, {args.duration:.0f} s window "
        f"(total {time.monotonic() - t_all:.0f} s)"
    )
    for name, value in lines:
        print(f"  {name:<{width}}  {value}")
    return report


async def wait_states_stable(samples: Samples, within: float) -> float | None:
    """When the state count stopped growing (unchanged for 3 s); that sample's time."""
    deadline = time.monotonic() + within
    last_count, last_change = -1, time.monotonic()
    changed_at = None
    while time.monotonic() < deadline:
        count = samples.last.get("states", 0)
        if count != last_count:
            last_count, last_change = count, time.monotonic()
            changed_at = samples.last.get("t")
        elif time.monotonic() - last_change >= 3:
            return changed_at
        await asyncio.sleep(0.25)
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/bench_scale", description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--ports", type=int, default=10)
    parser.add_argument("--duration", type=float, default=60.0, help="measurement window, s")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="heartbeat/power rates x X (default 1: the stations' real rates)",
    )
    parser.add_argument("--probe-rate", type=float, default=15.0, help="probes per second")
    parser.add_argument("--probe-entities", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=200, help="actions in flight")
    parser.add_argument("--start-timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary config dir")
    parser.add_argument(
        "--exclude-events",
        action="store_true",
        help="exclude iot_zinx_event from the recorder (as a large site would)",
    )
    parser.add_argument(
        "--allocator",
        choices=("auto", "jemalloc", "glibc"),
        default="auto",
        help="Home Assistant's malloc: jemalloc as its container runs it, or glibc; "
        "auto (default): jemalloc where it is installed, else glibc",
    )
    parser.add_argument(
        "--port-entities",
        choices=("all", "essential", "none", "connectivity"),
        default="all",
        help="the integration's port_entities option (default all)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds between the last start_charging and the measurement window",
    )
    parser.add_argument(
        "--large-site-tuning",
        action="store_true",
        help="the integration's large_site_tuning option; the window opens after the first freeze",
    )
    parser.add_argument(
        "--purge",
        action="store_true",
        help="diagnosis: also measure the memory after a full collection and an allocator purge",
    )
    parser.add_argument(
        "--stall-stacks",
        type=int,
        default=0,
        metavar="MS",
        help="diagnosis: record every thread's stack when the loop stalls longer than MS",
    )
    parser.add_argument(
        "--census",
        action="store_true",
        help="print the objects the garbage collector tracks, by type, at the end",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace Home Assistant's allocations (slower) and print where the memory is",
    )
    parser.add_argument("--simulator-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--station-port", type=int, help=argparse.SUPPRESS)
    return parser


def main() -> int:
    args = build_parser().parse_args()
    if args.simulator_child:
        asyncio.run(simulator_child(args))
        return 0
    if args.tracemalloc:
        os.environ["PYTHONTRACEMALLOC"] = "1"  # inherited by Home Assistant only
    if args.allocator == "auto":
        # A new user's machine rarely has jemalloc: measure with glibc then, and say so.
        args.allocator = "jemalloc" if Path(JEMALLOC).exists() else "glibc"
        if args.allocator == "glibc":
            print(f"{JEMALLOC} is missing (apt-get install libjemalloc2): using glibc's malloc")
    if args.allocator == "jemalloc":
        if not Path(JEMALLOC).exists():
            print(f"{JEMALLOC} is missing: apt-get install libjemalloc2, or --allocator glibc")
            return 2
        os.environ.update(LD_PRELOAD=JEMALLOC, MALLOC_CONF=JEMALLOC_CONF)
    print(f"allocator of Home Assistant: {args.allocator}", flush=True)
    limit = raise_fd_limit(4096)
    print(f"file-descriptor soft limit: {limit}", flush=True)
    report = asyncio.run(bench(args))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
