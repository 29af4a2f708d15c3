"""Benchmark webhook forwarding: the durable outbox, one caller and many, against a POST loop.

Starts a real aiohttp receiver on 127.0.0.1 (answering ``{"code": 200}`` like a platform,
optionally after ``--receiver-delay-ms``) and a minimal real Home Assistant in a temporary
configuration folder, so the outbox is written with real, fsync'ed files. Every fsync of the
outbox is counted (through ``outbox_files.fsync``). Then, in the same run and the same event
loop, with ``--events`` envelopes over ``--stations`` stations (default: 10, or the
concurrency when larger):

* sequential: the events through the ``iot_zinx.forward_event`` action, one call after the
  other, as one queued automation does;
* concurrent (``--concurrency N`` > 1): N callers at once, each calling for its own stations
  one event after the other (many stations firing together: N automation runs), so the
  outbox's group commit can share writes;
* paced: ``--paced-events`` calls started at ``--rate`` events/s (200 by default), each on its
  own, whatever the previous one is doing: the action's latency at a steady rate;
* baseline: the same envelopes POSTed directly with the same kind of aiohttp session, one
  after the other, no outbox (what an automation calling a REST command would do).

For each forwarding phase: events/s from the first call to the last delivery confirmed (after
checking that every event arrived exactly once and in order per station), the action's
latency p50/p99 (what an automation waits: until the event is on disk) and fsyncs per event.
The disk's pace (one durable 40 KB write, before and after) is printed too: on a shared
machine it moves every figure.
``speedup`` is concurrent events/s / sequential events/s; ``ratio_*`` compare with the
baseline. Prints a table, then the figures as one JSON object on the last line.

    scripts/bench_forwarding [--events N] [--concurrency N] [--stations N] [--rate R]
                             [--paced-events N] [--receiver-delay-ms N]
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
import json
from pathlib import Path
import sys
import tempfile
import time
from typing import Any
import uuid

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
# The repository's root, for the integration's packages (Python puts only tools/ on sys.path).
sys.path.insert(0, str(ROOT))

from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.json import json_bytes

from custom_components.iot_zinx import outbox_files
from custom_components.iot_zinx.const import DOMAIN
from custom_components.iot_zinx.forwarding import (
    SERVICE_FORWARD_EVENT,
    async_setup_forwarding,
    async_unload_forwarding,
)


class FsyncCounter:
    """Counts the outbox's fsyncs: they still happen, through the counter."""

    def __init__(self) -> None:
        self.count = 0
        self._fsync = outbox_files.fsync
        outbox_files.fsync = self

    def __call__(self, fd: int) -> None:
        self.count += 1
        self._fsync(fd)


