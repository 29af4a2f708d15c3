"""Kill Home Assistant hard while many forward_event calls run at once; no acknowledged event
may be missing from the outbox afterwards.

1. A child process runs a minimal real Home Assistant in a temporary configuration folder with
   webhook forwarding to an endpoint on 127.0.0.1 where nothing listens (so every event stays
   queued). ``--concurrency`` callers forward ``--events`` events at once, as many stations
   firing together do (the outbox's group commit shares their writes); the child prints each
   event_id the moment its action returned (acknowledged: "on disk").
2. After ``--kill-after`` acknowledgements the child is killed with SIGKILL: no shutdown, no
   final write, writes possibly half done.
3. The outbox is loaded from the same folder, as the next start does. Checks: every
   acknowledged event is in it, each once, and each station's events are in call order.

A killed process leaves the kernel's page cache behind: this checks that no call is
acknowledged before its write is complete, not what a power cut does (that is the fsyncs'
job, whose order tests/test_forwarding_group_commit.py checks).

Prints PASS/FAIL per check and a JSON line last; exits 1 on a failure.

    scripts/fault_forwarding [--events 3000] [--concurrency 50] [--kill-after 1000]
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import tempfile

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
# The repository's root, for the integration's packages (Python puts only tools/ on sys.path).
sys.path.insert(0, str(ROOT))

from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.iot_zinx.const import DOMAIN
from custom_components.iot_zinx.forwarding import SERVICE_FORWARD_EVENT, async_setup_forwarding
from custom_components.iot_zinx.outbox import Outbox


def closed_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/iot/events"


def envelope(number: int, stations: int) -> dict[str, object]:
    return {
        "event_id": f"7d3c6a52-0000-4000-8000-{number:012d}",
        "event_type": "power_heartbeat",
        "device_id": f"04A2{number % stations:04X}",
        "port_number": 1,
        "timestamp": 1_767_225_600 + number,
        "data": {"current_power": 215.3, "cumulative_energy": 0.12},
    }


async def child(config_dir: str, url: str, events: int, concurrency: int) -> None:
    """Forward with `concurrency` callers (one per station), printing each acknowledgement."""
    hass = HomeAssistant(config_dir)
    await ir.async_load(hass)
    hass.set_state(CoreState.running)
    session = aiohttp.ClientSession()  # never closed: the process is killed
    await async_setup_forwarding(hass, session=session)

    async def caller(index: int) -> None:
        for number in range(index, events, concurrency):
            await hass.services.async_call(
                DOMAIN,
                SERVICE_FORWARD_EVENT,
                {"url": url, "event": envelope(number, concurrency)},
                blocking=True,
            )
            sys.stdout.write(f"{number}\n")
            sys.stdout.flush()

    await asyncio.gather(*(caller(index) for index in range(concurrency)))
    await asyncio.Event().wait()  # until killed


async def load(config_dir: str) -> list[str]:
    """The event_ids the outbox holds, as the next start loads them."""
    hass = HomeAssistant(config_dir)
    outbox = Outbox(hass)
    pending = await outbox.async_load()
    await hass.async_stop(force=True)
    return [entry.event_id for entry in pending]


def main(args: argparse.Namespace) -> int:
    config_dir = tempfile.mkdtemp(prefix="iot_zinx_fault_forwarding_")
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            config_dir,
            closed_url(),
            str(args.events),
            str(args.concurrency),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    acknowledged: list[int] = []
    for line in process.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) >= args.kill_after:
            os.kill(process.pid, signal.SIGKILL)
            break
    # What the child printed before it died was acknowledged too.
    acknowledged.extend(int(line) for line in process.stdout)
    process.wait()

    loaded = asyncio.run(load(config_dir))
    numbers = [int(event_id.rsplit("-", 1)[1]) for event_id in loaded]
    per_station: dict[int, list[int]] = defaultdict(list)
    for number in numbers:
        per_station[number % args.concurrency].append(number)
    checks = {
        "every acknowledged event is in the outbox": set(acknowledged) <= set(numbers),
        "no event twice": len(numbers) == len(set(numbers)),
        "each station's events in call order": all(
            queue == sorted(queue) for queue in per_station.values()
        ),
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}: {name}")
    passed = all(checks.values())
    if passed:
        import shutil  # noqa: PLC0415 - only to clean up

        shutil.rmtree(config_dir, ignore_errors=True)
    else:
        print(f"configuration kept in {config_dir}")
    print(
        json.dumps(
            {
                "events": args.events,
                "concurrency": args.concurrency,
                "acknowledged": len(acknowledged),
                "in_outbox": len(numbers),
                "missing": len(set(acknowledged) - set(numbers)),
                "passed": passed,
            }
        )
    )
    return 0 if passed else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        config, target, count, callers = sys.argv[2:6]
        asyncio.run(child(config, target, int(count), int(callers)))
        sys.exit(0)
    parser = argparse.ArgumentParser(
        prog="scripts/fault_forwarding", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--kill-after", type=int, default=1000)
    sys.exit(main(parser.parse_args()))
