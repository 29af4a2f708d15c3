"""An hour of faults through a real Home Assistant, with a ledger of what must have arrived.

    scripts/soak [--minutes 60] [--stations 500] [--ports 1] [--order-ports 1] [--keep-dir]

1. A webhook receiver (the platform) on 127.0.0.1: answers ``{"code": 200}``, records every
   request and de-duplicates on the envelope's ``event_id``.
2. Home Assistant with the integration, started as ``scripts/develop --no-simulator`` does
   (tools/demo_setup.py), at the default entity level; an automation forwards
   ``charging_start``, ``charging_failed``, ``charging_end``, ``settlement``,
   ``device_online`` and ``device_offline`` to the receiver with ``iot_zinx.forward_event``
   (the durable outbox), as docs/forwarding.md shows.
3. ``--stations`` simulated stations in this process at real rates (speed 1: heartbeats every
   180 s, power reports every 300 s of a charging port), every charger plugged in; one port
   each by default (``--ports`` for more: past Home Assistant's 10,000 enabled entities per
   config entry the server puts the next stations in station groups, station_groups.py, and
   at 500 10-port stations Home Assistant itself falls behind, docs/performance.md, which
   would measure Home Assistant's lag instead of the faults). On the first
   ``--order-ports`` ports of each station orders start (``iot_zinx.start_charging`` with an
   order number of ours) and end after 3 to 15 minutes: by ``iot_zinx.stop_charging``, or by
   the charger being pulled out at the station (the order ends at the station, settlement
   0x03 with reason 5; plugged in again a minute or two later); a port rests 1 to 8 minutes
   between orders. A shorter run shortens these times in proportion, to 0.4 times at most
   (``--minutes 24`` and less), so that orders end during its faults too. A station drops
   its connection every few seconds somewhere in the fleet: half redial at once, half stay
   away 20-90 s.
4. The faults, on a schedule in units of M/12 (5 minutes for the default hour):
   receiver down 2-3, Home Assistant killed (SIGKILL) at 3.5 and 5, receiver down 6-7 with
   the third kill at 6.5 (events queued for a dead receiver must survive the kill). So the two
   outages last 5 minutes at ``--minutes 60`` and are shorter in proportion for a shorter run
   (1 minute at ``--minutes 12``). A kill waits until the instance before it is up. Home
   Assistant is started again on the same directory (``--keep``), the receiver on the same
   port; the stations redial by themselves.
5. At M minutes no order starts any more, every running order ends (charger pulled), every
   away station comes back, and the run waits until every station's settlements are
   acknowledged and the receiver has what they imply (or ``--drain`` seconds pass).

The ledger, from the simulator's own records (every settlement a station sent and had
acknowledged; the order numbers whose start the action confirmed) against the receiver's
events, de-duplicated by ``event_id`` (a redelivery of one event is allowed and counted apart):

* ``settlement`` and ``charging_end``: exactly one per settled order (by station, port and
  order number). Missing = lost; more than one event id for an order = duplicated.
* ``charging_start``: exactly one per order whose ``start_charging`` call answered code 0.
* ``device_online`` / ``device_offline`` are counted, not accounted: a hard kill fires no
  ``device_offline`` for the connections it cuts, and which of a station's redials during a
  restart the new instance sees as a new connection depends on timing.
* lifetime energy: every state change of the ordering ports' *Lifetime energy* sensors is
  watched (websocket ``subscribe_trigger``, again after each restart); a value below the
  previous one of the same sensor, across kills too, is a step backwards.
* memory: the Home Assistant process's RSS one unit after the last restart (warm-up) and at
  the end; ``rss_growth_percent`` is the growth between them.

Progress lines every 30 s; the last line is one JSON object. Exits 1 when anything was lost or
duplicated or the energy went backwards. Needs ``--minutes`` of at least 3.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter, defaultdict
import contextlib
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import random
import resource
import shutil
import signal
import socket
import sys
import tempfile
import time
from typing import Any

import aiohttp
from aiohttp import web
import psutil

REPO = Path(__file__).resolve().parent.parent
# The repository's root, for the integration's packages (Python puts only tools/ on sys.path),
# and tools/ itself for demo_setup.
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import demo_setup

from custom_components.iot_zinx.protocol.messages.values import order_no_text
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator

FIRST_ID = 0x05A00001
FORWARDED = (
    "charging_start",
    "charging_failed",
    "charging_end",
    "settlement",
    "device_online",
    "device_offline",
)
TOKEN = "soak-token"
# Orders run 3-15 minutes and a port rests 1-8 minutes between orders, in an hour's run;
# in a shorter one in proportion, down to 0.4 times (Site.pace), so that orders end during its
# faults without more orders a second than the machine can take.
ORDER_S = (180.0, 900.0)
REST_S = (60.0, 480.0)
REPLUG_S = (60.0, 150.0)
PROGRESS_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def now() -> float:
    return time.monotonic()


# -- the platform -----------------------------------------------------------------------------


@dataclass
class Got:
    """One distinct event as the receiver got it (first delivery)."""

    event_type: str
    device_id: str
    port: int | None
    order: str | None
    energy: float | None


class Receiver:
    """The webhook receiver: answers as a platform does and keeps what it got."""

    def __init__(self) -> None:
        self.port = free_port()
        self.events: dict[str, Got] = {}
        self.requests = 0
        self.redelivered = 0
        self.refused_while_down = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/iot/events"

    @property
    def up(self) -> bool:
        return self._runner is not None

    async def _handle(self, request: web.Request) -> web.Response:
        envelope = json.loads(await request.read())
        self.requests += 1
        event_id = envelope["event_id"]
        if event_id in self.events:
            self.redelivered += 1
        else:
            data = envelope.get("data") or {}
            order = data.get("order_id", data.get("order_number"))
            energy = data.get("total_energy")
            self.events[event_id] = Got(
                envelope["event_type"],
                envelope["device_id"],
                envelope.get("port_number"),
                None if order is None else str(order),
                None if energy is None else float(energy),
            )
        return web.json_response({"code": 200, "message": "success"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/iot/events", self._handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def of(self, event_type: str) -> list[Got]:
        return [got for got in self.events.values() if got.event_type == event_type]


# -- Home Assistant ---------------------------------------------------------------------------


def automation(url: str) -> list[dict[str, Any]]:
    """The forwarding automation (docs/forwarding.md), one trigger per forwarded type."""
    return [
        {
            "id": "iot_zinx_soak_forward",
            "alias": "Soak: forward to the receiver",
            "mode": "queued",
            "max": 10000,
            "triggers": [
                {
                    "trigger": "event",
                    "event_type": "iot_zinx_event",
                    "event_data": {"event_type": t},
                }
                for t in FORWARDED
            ],
            "actions": [
                {
                    "action": "iot_zinx.forward_event",
                    "data": {"url": url, "event": "{{ trigger.event.data }}", "token": TOKEN},
                }
            ],
        }
    ]


def customize(url: str, config: Path) -> None:
    (config / "automations.yaml").write_text(json.dumps(automation(url), indent=2) + "\n")


class Home:
    """Home Assistant: started, killed, started again on the same directory and ports."""

    def __init__(self, config: Path, receiver_url: str, timeout: float) -> None:
        self.config = config
        self.http_port = free_port()
        self.station_port = free_port()
        self.receiver_url = receiver_url
        self.timeout = timeout
        self.demo: demo_setup.Demo | None = None
        self.state: dict[str, Any] = {}
        self.up = asyncio.Event()
        self.kills = 0
        self.start_seconds: list[float] = []
        self.down: list[tuple[float, float]] = []  # Unix times: killed, up again

    @property
    def pid(self) -> int:
        return int(self.state["hass_pid"])

    async def start(self, keep: bool) -> None:
        arguments = [
            "--config", str(self.config),
            "--port", str(self.http_port),
            "--station-port", str(self.station_port),
            "--no-simulator", "--background",
            "--log-level", "warning",
            "--timeout", str(self.timeout),
        ]  # fmt: skip
        if keep:
            arguments.append("--keep")
        args = demo_setup.build_parser().parse_args(arguments)
        demo = demo_setup.Demo(args, customize=lambda config: customize(self.receiver_url, config))
        began = now()
        await demo.start()
        self.demo = demo
        self.state = demo.state
        self.start_seconds.append(now() - began)
        if self.down:
            self.down[-1] = (self.down[-1][0], time.time())
        self.up.set()

    def kill(self) -> None:
        self.up.clear()
        os.kill(self.pid, signal.SIGKILL)
        self.down.append((time.time(), float("inf")))
        if self.demo is not None and self.demo.hass_process is not None:
            self.demo.hass_process.wait()
        self.kills += 1

    def rss_mb(self) -> float | None:
        try:
            return float(psutil.Process(self.pid).memory_info().rss) / 2**20
        except psutil.Error, KeyError:
            return None


class Api:
    """The actions over REST, and the energy sensors over a websocket kept subscribed."""

    def __init__(self, session: aiohttp.ClientSession, home: Home) -> None:
        self.session = session
        self.home = home
        self.calls: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.energy_entities: dict[str, str] = {}  # entity_id -> "station/port"
        self.energy_last: dict[str, float] = {}
        self.energy_changes = 0
        self.energy_backwards: list[tuple[str, float, float]] = []
        self.subscriptions = 0

    @property
    def base(self) -> str:
        return str(self.home.state["url"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.home.state['token']}"}

    async def action(self, service: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """The action's response, or None when it failed (Home Assistant down included)."""
        self.calls[service] += 1
        if not self.home.up.is_set():
            self.failures[service] += 1
            return None
        try:
            async with self.session.post(
                f"{self.base}/api/services/iot_zinx/{service}?return_response",
                json=data,
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=60),
            ) as response:
                if response.status == 200:
                    reply: dict[str, Any] = (await response.json())["service_response"]
                    return reply
        except aiohttp.ClientError, TimeoutError, ValueError, KeyError:
            pass
        self.failures[service] += 1
        return None

    async def ws_command(self, command: dict[str, Any]) -> Any:
        async with self.session.ws_connect(f"{self.base}/api/websocket", max_msg_size=0) as ws:
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": self.home.state["token"]})
            if (await ws.receive_json())["type"] != "auth_ok":
                raise RuntimeError("websocket auth refused")
            await ws.send_json({"id": 1, **command})
            reply = await ws.receive_json()
            if not reply["success"]:
                raise RuntimeError(f"{command['type']}: {reply}")
            return reply["result"]

    async def find_energy_sensors(self, stations: list[SimulatedStation], ports: int) -> None:
        wanted = {
            f"{station.device_id}_port{port}_lifetime_energy": f"{station.device_id}/{port}"
            for station in stations
            for port in range(1, ports + 1)
        }
        registry = await self.ws_command({"type": "config/entity_registry/list"})
        self.energy_entities = {
            entry["entity_id"]: wanted[entry["unique_id"]]
            for entry in registry
            if entry["platform"] == "iot_zinx" and entry["unique_id"] in wanted
        }

    def _energy(self, entity_id: str, state: str) -> None:
        try:
            value = float(state)
        except ValueError:
            return  # unknown (after a kill, until the station reports) or unavailable
        self.energy_changes += 1
        last = self.energy_last.get(entity_id)
        if last is not None and value < last - 1e-9:
            self.energy_backwards.append((self.energy_entities[entity_id], last, value))
        self.energy_last[entity_id] = max(value, last or 0.0)

    async def watch_energy(self) -> None:
        """Every change of the lifetime energy sensors; subscribed again after each restart."""
        while True:
            await self.home.up.wait()
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ConnectionError, KeyError):
                async with self.session.ws_connect(
                    f"{self.base}/api/websocket", max_msg_size=0, heartbeat=30
                ) as ws:
                    await ws.receive_json()
                    await ws.send_json({"type": "auth", "access_token": self.home.state["token"]})
                    if (await ws.receive_json())["type"] == "auth_ok":
                        await ws.send_json(
                            {
                                "id": 1,
                                "type": "subscribe_trigger",
                                "trigger": {
                                    "platform": "state",
                                    "entity_id": sorted(self.energy_entities),
                                },
                            }
                        )
                        if (await ws.receive_json()).get("success"):
                            self.subscriptions += 1
                            async for message in ws:
                                if message.type != aiohttp.WSMsgType.TEXT:
                                    break
                                data = json.loads(message.data)
                                if data.get("type") != "event":
                                    continue
                                to_state = data["event"]["variables"]["trigger"]["to_state"]
                                if to_state is not None:
                                    self._energy(to_state["entity_id"], to_state["state"])
            await asyncio.sleep(1)