class Platform:
    """The receiver: de-duplicates on event_id and remembers the order per station."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.seen: set[str] = set()
        self.per_station: dict[str, list[str]] = defaultdict(list)
        self.duplicates = 0
        self.count = 0
        self.done = asyncio.Event()
        self.expected = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        if self.delay:
            await asyncio.sleep(self.delay)
        if event["event_id"] in self.seen:
            self.duplicates += 1
        else:
            self.seen.add(event["event_id"])
            self.per_station[event["device_id"]].append(event["event_id"])
        self.count += 1
        if len(self.seen) >= self.expected:
            self.done.set()
        return web.json_response({"code": 200, "message": "success"})

    def reset(self, expected: int) -> None:
        self.seen.clear()
        self.per_station.clear()
        self.duplicates = self.count = 0
        self.expected = expected
        self.done = asyncio.Event()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/iot/events", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/api/iot/events"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def envelopes(count: int, stations: int) -> list[dict[str, Any]]:
    """Power heartbeats, the most frequent documented event, round-robin over stations."""
    events = []
    for number in range(count):
        station_id = f"04A2{number % stations:04X}"
        events.append(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "power_heartbeat",
                "device_id": station_id,
                "port_number": 1 + number % 10,
                "timestamp": 1_767_225_600 + number,
                "data": {
                    "current_power": 215.3,
                    "max_power": 220.0,
                    "min_power": 180.0,
                    "avg_power": 200.0,
                    "cumulative_energy": 0.12,
                    "voltage": 221.5,
                    "current": 0.972,
                    "charging_status": 1,
                    "charging_status_desc": "正常充电",
                    "command": "0x06",
                },
            }
        )
    return events


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def check(platform: Platform, events: list[dict[str, Any]]) -> None:
    expected: dict[str, list[str]] = defaultdict(list)
    for event in events:
        expected[event["device_id"]].append(event["event_id"])
    if platform.per_station != expected:
        raise SystemExit("forwarding lost or reordered events")


async def forward(hass: HomeAssistant, platform: Platform, event: dict[str, Any]) -> float:
    """One action call; returns its latency in seconds."""
    before = time.perf_counter()
    await hass.services.async_call(
        DOMAIN,
        SERVICE_FORWARD_EVENT,
        {"url": platform.url, "event": event, "token": "bench-token"},
        blocking=True,
    )
    return time.perf_counter() - before


async def bench_forwarding(
    hass: HomeAssistant,
    platform: Platform,
    fsyncs: FsyncCounter,
    events: list[dict[str, Any]],
    *,
    concurrency: int = 1,
    rate: float | None = None,
) -> dict[str, float]:
    """Forward `events` sequentially, with `concurrency` callers, or paced at `rate`/s."""
    platform.reset(len(events))
    fsyncs_before = fsyncs.count
    commits_before = hass.data[f"{DOMAIN}_forwarding"].outbox.commits
    latencies: list[float] = []
    started = time.perf_counter()
    if rate is not None:
        calls = []
        for number, event in enumerate(events):
            await asyncio.sleep(max(0.0, started + number / rate - time.perf_counter()))
            calls.append(asyncio.create_task(forward(hass, platform, event)))
        latencies = list(await asyncio.gather(*calls))
    else:
        # Each caller owns some stations and calls for them in order, as one automation run
        # per station would: the order per station is the order of `events`.
        callers: dict[int, list[dict[str, Any]]] = defaultdict(list)
        owner: dict[str, int] = {}
        for event in events:
            caller = owner.setdefault(event["device_id"], len(owner) % concurrency)
            callers[caller].append(event)

        async def call_all(mine: list[dict[str, Any]]) -> None:
            for event in mine:
                latencies.append(await forward(hass, platform, event))

        await asyncio.gather(*(call_all(mine) for mine in callers.values()))
    accepted = time.perf_counter() - started
    await asyncio.wait_for(platform.done.wait(), 600)
    elapsed = time.perf_counter() - started
    check(platform, events)
    return {
        "events_per_s": len(events) / elapsed,
        "accepted_per_s": len(events) / accepted,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "fsyncs_per_event": (fsyncs.count - fsyncs_before) / len(events),
        "events_per_commit": len(events)
        / max(1, hass.data[f"{DOMAIN}_forwarding"].outbox.commits - commits_before),
        "duplicates": platform.duplicates,
    }


async def bench_baseline(
    session: aiohttp.ClientSession, platform: Platform, events: list[dict[str, Any]]
) -> dict[str, float]:
    platform.reset(len(events))
    latencies = []
    started = time.perf_counter()
    for event in events:
        before = time.perf_counter()
        async with session.post(
            platform.url,
            data=json_bytes(event),
            headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
        ) as response:
            answer = await response.json()
            if answer.get("code") != 200:
                raise SystemExit("baseline POST refused")
        latencies.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    return {
        "events_per_s": len(events) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def disk_write_ms(directory: str, size: int = 40_000, count: int = 20) -> float:
    """Median time of one durable replace of a segment-sized file (two fsyncs): the disk's pace
    now, which other work on the machine changes more than anything in the outbox."""
    path = str(Path(directory) / "disk_probe")
    times = []
    for _ in range(count):
        before = time.perf_counter()
        outbox_files.write_durably(path, b"x" * size)
        times.append(time.perf_counter() - before)
    Path(path).unlink()
    return percentile(times, 0.5) * 1000


async def main(args: argparse.Namespace) -> dict[str, Any]:
    stations = args.stations or max(10, args.concurrency)
    events = envelopes(args.events, stations)
    paced = envelopes(args.paced_events, stations)
    warmup = envelopes(100, stations)
    platform = Platform(args.receiver_delay_ms / 1000)
    fsyncs = FsyncCounter()
    await platform.start()
    with tempfile.TemporaryDirectory(prefix="iot_zinx_bench_") as config_dir:
        disk_before = disk_write_ms(config_dir)
        hass = HomeAssistant(config_dir)
        await ir.async_load(hass)
        hass.set_state(CoreState.running)
        async with aiohttp.ClientSession() as session:
            await async_setup_forwarding(hass, session=session)
            await bench_forwarding(hass, platform, fsyncs, warmup)
            await bench_forwarding(hass, platform, fsyncs, warmup, concurrency=args.concurrency)
            await bench_baseline(session, platform, warmup)
            sequential = await bench_forwarding(hass, platform, fsyncs, events)
            concurrent = (
                await bench_forwarding(hass, platform, fsyncs, events, concurrency=args.concurrency)
                if args.concurrency > 1
                else sequential
            )
            steady = await bench_forwarding(hass, platform, fsyncs, paced, rate=args.rate)
            baseline = await bench_baseline(session, platform, events)
            await async_unload_forwarding(hass)
        await hass.async_stop()
        disk_after = disk_write_ms(config_dir)
    await platform.stop()
    figures: dict[str, Any] = {
        "events": args.events,
        "stations": stations,
        "concurrency": args.concurrency,
        "receiver_delay_ms": args.receiver_delay_ms,
        "durable": fsyncs.count > 0,
        "disk_write_ms_before": round(disk_before, 3),
        "disk_write_ms_after": round(disk_after, 3),
    }
    for name, phase in (("sequential", sequential), ("concurrent", concurrent)):
        figures |= {
            f"{name}_events_per_s": round(phase["events_per_s"], 1),
            f"{name}_accepted_per_s": round(phase["accepted_per_s"], 1),
            f"{name}_p50_ms": round(phase["p50_ms"], 3),
            f"{name}_p99_ms": round(phase["p99_ms"], 3),
            f"{name}_fsyncs_per_event": round(phase["fsyncs_per_event"], 3),
            f"{name}_events_per_commit": round(phase["events_per_commit"], 2),
        }
    figures |= {
        "paced_rate": args.rate,
        "paced_events": args.paced_events,
        "paced_events_per_s": round(steady["events_per_s"], 1),
        "paced_p50_ms": round(steady["p50_ms"], 3),
        "paced_p99_ms": round(steady["p99_ms"], 3),
        "paced_fsyncs_per_event": round(steady["fsyncs_per_event"], 3),
        "duplicates": sequential["duplicates"] + concurrent["duplicates"] + steady["duplicates"],
        "baseline_events_per_s": round(baseline["events_per_s"], 1),
        "baseline_p50_ms": round(baseline["p50_ms"], 3),
        "baseline_p99_ms": round(baseline["p99_ms"], 3),
        "speedup": round(concurrent["events_per_s"] / sequential["events_per_s"], 3),
        "ratio_sequential": round(sequential["events_per_s"] / baseline["events_per_s"], 3),
        "ratio_concurrent": round(concurrent["events_per_s"] / baseline["events_per_s"], 3),
    }
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="scripts/bench_forwarding", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--stations", type=int, default=0, help="default: max(10, concurrency)")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s of the paced run")
    parser.add_argument("--paced-events", type=int, default=1000)
    parser.add_argument("--receiver-delay-ms", type=float, default=0.0)
    figures = asyncio.run(main(parser.parse_args()))
    print(
        f"events: {figures['events']} over {figures['stations']} stations, "
        f"receiver delay {figures['receiver_delay_ms']} ms, outbox fsynced: {figures['durable']}"
    )
    print(
        "one durable write of 40 KB (two fsyncs), median: "
        f"{figures['disk_write_ms_before']} ms before, {figures['disk_write_ms_after']} ms after"
    )
    print(f"{'':<24}{'events/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'fsyncs/event':>14}")
    rows = [
        ("sequential", "sequential"),
        (f"concurrency {figures['concurrency']}", "concurrent"),
    ]
    for label, name in rows:
        print(
            f"{label:<24}{figures[f'{name}_events_per_s']:>10.1f}"
            f"{figures[f'{name}_p50_ms']:>10.3f}{figures[f'{name}_p99_ms']:>10.3f}"
            f"{figures[f'{name}_fsyncs_per_event']:>14.3f}"
        )
    print(
        f"{f'paced {figures["paced_rate"]:g}/s':<24}{figures['paced_events_per_s']:>10.1f}"
        f"{figures['paced_p50_ms']:>10.3f}{figures['paced_p99_ms']:>10.3f}"
        f"{figures['paced_fsyncs_per_event']:>14.3f}"
    )
    print(
        f"{'baseline (direct POST)':<24}{figures['baseline_events_per_s']:>10.1f}"
        f"{figures['baseline_p50_ms']:>10.3f}{figures['baseline_p99_ms']:>10.3f}"
    )
    print("latency: forwarding = the action, until the event is on disk; baseline = one POST")
    print(
        f"speedup (concurrent / sequential): {figures['speedup']}; vs baseline: "
        f"sequential {figures['ratio_sequential']}, concurrent {figures['ratio_concurrent']}"
    )
    print(json.dumps(figures))
