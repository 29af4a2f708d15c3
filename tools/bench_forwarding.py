"""Benchmark webhook forwarding: the durable outbox against a plain POST loop.

Starts a real aiohttp receiver on 127.0.0.1 (answering ``{"code": 200}`` like a platform,
optionally after ``--receiver-delay-ms``) and a minimal real Home Assistant in a temporary
configuration folder, so the outbox is written with real, fsync'ed Store files. Then, in the
same run and the same event loop:

* forwarding: ``--events`` envelopes over ``--stations`` stations are sent through the
  ``iot_zinx.forward_event`` action, one call after the other as a queued automation does.
  Reported: the action's latency (p50/p99: what an automation waits, i.e. the durable write)
  and the delivered events/s (first call to last delivery confirmed), after checking that
  every event arrived exactly once and in order per station;
* baseline: the same envelopes POSTed directly with the same kind of aiohttp session, one
  after the other, no outbox (what an automation calling a REST command would do): latency
  per POST and events/s.

``ratio`` is forwarding events/s / baseline events/s. Prints a table, then the figures as one
JSON object on the last line.

    scripts/bench_forwarding [--events N] [--stations N] [--receiver-delay-ms N]
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

from custom_components.iot_zinx.const import DOMAIN
from custom_components.iot_zinx.forwarding import (
    SERVICE_FORWARD_EVENT,
    async_setup_forwarding,
    async_unload_forwarding,
)


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


async def bench_forwarding(
    hass: HomeAssistant, platform: Platform, events: list[dict[str, Any]]
) -> dict[str, float]:
    platform.reset(len(events))
    latencies = []
    started = time.perf_counter()
    for event in events:
        before = time.perf_counter()
        await hass.services.async_call(
            DOMAIN,
            SERVICE_FORWARD_EVENT,
            {"url": platform.url, "event": event, "token": "bench-token"},
            blocking=True,
        )
        latencies.append(time.perf_counter() - before)
    await asyncio.wait_for(platform.done.wait(), 600)
    elapsed = time.perf_counter() - started
    check(platform, events)
    return {
        "events_per_s": len(events) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
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


async def main(args: argparse.Namespace) -> dict[str, Any]:
    events = envelopes(args.events, args.stations)
    warmup = envelopes(50, args.stations)
    platform = Platform(args.receiver_delay_ms / 1000)
    await platform.start()
    with tempfile.TemporaryDirectory(prefix="iot_zinx_bench_") as config_dir:
        hass = HomeAssistant(config_dir)
        await ir.async_load(hass)
        hass.set_state(CoreState.running)
        async with aiohttp.ClientSession() as session:
            await async_setup_forwarding(hass, session=session)
            await bench_forwarding(hass, platform, warmup)
            await bench_baseline(session, platform, warmup)
            forwarding = await bench_forwarding(hass, platform, events)
            baseline = await bench_baseline(session, platform, events)
            await async_unload_forwarding(hass)
        await hass.async_stop()
    await platform.stop()
    return {
        "events": args.events,
        "stations": args.stations,
        "receiver_delay_ms": args.receiver_delay_ms,
        "forwarding_events_per_s": round(forwarding["events_per_s"], 1),
        "action_p50_ms": round(forwarding["p50_ms"], 3),
        "action_p99_ms": round(forwarding["p99_ms"], 3),
        "duplicates": forwarding["duplicates"],
        "baseline_events_per_s": round(baseline["events_per_s"], 1),
        "baseline_p50_ms": round(baseline["p50_ms"], 3),
        "baseline_p99_ms": round(baseline["p99_ms"], 3),
        "ratio": round(forwarding["events_per_s"] / baseline["events_per_s"], 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="scripts/bench_forwarding", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--receiver-delay-ms", type=float, default=0.0)
    figures = asyncio.run(main(parser.parse_args()))
    print(
        f"events: {figures['events']} over {figures['stations']} stations, "
        f"receiver delay {figures['receiver_delay_ms']} ms"
    )
    print(f"{'':<12}{'events/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(
        f"{'forwarding':<12}{figures['forwarding_events_per_s']:>10.1f}"
        f"{figures['action_p50_ms']:>10.3f}{figures['action_p99_ms']:>10.3f}"
        "   (latency: the action, until durably queued)"
    )
    print(
        f"{'baseline':<12}{figures['baseline_events_per_s']:>10.1f}"
        f"{figures['baseline_p50_ms']:>10.3f}{figures['baseline_p99_ms']:>10.3f}"
        "   (latency: one direct POST)"
    )
    print(f"ratio (forwarding / baseline events/s): {figures['ratio']}")
    print(json.dumps(figures))