# -- the site ---------------------------------------------------------------------------------


@dataclass
class PortPlan:
    """Where one ordering port is, and when it moves on."""

    state: str  # "rest", "starting", "charging", "stopping", "unplugged"
    next_at: float
    how: str = ""  # how the running order will end: "stop" (the action) or "unplug"


@dataclass
class Site:
    """The stations, their orders and their drops, driven by the clock."""

    simulator: StationSimulator
    stations: list[SimulatedStation]
    order_ports: int
    api: Api
    pace: float = 1.0  # order, rest and replug times are multiplied by it
    rng: random.Random = field(default_factory=lambda: random.Random(19))
    plans: dict[tuple[int, int], PortPlan] = field(default_factory=dict)
    confirmed_starts: set[tuple[str, int, str]] = field(default_factory=set)
    next_order: int = 1
    ordering: bool = True
    away: dict[int, float] = field(default_factory=dict)  # station index -> back at
    drops: int = 0
    ends: Counter[str] = field(default_factory=Counter)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _semaphore: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def schedule_first_orders(self, within: float) -> None:
        for index in range(len(self.stations)):
            for port in range(self.order_ports):
                self.plans[index, port] = PortPlan("rest", now() + self.rng.uniform(0, within))

    async def _start(self, index: int, port: int) -> None:
        station = self.stations[index]
        order = f"SK{self.next_order:08d}"
        self.next_order += 1
        async with self._semaphore:
            reply = await self.api.action(
                "start_charging",
                {"station_id": station.device_id, "port": port + 1, "order_number": order},
            )
        if reply is not None and reply.get("response_code") == 0:
            self.confirmed_starts.add((station.device_id, port + 1, order))

    async def _stop(self, index: int, port: int) -> None:
        station = self.stations[index]
        async with self._semaphore:
            reply = await self.api.action(
                "stop_charging", {"station_id": station.device_id, "port": port + 1}
            )
        if reply is not None and reply.get("response_code") == 0:
            self.ends["stop_charging"] += 1
        elif station.ports[port].order is not None:
            self._unplug(index, port)  # the action failed: the driver pulls the charger out

    def _unplug(self, index: int, port: int) -> None:
        station = self.stations[index]
        if station.ports[port].order is not None:
            self.ends["unplugged"] += 1
        station.unplug(port)
        self.plans[index, port] = PortPlan("unplugged", self._after(REPLUG_S))

    def _after(self, bounds: tuple[float, float]) -> float:
        return now() + self.pace * self.rng.uniform(*bounds)

    def _rest(self, plan: PortPlan) -> None:
        plan.state, plan.how, plan.next_at = "rest", "", self._after(REST_S)

    def tick(self) -> None:
        """One pass over the ordering ports and the away stations."""
        t = now()
        for (index, port), plan in list(self.plans.items()):
            station = self.stations[index]
            charging = station.ports[port].order is not None
            if plan.state in ("rest", "starting") and charging:
                # An order runs (whoever started it, even a call that timed out): plan its end.
                plan.state = "charging"
                plan.how = "stop" if self.rng.random() < 0.6 else "unplug"
                plan.next_at = self._after(ORDER_S)
            elif plan.state in ("charging", "stopping") and not charging:
                self._rest(plan)  # ended (the stop's settlement came, or the fallback)
            elif t < plan.next_at:
                continue
            elif plan.state == "rest":
                if self.ordering and station.is_connected:
                    self.spawn(self._start(index, port))
                    plan.state, plan.next_at = "starting", t + 60
                else:
                    plan.next_at = t + 10
            elif plan.state == "starting":  # no order came of it
                self._rest(plan)
            elif plan.state == "charging" and plan.how == "stop" and station.is_connected:
                plan.state, plan.next_at = "stopping", t + 60
                self.spawn(self._stop(index, port))
            elif plan.state in ("charging", "stopping"):
                self._unplug(index, port)
            elif plan.state == "unplugged":
                station.plug(port)
                self._rest(plan)
        for index, back_at in list(self.away.items()):
            if t >= back_at:
                del self.away[index]
                self.spawn(self._come_back(self.stations[index]))

    async def _come_back(self, station: SimulatedStation) -> None:
        try:
            await station.reconnect()
        except OSError:
            station.redial_after_failed_connect()  # Home Assistant down: keep redialling

    def drop_one(self) -> None:
        """A station's module loses its connection: redials at once, or after a while."""
        candidates = [
            i for i, s in enumerate(self.stations) if s.is_connected and i not in self.away
        ]
        if not candidates:
            return
        index = self.rng.choice(candidates)
        self.drops += 1
        if self.rng.random() < 0.5:
            self.spawn(self._come_back(self.stations[index]))
        else:
            self.away[index] = now() + self.rng.uniform(20, 90)
            self.spawn(self.stations[index].disconnect())

    async def wind_down(self) -> None:
        """No new orders; every running order ends at the station; everyone comes back."""
        self.ordering = False
        for index in list(self.away):
            self.away[index] = 0.0
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.tick()
        for index, station in enumerate(self.stations):
            for port in range(self.order_ports):
                if station.ports[port].order is not None:
                    self._unplug(index, port)
                    await asyncio.sleep(0.02)  # a minute's worth of order ends, not one burst
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def pending(self) -> int:
        return sum(len(station.pending_settlements) for station in self.stations)

    def settled(self) -> set[tuple[str, int, str]]:
        """Every settlement a station sent and had acknowledged: (station, port, order)."""
        return {
            (station.device_id, settlement.port + 1, order_no_text(settlement.order_no))
            for station in self.stations
            for settlement in station.settlements
            if settlement not in station.pending_settlements.values()
        }

    def energy_of(self) -> dict[tuple[str, int, str], float]:
        return {
            (station.device_id, s.port + 1, order_no_text(s.order_no)): s.energy_kwh
            for station in self.stations
            for s in station.settlements
        }


