"""Kill Home Assistant hard while three ports charge; nothing may be lost or doubled.

1. Home Assistant with the integration (scripts/develop --background --no-simulator) in a
   temporary configuration directory, on free ports.
2. Three simulated stations run in this process (they redial after losing the server and
   resend unacknowledged settlements on reconnecting, as real modules do). Port 1 of each
   starts charging through the ``iot_zinx.start_charging`` action (orders FR-A, FR-B, FR-C)
   and reports energy until the lifetime energy sensors are above zero.
3. Home Assistant is killed with SIGKILL while the three ports charge: no shutdown, no
   final save. The stations reach it through a relay in this process (``Gate``), closed
   while it is down: they keep redialling.
4. Home Assistant is started again on the same configuration directory
   (scripts/develop --keep); once the event subscription is back, the relay opens and the
   stations reconnect; after a power report each, orders FR-A and FR-B are stopped through
   the ``iot_zinx.stop_charging`` action and FR-C's charger is unplugged.
5. Checks, through Home Assistant's websocket (``iot_zinx_event``, subscribed again as soon
   as the new instance answers) and REST API (the sensors, sampled every 0.5 s):
   every order has exactly one ``charging_end`` and one ``settlement``; every station was
   seen coming back (so the subscription was in place before it did); each port's lifetime
   energy never went backwards, across the kill included.

Prints PASS/FAIL per check, exits 1 on any failure (the configuration directory is then
kept for inspection). Takes 2 to 4 minutes, mostly Home Assistant starting twice.

    scripts/fault_restart [--speed 30] [--keep-dir]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
# The repository's root, for the integration's packages (Python puts only tools/ on sys.path).
sys.path.insert(0, str(REPO))

from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator

STATIONS = {"FR-A": 0x04F00001, "FR-B": 0x04F00002, "FR-C": 0x04F00003}
DEVELOP = REPO / "scripts" / "develop"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Gate:
    """A TCP relay in front of the station port, opened and closed at will.

    While closed it accepts and at once closes every connection, as a server that is down
    refuses it: the stations keep redialling (``refused`` counts their attempts). It is
    opened once the restarted instance's event subscription is in place, because Home
    Assistant binds the stations' port before its HTTP API: a station back earlier would
    fire its events before anyone outside could subscribe to them.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.is_open = False
        self.refused = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def close_all(self) -> None:
        """Close the gate and drop every relayed connection (the server died)."""
        self.is_open = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_open:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            self.refused += 1
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()
            self._writers.discard(sink)

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def stop(self) -> None:
        self.close_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class Hass:
    """REST and websocket access to one Home Assistant, re-pointable after a restart."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session = session
        self.base = base
        self.token = token
        self.events: list[dict[str, Any]] = []
        self.subscribed = asyncio.Event()
        self.subscriptions = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, service: str, data: dict[str, Any]) -> Any:
        async with self.session.post(
            f"{self.base}/api/services/iot_zinx/{service}?return_response",
            json=data,
            headers=self.headers,
        ) as response:
            text = await response.text()
            if response.status != 200:
                raise RuntimeError(f"{service}: HTTP {response.status}: {text}")
            return json.loads(text)

    async def state(self, entity_id: str) -> str | None:
        try:
            async with self.session.get(
                f"{self.base}/api/states/{entity_id}",
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=3),
            ) as response:
                if response.status != 200:
                    return None
                return str((await response.json())["state"])
        except aiohttp.ClientError, TimeoutError:
            return None

    async def ws_command(self, command: dict[str, Any]) -> Any:
        async with self.session.ws_connect(f"{self.base}/api/websocket") as ws:
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": self.token})
            assert (await ws.receive_json())["type"] == "auth_ok"
            await ws.send_json({"id": 1, **command})
            reply = await ws.receive_json()
            assert reply["success"], reply
            return reply["result"]

    def start_listening(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop_listening(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        """Subscribe to iot_zinx_event; subscribe again whenever the instance comes back."""
        while True:
            try:
                async with self.session.ws_connect(f"{self.base}/api/websocket") as ws:
                    await ws.receive_json()
                    await ws.send_json({"type": "auth", "access_token": self.token})
                    if (await ws.receive_json())["type"] != "auth_ok":
                        raise aiohttp.ClientError("auth refused")
                    await ws.send_json(
                        {"id": 1, "type": "subscribe_events", "event_type": "iot_zinx_event"}
                    )
                    if not (await ws.receive_json())["success"]:
                        raise aiohttp.ClientError("subscribe refused")
                    self.subscriptions += 1
                    self.subscribed.set()
                    async for message in ws:
                        if message.type != aiohttp.WSMsgType.TEXT:
                            break
                        data = json.loads(message.data)
                        if data.get("type") == "event":
                            event = data["event"]["data"]
                            event["_received"] = time.monotonic()
                            self.events.append(event)
            except aiohttp.ClientError, TimeoutError, ConnectionError, ValueError:
                pass
            self.subscribed.clear()
            await asyncio.sleep(0.2)


def develop(*arguments: str) -> dict[str, Any]:
    """Run scripts/develop in the background; returns its ready file."""
    ready = Path(tempfile.mkstemp(suffix=".json")[1])
    ready.unlink()
    result = subprocess.run(
        [str(DEVELOP), "--background", "--no-simulator", "--ready-file", str(ready), *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"scripts/develop failed:\n{result.stdout}\n{result.stderr}")
    state: dict[str, Any] = json.loads(ready.read_text())
    ready.unlink()
    return state


async def wait_for(predicate: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def of(events: list[dict[str, Any]], event_type: str, order: str | None = None) -> list[Any]:
    return [
        event
        for event in events
        if event["event_type"] == event_type
        and (order is None or event["data"].get("order_id") == order)
    ]


async def run(args: argparse.Namespace, workdir: Path) -> bool:
    config = workdir / "config"
    http_port, station_port = free_port(), free_port()
    common: tuple[str, ...] = ("--config", str(config), "--port", str(http_port))
    common += ("--station-port", str(station_port), "--timeout", "300")
    print(f"Starting Home Assistant in {config} ...", flush=True)
    started = time.monotonic()
    state = develop(*common)
    print(f"  up in {time.monotonic() - started:.0f} s (pid {state['hass_pid']})", flush=True)

    speed = args.speed
    gate = Gate(station_port)
    await gate.start()
    gate.is_open = True
    simulator = StationSimulator("127.0.0.1", gate.port, speed=speed)
    stations: dict[str, SimulatedStation] = {}
    for order, physical_id in STATIONS.items():
        stations[order] = simulator.add_station(
            SimulatedStation(
                physical_id,
                2,
                speed=speed,
                plugged=(0,),
                full_energy_kwh=100.0,  # no order ends by itself
                reconnect_delay=2.0 * speed,  # 2 s of real time between redials
            )
        )
    samples: dict[str, list[tuple[float, str, float]]] = {}
    phase = "before"
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        results.append((name, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""))

    async with aiohttp.ClientSession() as session:
        hass = Hass(session, state["url"], state["token"])
        hass.start_listening()
        await asyncio.wait_for(hass.subscribed.wait(), 30)
        await simulator.start()
        await simulator.wait_registered(timeout=60)
        await wait_for(
            lambda: len({e["device_id"] for e in of(hass.events, "device_heartbeat")}) == 3,
            60,
            "three stations",
        )
        for order, station in stations.items():
            reply = await hass.call(
                "start_charging",
                {"station_id": station.device_id, "port": 1, "order_number": order},
            )
            assert reply["service_response"]["response_code"] == 0, reply
        print("  charging: FR-A, FR-B, FR-C", flush=True)
        registry = await hass.ws_command({"type": "config/entity_registry/list"})
        sensors = {
            order: next(
                entry["entity_id"]
                for entry in registry
                if entry["platform"] == "iot_zinx"
                and entry["unique_id"] == f"{station.device_id}_port1_lifetime_energy"
            )
            for order, station in stations.items()
        }

        async def sample() -> None:
            while True:
                for order, entity_id in sensors.items():
                    value = await hass.state(entity_id)
                    with contextlib.suppress(TypeError, ValueError):
                        samples.setdefault(order, []).append(
                            (time.monotonic(), phase, float(value))  # type: ignore[arg-type]
                        )
                await asyncio.sleep(0.5)

        sampler = asyncio.get_running_loop().create_task(sample())
        # Energy reported, and the order book saved at least once (10 s after a change).
        await wait_for(
            lambda: all(samples.get(order) and samples[order][-1][2] > 0 for order in stations),
            120,
            "energy on the three ports",
        )
        await asyncio.sleep(12)
        before = {order: samples[order][-1][2] for order in stations}
        print(f"  lifetime energy before the kill: {before}", flush=True)

        os.kill(state["hass_pid"], signal.SIGKILL)
        gate.close_all()
        phase = "down"
        print(f"  killed Home Assistant (pid {state['hass_pid']}) with SIGKILL", flush=True)
        killed_at = time.monotonic()
        await wait_for(lambda: not any(s.is_connected for s in stations.values()), 30, "offline")
        # The stations keep redialling while nobody answers.
        await wait_for(lambda: gate.refused >= 2 * len(stations), 30, "redials")
        check(
            "the stations kept redialling while Home Assistant was down",
            True,
            f"{gate.refused} attempts refused",
        )

        started = time.monotonic()
        state = develop(*common, "--keep")
        print(f"  restarted in {time.monotonic() - started:.0f} s (pid {state['hass_pid']})")
        hass.token = state["token"]
        await asyncio.wait_for(hass.subscribed.wait(), 30)
        phase = "after"
        gate.is_open = True
        await wait_for(
            lambda: all(s.registrations >= 2 for s in stations.values()), 90, "reconnections"
        )
        back = {
            e["device_id"] for e in of(hass.events, "device_online") if e["_received"] > killed_at
        }
        check(
            "every station reconnected and was seen coming back",
            back == {s.device_id for s in stations.values()},
            f"device_online after the restart: {sorted(back)}",
        )
        # A power report after the restart, so the sensors show the running orders again.
        reports = {order: station.sent_commands[0x06] for order, station in stations.items()}
        await wait_for(
            lambda: all(s.sent_commands[0x06] > reports[o] for o, s in stations.items()),
            60,
            "power reports",
        )
        await asyncio.sleep(1)
        for order in ("FR-A", "FR-B"):
            reply = await hass.call(
                "stop_charging", {"station_id": stations[order].device_id, "port": 1}
            )
            assert reply["service_response"]["response_code"] == 0, reply
        stations["FR-C"].unplug(0)  # that order ends at the station
        await wait_for(
            lambda: all(
                of(hass.events, "settlement", order) and of(hass.events, "charging_end", order)
                for order in stations
            ),
            60,
            "the three settlements",
        )
        await asyncio.sleep(5)  # room for a duplicate to show up
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await hass.stop_listening()
        await simulator.stop()
        await gate.stop()

    check(
        "the stations' settlements were all acknowledged",
        all(not s.pending_settlements for s in stations.values()),
    )
    for order in stations:
        ends = len(of(hass.events, "charging_end", order))
        settlements = of(hass.events, "settlement", order)
        check(f"{order}: exactly one charging_end", ends == 1, f"{ends}")
        check(f"{order}: exactly one settlement", len(settlements) == 1, f"{len(settlements)}")
        values = [value for _, _, value in samples[order]]
        drops = [(a, b) for a, b in itertools.pairwise(values) if b < a - 1e-9]
        after = [value for _, when, value in samples[order] if when == "after"]
        check(
            f"{order}: lifetime energy never went backwards",
            not drops and bool(after) and after[0] >= before[order] - 1e-9,
            f"{before[order]} kWh before the kill, {after[:1]} first after, "
            f"{values[-1]} at the end; drops {drops[:3]}",
        )
    total = len(of(hass.events, "charging_end"))
    check("no other charging_end", total == 3, f"{total}")
    return all(ok for _, ok, _ in results)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/fault_restart", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--speed", type=float, default=30.0, help="simulated time factor")
    parser.add_argument("--keep-dir", action="store_true", help="keep the directory on success")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    workdir = Path(tempfile.mkdtemp(prefix="iot_zinx_fault_"))
    ok = False
    started = time.monotonic()
    try:
        ok = asyncio.run(run(args, workdir))
    except Exception as err:
        print(f"FAIL  the run itself: {type(err).__name__}: {err}")
    finally:
        subprocess.run(
            [str(DEVELOP), "--stop", "--config", str(workdir / "config")],
            cwd=REPO,
            capture_output=True,
            check=False,
        )
    print(f"{'PASS' if ok else 'FAIL'} in {time.monotonic() - started:.0f} s")
    if ok and not args.keep_dir:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"kept {workdir} (home-assistant.log, hass.out.log)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
