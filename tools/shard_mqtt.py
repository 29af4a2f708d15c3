"""Two Home Assistant shards publish their stations' events to one Mosquitto; none is lost.

1. Mosquitto (Debian's package; installed with apt-get when missing, which needs root) on
   127.0.0.1 and a free port, with its own configuration file in a temporary directory.
2. Two Home Assistant instances (scripts/develop --background --no-simulator, each with its
   own configuration directory, HTTP port and station port), each with Home Assistant's MQTT
   integration pointed at the broker (added through the config-flow API) and one automation
   from the shipped blueprint blueprints/automation/iot_zinx/forward_to_mqtt.yaml (defaults:
   all fourteen event types, every station).
3. One subscriber (paho-mqtt) on ``iot_zinx/#`` at QoS 1, and a websocket subscription to
   ``iot_zinx_event`` on each instance.
4. Each instance gets its own simulated stations (distinct physical ids) running in this
   process; every station charges one order until its charger is full (charging_end and
   settlement), then the stations disconnect (device_offline).
5. Every ``event_id`` fired on either instance must reach the subscriber, on the topic
   ``iot_zinx/<device_id>/<event_type>``, with the envelope unchanged as payload. QoS 1 is
   at-least-once: a repeat of an event_id is reported (and tolerated); a missing one fails.

Prints a summary and PASS/FAIL per check; exits 1 on loss. Takes 1 to 3 minutes.

    scripts/shard_mqtt [--stations 2] [--speed 30] [--keep-dir]
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
import contextlib
import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import aiohttp
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
# The repository's root, for the integration's packages (Python puts only tools/ on sys.path).
sys.path.insert(0, str(REPO))

from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator

DEVELOP = REPO / "scripts" / "develop"
BLUEPRINT = REPO / "blueprints" / "automation" / "iot_zinx" / "forward_to_mqtt.yaml"
FIRST_IDS = (0x04B10001, 0x04B20001)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def mosquitto_binary() -> str:
    """The broker's executable; installs Debian's package when it is missing."""
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    if os.geteuid() != 0:
        raise RuntimeError("mosquitto is not installed; run: sudo apt-get install -y mosquitto")
    print("Installing mosquitto (apt-get) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, capture_output=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "mosquitto"],
        check=True,
        capture_output=True,
        env=env,
    )
    return "/usr/sbin/mosquitto"


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        f"log_dest file {workdir / 'mosquitto.log'}\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
        # The default of 1000 in-flight/queued QoS 1 messages per client is plenty here.
    )
    (workdir / "mosquitto.log").touch(mode=0o666)
    process = subprocess.Popen(
        [mosquitto_binary(), "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "mosquitto.err").open("wb"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.connect(("127.0.0.1", port))
            return process, port
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {(workdir / 'mosquitto.err').read_text()}")
        time.sleep(0.1)
    raise RuntimeError("mosquitto did not listen in time")


class Subscriber:
    """paho-mqtt on iot_zinx/# at QoS 1; collects (topic, envelope) in its own thread."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="shard-mqtt-check", clean_session=False
        )
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _connected(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        client.subscribe("iot_zinx/#", qos=1)
        self.ready.set()

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(envelope["event_id"] for _, envelope in self.messages)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Shard:
    """One Home Assistant instance: REST, websocket events, its simulator."""

    def __init__(self, name: str, workdir: Path, first_id: int) -> None:
        self.name = name
        self.config = workdir / name
        self.http_port = free_port()
        self.station_port = free_port()
        self.first_id = first_id
        self.state: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.session: aiohttp.ClientSession | None = None
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self.simulator: StationSimulator | None = None

    async def start(self) -> None:
        ready = self.config.with_suffix(".ready.json")
        process = await asyncio.create_subprocess_exec(
            str(DEVELOP), "--background", "--no-simulator",
            "--config", str(self.config), "--port", str(self.http_port),
            "--station-port", str(self.station_port), "--ready-file", str(ready),
            "--timeout", "300",
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{self.name}: scripts/develop failed:\n{output.decode()}")
        self.state = json.loads(ready.read_text())

    def stop(self) -> None:
        subprocess.run(
            [str(DEVELOP), "--stop", "--config", str(self.config)],
            cwd=REPO,
            capture_output=True,
            check=False,
        )

    @property
    def base(self) -> str:
        return str(self.state["url"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.state['token']}"}

    async def request(self, method: str, path: str, payload: Any = None) -> Any:
        assert self.session is not None
        async with self.session.request(
            method, self.base + path, json=payload, headers=self.headers
        ) as response:
            text = await response.text()
            if response.status >= 300:
                raise RuntimeError(f"{self.name}: {method} {path}: {response.status} {text}")
            return json.loads(text) if text else None

    async def add_mqtt(self, broker_port: int) -> None:
        form = await self.request("POST", "/api/config/config_entries/flow", {"handler": "mqtt"})
        if form.get("type") != "form":
            raise RuntimeError(f"{self.name}: the MQTT flow showed {form}")
        result = await self.request(
            "POST",
            f"/api/config/config_entries/flow/{form['flow_id']}",
            {"broker": "127.0.0.1", "port": broker_port},
        )
        if result.get("type") != "create_entry":
            raise RuntimeError(f"{self.name}: the MQTT flow ended with {result}")

    async def add_automation(self) -> None:
        target = self.config / "blueprints" / "automation" / "iot_zinx"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(BLUEPRINT, target / BLUEPRINT.name)
        await self.request(
            "POST",
            "/api/config/automation/config/iot_zinx_to_mqtt",
            {
                "alias": "IoT-Zinx events to MQTT",
                "use_blueprint": {"path": "iot_zinx/forward_to_mqtt.yaml", "input": {}},
            },
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                state = await self.request("GET", "/api/states/automation.iot_zinx_events_to_mqtt")
                if state["state"] == "on":
                    return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{self.name}: the automation is not on")

    def listen(self) -> None:
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        assert self.session is not None
        async with self.session.ws_connect(f"{self.base}/api/websocket") as ws:
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": self.state["token"]})
            assert (await ws.receive_json())["type"] == "auth_ok"
            await ws.send_json(
                {"id": 1, "type": "subscribe_events", "event_type": "iot_zinx_event"}
            )
            assert (await ws.receive_json())["success"]
            self.subscribed.set()
            async for message in ws:
                data = json.loads(message.data)
                if data.get("type") == "event":
                    self.events.append(data["event"]["data"])

    async def stop_listening(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    def settled(self, orders: list[str]) -> bool:
        done = {e["data"].get("order_id") for e in self.events if e["event_type"] == "settlement"}
        return set(orders) <= done


async def run(args: argparse.Namespace, workdir: Path) -> bool:
    results: list[bool] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""))

    broker, broker_port = start_broker(workdir)
    print(f"Mosquitto on 127.0.0.1:{broker_port}", flush=True)
    shards = [Shard(f"shard{i + 1}", workdir, first) for i, first in enumerate(FIRST_IDS)]
    subscriber: Subscriber | None = None
    try:
        print("Starting two Home Assistant instances ...", flush=True)
        started = time.monotonic()
        await asyncio.gather(*(shard.start() for shard in shards))
        print(f"  up in {time.monotonic() - started:.0f} s", flush=True)
        subscriber = Subscriber(broker_port)
        if not await asyncio.to_thread(subscriber.ready.wait, 10):
            raise RuntimeError("the subscriber did not connect")
        async with aiohttp.ClientSession() as session:
            for shard in shards:
                shard.session = session
                await shard.add_mqtt(broker_port)
                await shard.add_automation()
                shard.listen()
                await asyncio.wait_for(shard.subscribed.wait(), 10)
                print(f"  {shard.name}: MQTT entry and blueprint automation on", flush=True)

            orders: dict[str, list[str]] = {}
            for shard in shards:
                simulator = StationSimulator("127.0.0.1", shard.station_port, speed=args.speed)
                for index in range(args.stations):
                    simulator.add_station(
                        SimulatedStation(
                            shard.first_id + index,
                            2,
                            speed=args.speed,
                            plugged=(0,),
                            full_energy_kwh=0.02,  # full after a few power reports
                            auto_reconnect=False,
                        )
                    )
                shard.simulator = simulator
                await simulator.start()
            for shard in shards:
                assert shard.simulator is not None
                await shard.simulator.wait_registered(timeout=60)
                orders[shard.name] = []
                for station in shard.simulator.stations:
                    order = f"{shard.name}-{station.device_id}"[-16:]
                    response = await shard.request(
                        "POST",
                        "/api/services/iot_zinx/start_charging?return_response",
                        {"station_id": station.device_id, "port": 1, "order_number": order},
                    )
                    assert response["service_response"]["response_code"] == 0, response
                    orders[shard.name].append(order)
            print(f"  charging: {sum(len(o) for o in orders.values())} orders", flush=True)
            deadline = time.monotonic() + 120
            while not all(shard.settled(orders[shard.name]) for shard in shards):
                if time.monotonic() > deadline:
                    raise TimeoutError("the orders did not settle in time")
                await asyncio.sleep(0.5)
            for shard in shards:
                assert shard.simulator is not None
                await shard.simulator.stop()  # device_offline events
            # Until every fired event arrived (or 30 s), then 3 s more for repeats.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                all_ids = {e["event_id"] for shard in shards for e in shard.events}
                if all_ids <= set(subscriber.ids()):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(3)
            for shard in shards:
                await shard.stop_listening()
    finally:
        if subscriber is not None:
            subscriber.stop()
        for shard in shards:
            shard.stop()
        broker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            broker.wait(10)

    received = subscriber.ids()
    by_id = {envelope["event_id"]: (topic, envelope) for topic, envelope in subscriber.messages}
    print()
    print(f"{'shard':8} {'fired':>6} {'received':>9} {'missing':>8} {'repeats':>8}")
    all_fired: set[str] = set()
    for shard in shards:
        fired = [e["event_id"] for e in shard.events]
        all_fired |= set(fired)
        missing = [event_id for event_id in fired if event_id not in received]
        repeats = sum(received[event_id] - 1 for event_id in fired if event_id in received)
        arrived = len(fired) - len(missing)
        print(f"{shard.name:8} {len(fired):>6} {arrived:>9} {len(missing):>8} {repeats:>8}")
    print(f"subscriber: {len(subscriber.messages)} messages, {len(received)} event ids")
    types = Counter(e["event_type"] for shard in shards for e in shard.events)
    print(f"event types: {dict(sorted(types.items()))}")
    print()
    for shard in shards:
        fired = [e["event_id"] for e in shard.events]
        missing = [event_id for event_id in fired if event_id not in received]
        check(
            f"{shard.name}: every event reached the subscriber",
            not missing,
            f"{len(missing)} lost of {len(fired)}",
        )
        settlements = sum(e["event_type"] == "settlement" for e in shard.events)
        check(
            f"{shard.name}: a settlement per order", settlements == args.stations, f"{settlements}"
        )
    repeated = {event_id: count for event_id, count in received.items() if count > 1}
    # QoS 1 is at-least-once: a repeat is allowed (consumers de-duplicate on event_id), so it
    # is reported, not failed.
    print(
        f"INFO  {len(repeated)} event ids arrived more than once (at-least-once repeats)"
        if repeated
        else "INFO  every event_id arrived exactly once"
    )
    stray = set(received) - all_fired
    check("nothing arrived that was not fired", not stray, f"{len(stray)} stray" if stray else "")
    wrong = [
        event["event_id"]
        for shard in shards
        for event in shard.events
        if event["event_id"] in by_id
        and (
            by_id[event["event_id"]][0] != f"iot_zinx/{event['device_id']}/{event['event_type']}"
            or by_id[event["event_id"]][1] != event
        )
    ]
    check(
        "topics are iot_zinx/<device_id>/<event_type>, payloads the envelopes",
        not wrong,
        f"{len(wrong)} wrong" if wrong else "",
    )
    ids = [{e["device_id"] for e in shard.events} for shard in shards]
    check("each shard fired only its own stations' events", not (ids[0] & ids[1]))
    return all(results)


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/shard_mqtt", description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=2, help="simulated stations per shard")
    parser.add_argument("--speed", type=float, default=30.0, help="simulated time factor")
    parser.add_argument("--keep-dir", action="store_true", help="keep the directory on success")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    workdir = Path(tempfile.mkdtemp(prefix="iot_zinx_shards_"))
    started = time.monotonic()
    ok = False
    try:
        ok = asyncio.run(run(args, workdir))
    except Exception as err:
        print(f"FAIL  the run itself: {type(err).__name__}: {err}")
    print(f"{'PASS' if ok else 'FAIL'} in {time.monotonic() - started:.0f} s")
    if ok and not args.keep_dir:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"kept {workdir}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