# -- the ledger -------------------------------------------------------------------------------


def ledger(site: Site, receiver: Receiver) -> dict[str, Any]:
    settled = site.settled()
    energy = site.energy_of()
    result: dict[str, Any] = {}
    lost_by_type: dict[str, int] = {}
    for event_type, expected in (
        ("settlement", settled),
        ("charging_end", settled),
        ("charging_start", site.confirmed_starts),
    ):
        ids: Counter[tuple[str, int, str]] = Counter()
        mismatched = 0
        for got in receiver.of(event_type):
            key = (got.device_id, got.port or 0, got.order or "")
            ids[key] += 1
            if (
                event_type != "charging_start"
                and key in energy
                and got.energy is not None
                and abs(got.energy - energy[key]) > 0.005
            ):
                mismatched += 1
        lost_by_type[event_type] = sum(1 for key in expected if not ids[key])
        result[f"duplicated_{event_type}"] = sum(n - 1 for n in ids.values() if n > 1)
        result[f"unexpected_{event_type}"] = sum(1 for key in ids if key not in expected)
        if event_type != "charging_start":
            result[f"energy_mismatch_{event_type}"] = mismatched
    result["lost"] = sum(lost_by_type.values())
    result["lost_by_type"] = lost_by_type
    return result


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Schedule:
    """The faults, in seconds from the start, for a run of ``minutes``."""

    minutes: float

    @property
    def unit(self) -> float:
        return self.minutes * 60 / 12

    def at(self, units: float) -> float:
        return units * self.unit

    def events(self) -> list[tuple[float, str]]:
        return sorted(
            [
                (self.at(2.0), "receiver_down"),
                (self.at(3.0), "receiver_up"),
                (self.at(3.5), "kill"),
                (self.at(5.0), "kill"),
                (self.at(6.0), "receiver_down"),
                (self.at(6.5), "kill"),
                (self.at(7.0), "receiver_up"),
            ]
        )


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    raise_fd_limit(4 * args.stations + 1024)  # Home Assistant inherits it
    schedule = Schedule(args.minutes)
    receiver = Receiver()
    await receiver.start()
    home = Home(workdir / "config", receiver.url, args.start_timeout)
    print(f"Home Assistant in {home.config}, receiver at {receiver.url} ...", flush=True)
    await home.start(keep=False)
    print(f"  up in {home.start_seconds[-1]:.0f} s (pid {home.pid})", flush=True)
    me = psutil.Process()
    me.cpu_percent()
    outages: list[tuple[float, float]] = []
    rss: dict[str, float | None] = {"warm": None, "end": None}
    events_log: list[str] = []

    async with aiohttp.ClientSession() as session:
        api = Api(session, home)
        simulator = StationSimulator("127.0.0.1", home.station_port, connect_concurrency=64)
        stations = [
            simulator.add_station(
                SimulatedStation(
                    FIRST_ID + index,
                    args.ports,
                    plugged=range(args.ports),
                    full_energy_kwh=50.0,  # orders end by the site's hand, not by themselves
                )
            )
            for index in range(args.stations)
        ]
        site = Site(
            simulator, stations, args.order_ports, api, pace=min(1.0, max(0.4, args.minutes / 60))
        )
        await simulator.start()
        deadline = now() + args.start_timeout
        while sum(s.registered.is_set() for s in stations) < len(stations):
            if now() > deadline:
                raise RuntimeError("the stations did not all register")
            await asyncio.sleep(1)
        # Until the energy sensors of every ordering port exist (or their number stops growing:
        # Home Assistant adds at most 10,000 enabled entities per config entry).
        found = [-1]
        while len(api.energy_entities) < len(stations) * args.order_ports:
            await asyncio.sleep(5)
            await api.find_energy_sensors(stations, args.order_ports)
            found.append(len(api.energy_entities))
            if now() > deadline or found[-3:] == [found[-1]] * 3:
                print(f"  only {found[-1]} lifetime energy sensors: see home-assistant.log")
                break
        watcher = asyncio.get_running_loop().create_task(api.watch_energy())
        print(
            f"  {len(stations)} stations x {args.ports} ports online; "
            f"orders on {len(site.plans) or len(stations) * args.order_ports} ports",
            flush=True,
        )

        began = now()
        site.schedule_first_orders(min(schedule.unit, 120.0))
        pending_faults = schedule.events()
        next_progress = began + PROGRESS_S
        next_drop = began + args.drop_every
        restarting: asyncio.Task[None] | None = None
        warm_at = None

        async def restart() -> None:
            await home.start(keep=True)
            line = f"  restarted in {home.start_seconds[-1]:.0f} s (pid {home.pid})"
            print(line, flush=True)

        def progress(phase: str) -> None:
            elapsed = now() - began
            counts = Counter(got.event_type for got in receiver.events.values())
            size = home.rss_mb() if home.up.is_set() else None
            print(
                f"[{elapsed / 60:5.1f} min] {phase}: HA {'up' if home.up.is_set() else 'DOWN'}"
                f" (kills {home.kills}), receiver {'up' if receiver.up else 'DOWN'}; "
                f"online {sum(s.is_connected for s in stations)}/{len(stations)}, "
                f"charging {sum(len(s.charging_ports()) for s in stations)}, "
                f"settled {sum(len(s.settlements) for s in stations)} "
                f"(unacked {site.pending()}); received {len(receiver.events)} "
                f"(settlement {counts['settlement']}, charging_end {counts['charging_end']}, "
                f"redelivered {receiver.redelivered}); drops {site.drops}; "
                f"RSS {'-' if size is None else f'{size:.0f} MB'}; "
                f"soak CPU {me.cpu_percent():.0f} %",
                flush=True,
            )

        while now() - began < args.minutes * 60:
            t = now() - began
            while pending_faults and t >= pending_faults[0][0]:
                _, what = pending_faults[0]
                if what == "kill" and (not home.up.is_set() or restarting is not None):
                    break  # the instance before is not up yet: kill it once it is
                pending_faults.pop(0)
                if what == "kill":
                    home.kill()
                    events_log.append(f"{t / 60:.1f} kill")
                    print(f"  KILL -9 Home Assistant (kill {home.kills})", flush=True)
                    restarting = asyncio.get_running_loop().create_task(restart())
                elif what == "receiver_down":
                    await receiver.stop()
                    outages.append((t, t))
                    events_log.append(f"{t / 60:.1f} receiver down")
                    print("  receiver DOWN", flush=True)
                else:
                    await receiver.start()
                    outages[-1] = (outages[-1][0], t)
                    events_log.append(f"{t / 60:.1f} receiver up")
                    print("  receiver up", flush=True)
            if restarting is not None and restarting.done():
                restarting.result()
                restarting = None
            if home.kills == 3 and home.up.is_set() and warm_at is None:
                warm_at = now() + schedule.unit
            if warm_at is not None and rss["warm"] is None and now() >= warm_at:
                rss["warm"] = home.rss_mb()
                print(f"  RSS after warm-up: {rss['warm']:.0f} MB", flush=True)
            site.tick()
            if now() >= next_drop:
                site.drop_one()
                next_drop += args.drop_every
            if now() >= next_progress:
                progress("running")
                next_progress += PROGRESS_S
            await asyncio.sleep(1)

        # Wind down and drain.
        if restarting is not None:
            await restarting
        if not receiver.up:
            await receiver.start()
        progress("winding down")
        rss["end_of_faults"] = home.rss_mb()
        await site.wind_down()
        settled_target = 0
        drain_deadline = now() + args.drain
        while now() < drain_deadline:
            site.tick()
            settled = site.settled()
            got_ends = {
                (g.device_id, g.port or 0, g.order or "") for g in receiver.of("charging_end")
            }
            got_settlements = {
                (g.device_id, g.port or 0, g.order or "") for g in receiver.of("settlement")
            }
            settled_target = len(settled)
            if (
                not site.pending()
                and all(s.is_connected for s in stations)
                and settled <= got_ends
                and settled <= got_settlements
                and site.confirmed_starts
                <= {
                    (g.device_id, g.port or 0, g.order or "") for g in receiver.of("charging_start")
                }
            ):
                break
            if now() >= next_progress:
                progress("draining")
                next_progress += PROGRESS_S
            await asyncio.sleep(1)
        drained = now() < drain_deadline
        await asyncio.sleep(args.quiet)  # room for late duplicates
        rss["end"] = home.rss_mb()
        progress("done")
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await simulator.stop()
    await receiver.stop()

    accounts = ledger(site, receiver)
    counts = Counter(got.event_type for got in receiver.events.values())
    warm, end = rss["warm"], rss["end"]
    growth = None if not warm or not end else round((end - warm) / warm * 100, 1)
    energy_ok = not api.energy_backwards
    ok = (
        accounts["lost"] == 0
        and accounts["duplicated_charging_end"] == 0
        and accounts["duplicated_settlement"] == 0
        and energy_ok
        and drained
    )
    for where, old, new in api.energy_backwards[:10]:
        print(f"  lifetime energy went backwards on {where}: {old} -> {new} kWh")
    missing: defaultdict[str, list[str]] = defaultdict(list)
    settled = site.settled()
    for event_type, expected in (
        ("settlement", settled),
        ("charging_end", settled),
        ("charging_start", site.confirmed_starts),
    ):
        got = {(g.device_id, g.port or 0, g.order or "") for g in receiver.of(event_type)}
        missing[event_type] = [f"{d}/{p}/{o}" for d, p, o in sorted(expected - got)]
    ended_at = {
        f"{station.device_id}/{s.port + 1}/{order_no_text(s.order_no)}": float(s.timestamp or 0)
        for station in site.stations
        for s in station.settlements
    }
    for event_type, keys in missing.items():
        if keys:
            # When the station ended the order: while Home Assistant was down or starting?
            down = sum(
                1 for key in keys if any(a <= ended_at.get(key, 0) <= b for a, b in home.down)
            )
            print(
                f"  LOST {event_type}: {len(keys)} ({down} of orders the station ended while "
                f"Home Assistant was down or starting), e.g. {', '.join(keys[:6])}"
            )
    return {
        "minutes": args.minutes,
        "stations": args.stations,
        "ports": args.ports,
        "order_ports": args.order_ports,
        "pass": ok,
        "lost": accounts["lost"],
        "lost_by_type": accounts["lost_by_type"],
        "duplicated_charging_end": accounts["duplicated_charging_end"],
        "duplicated_settlement": accounts["duplicated_settlement"],
        "duplicated_charging_start": accounts["duplicated_charging_start"],
        "unexpected": {
            k.removeprefix("unexpected_"): v for k, v in accounts.items() if k.startswith("unex")
        },
        "energy_mismatches": accounts["energy_mismatch_settlement"]
        + accounts["energy_mismatch_charging_end"],
        "settlements": settled_target,
        "orders_confirmed_started": len(site.confirmed_starts),
        "orders_ended": dict(site.ends),
        "received": dict(counts),
        "redelivered": receiver.redelivered,
        "drained": drained,
        "ha_kills": home.kills,
        "ha_start_seconds": [round(s) for s in home.start_seconds],
        "receiver_outages_s": [round(b - a) for a, b in outages],
        "faults": events_log,
        "station_drops": site.drops,
        "actions": dict(api.calls),
        "action_failures": dict(api.failures),
        "lifetime_energy_sensors": len(api.energy_entities),
        "lifetime_energy_changes": api.energy_changes,
        "lifetime_energy_backwards": len(api.energy_backwards),
        "energy_subscriptions": api.subscriptions,
        "rss_mb_warm": None if warm is None else round(warm),
        "rss_mb_end": None if end is None else round(end),
        "rss_growth_percent": growth,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the run (>= 3)")
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument(
        "--ports",
        type=int,
        default=1,
        help="ports per station (Home Assistant adds at most 10,000 enabled entities per "
        "config entry: at the default entity level 666 one-port, 434 two-port or 114 ten-port "
        "stations)",
    )
    parser.add_argument(
        "--order-ports", type=int, default=1, help="ports per station where orders start and end"
    )
    parser.add_argument(
        "--drop-every", type=float, default=5.0, help="seconds between station drops"
    )
    parser.add_argument(
        "--drain", type=float, default=900.0, help="seconds allowed for the final drain"
    )
    parser.add_argument("--quiet", type=float, default=15.0, help=argparse.SUPPRESS)
    parser.add_argument("--start-timeout", type=float, default=600.0, help=argparse.SUPPRESS)
    parser.add_argument("--keep-dir", action="store_true", help="keep the directory on success")
    args = parser.parse_args()
    if args.minutes < 3 or not 1 <= args.order_ports <= args.ports:
        parser.error("--minutes must be at least 3 and --order-ports 1..--ports")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    workdir = Path(tempfile.mkdtemp(prefix="iot_zinx_soak_"))
    started = time.monotonic()
    report: dict[str, Any] = {"pass": False}
    home_config = workdir / "config"
    try:
        report = asyncio.run(run(args, workdir))
    except Exception as err:  # the report says what broke the run itself
        report = {"pass": False, "error": f"{type(err).__name__}: {err}"}
        print(f"FAIL  the run itself: {report['error']}")
    finally:
        if (state := demo_setup.read_state(home_config)) is not None:
            with contextlib.redirect_stdout(None):
                demo_setup.stop_pid(state.get("hass_pid"), "Home Assistant", 60)
    report["wall_minutes"] = round((time.monotonic() - started) / 60, 1)
    if report["pass"] and not args.keep_dir:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"kept {workdir} (config/home-assistant.log)")
    print(f"{'PASS' if report['pass'] else 'FAIL'} in {report['wall_minutes']} min")
    print(json.dumps(report))
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
