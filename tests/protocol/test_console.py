"""The protocol console: a subprocess against simulated stations, and its JSON rendering."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
import io
import json
import os
from pathlib import Path
import signal
import sys
from typing import Any

import pytest

from custom_components.iot_zinx.protocol.__main__ import Console, build_parser, parse_listen, run
from custom_components.iot_zinx.protocol.frame import Frame
from custom_components.iot_zinx.protocol.jsonify import (
    frame_to_dict,
    message_to_dict,
    to_json_value,
)
from custom_components.iot_zinx.protocol.messages import (
    CardSwipe,
    Register,
    ResultReply,
    Settlement,
    SubStationVersion,
    SubStationVersions,
)
from custom_components.iot_zinx.protocol.server import OfflineReason, StationLink
from custom_components.iot_zinx.protocol.simulator import SimulatedStation

from .harness import wait_until

# A hang guard: every wait has its own timeout, this catches the rest.
pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).parents[2]
PID = 0x04A228CD


class ConsoleProcess:
    """``python -m custom_components.iot_zinx.protocol`` with its stdout parsed line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.lines.append(json.loads(line))

    def events(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines
            if line["event"] == event and all(line.get(k) == v for k, v in match.items())
        ]

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), 10)
        await self._reader
        return code


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture
async def console() -> AsyncGenerator[ConsoleProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "custom_components.iot_zinx.protocol",
        "--listen",
        "127.0.0.1:0",
        "--heartbeat-timeout",
        "60",
        cwd=ROOT,
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
    )
    console = ConsoleProcess(process)
    await wait_until(lambda: console.lines != [], 20)
    yield console
    if process.returncode is None:
        process.kill()
        await process.wait()


def _port(console: ConsoleProcess) -> int:
    listening = console.lines[0]
    assert listening["event"] == "listening"
    assert listening["host"] == "127.0.0.1"
    port: int = listening["port"]
    return port


async def test_console_prints_every_frame_and_state_change(console: ConsoleProcess) -> None:
    station = SimulatedStation(PID, 2, heartbeat_interval=600, auto_reconnect=False)
    await station.connect("127.0.0.1", _port(console))
    try:
        await asyncio.wait_for(station.registered.wait(), 5)
        reply = await station.swipe_card(1, 0x7A8D05DD)
        assert reply.account_status == 0  # the console accepts every card
    finally:
        await station.close()
    await wait_until(lambda: console.events("offline") != [], 5)
    assert await console.stop() == 0

    assert all("time" in line for line in console.lines)
    assert console.process.returncode == 0
    (opened,) = console.events("connection_open")
    assert opened["conn_id"] == 1
    assert opened["remote"].startswith("127.0.0.1:")
    assert console.events("connection_iccid")[0]["detail"] == station.iccid
    (online,) = console.events("online")
    assert online == {**online, "device_id": "04A228CD", "iccid": station.iccid}
    register_in = console.events("frame", direction="in", command="0x20")[0]
    assert register_in == {
        "time": register_in["time"],
        "event": "frame",
        "direction": "in",
        "device_id": "04A228CD",
        "command": "0x20",
        "message_id": "0x0001",
        "type": "Register",
        "fields": {
            "firmware": 126,
            "port_count": 2,
            "virtual_id": 0,
            "device_type": 0x21,
            "work_mode": 0,
            "power_board_version": 0,
        },
        "raw": "444E591100CD28A2040100207E000200210000005903",
        "remote": opened["remote"],
    }
    register_out = console.events("frame", direction="out", command="0x20")[0]
    assert register_out["type"] == "ResultReply"
    assert register_out["fields"] == {"command": 0x20, "result": 0}
    assert register_out["raw"] == "444E590A00CD28A20401002000B102"
    card_out = console.events("frame", direction="out", command="0x02")[0]
    assert card_out["type"] == "CardReply"
    assert card_out["fields"]["account_status"] == 0
    assert card_out["fields"]["card_id"] == 0x7A8D05DD
    assert console.events("offline")[0]["reason"] == "connection_lost"
    assert console.events("connection_close")[0]["detail"].startswith("lost")
    stopped = console.lines[-1]
    assert stopped["event"] == "stopped"
    assert stopped["frames_in"] >= 4
    assert stopped["connections_total"] == 1


async def test_console_against_the_simulator_command_line(console: ConsoleProcess) -> None:
    simulator = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "custom_components.iot_zinx.protocol.simulator",
        "--port",
        str(_port(console)),
        "--stations",
        "2",
        "--host-gateway",
        "1",
        "--autoplug",
        "--speed",
        "100",
        cwd=ROOT,
        env=_env(),
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_until(lambda: len(console.events("online")) == 3, 20)
        await wait_until(lambda: len(console.events("frame", type="Heartbeat")) == 2, 5)
    finally:
        simulator.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(simulator.wait(), 10) == 0
    await wait_until(lambda: len(console.events("offline")) == 3, 5)
    assert await console.stop(signal.SIGINT) == 0
    devices = {line["device_id"] for line in console.events("online")}
    assert devices == {"09A00001", "04A228CD", "04A228CE"}
    (host_heartbeat,) = console.events("frame", type="HostHeartbeat")
    assert host_heartbeat["device_id"] == "09A00001"
    statuses = [
        line["fields"]["port_statuses"] for line in console.events("frame", type="Heartbeat")
    ]
    assert statuses == [[2, 2], [2, 2]]  # --autoplug: a charger in every port


async def test_console_in_process_shutdown_takes_stations_offline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(["--listen", "127.0.0.1:0"])
    stop = asyncio.Event()
    task = asyncio.create_task(run(args, stop))
    printed: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        printed.extend(json.loads(line) for line in capsys.readouterr().out.splitlines())
        return printed

    await wait_until(lambda: read() != [])
    station = SimulatedStation(PID, auto_reconnect=False)
    await station.connect("127.0.0.1", printed[0]["port"])
    try:
        await asyncio.wait_for(station.registered.wait(), 5)
        stop.set()
        server = await task
    finally:
        await station.close()
    assert not server.running
    events = [line["event"] for line in read()]
    assert events[-3:] == ["offline", "connection_close", "stopped"]
    assert printed[-3]["reason"] == "system_shutdown"
    assert printed[-2]["detail"] == "shutdown"


# -- rendering ------------------------------------------------------------------------------


def test_console_lines_are_exact() -> None:
    out = io.StringIO()
    console = Console(out, now=lambda: datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC))
    link = StationLink(PID, "04A228CD", 3, "10.0.0.2:5000", 1.0, "8986", 2.0)
    console.station_online(link)
    console.frame("out", link, Frame(PID, 1, 0x20, b"\x00"), "10.0.0.2:5000")
    console.frame("in", None, Frame(PID, 2, 0x21, b"\x98"), "10.0.0.2:5000")
    console.station_offline(link, OfflineReason.HEARTBEAT_TIMEOUT)
    console.connection("close", 3, "10.0.0.2:5000", "")
    console.message_received(link, Register(126, 2, 0, 0x21))
    assert out.getvalue().splitlines() == [
        '{"time": "2024-05-01T12:00:00.000+00:00", "event": "online", "device_id": "04A228CD",'
        ' "remote": "10.0.0.2:5000", "iccid": "8986"}',
        '{"time": "2024-05-01T12:00:00.000+00:00", "event": "frame", "direction": "out",'
        ' "device_id": "04A228CD", "command": "0x20", "message_id": "0x0001", "type":'
        ' "ResultReply", "fields": {"command": 32, "result": 0}, "raw":'
        ' "444E590A00CD28A20401002000B102", "remote": "10.0.0.2:5000"}',
        '{"time": "2024-05-01T12:00:00.000+00:00", "event": "frame", "direction": "in",'
        ' "device_id": "04A228CD", "command": "0x21", "message_id": "0x0002", "type":'
        ' "MessageError", "fields": {"error": "Heartbeat payload of 1 bytes is shorter than'
        ' the 3 bytes of its required fields"}, "raw": "444E590A00CD28A204020021984B03",'
        ' "remote": "10.0.0.2:5000", "admitted": false}',
        '{"time": "2024-05-01T12:00:00.000+00:00", "event": "offline", "device_id": "04A228CD",'
        ' "reason": "heartbeat_timeout"}',
        '{"time": "2024-05-01T12:00:00.000+00:00", "event": "connection_close", "conn_id": 3,'
        ' "remote": "10.0.0.2:5000"}',
    ]


async def test_console_accepts_every_card() -> None:
    console = Console(io.StringIO())
    link = StationLink(PID, "04A228CD", 1, "x", 0.0, None, 0.0)
    reply = await console.card_swiped(link, CardSwipe(0x12345678, 1, 0, 0))
    assert (reply.card_id, reply.account_status, reply.port) == (0x12345678, 0, 0)


def test_message_to_dict() -> None:
    settlement = Settlement(3600, 100.0, 0.48, 1, 1, 0, 1, b"\x20\x19" + bytes(14), 57.1)
    assert message_to_dict(settlement) == {
        "duration_s": 3600,
        "max_power_w": 100.0,
        "energy_kwh": 0.48,
        "port": 1,
        "start_mode": 1,
        "card_id": 0,
        "stop_reason": 1,
        "order_no": "2019" + "00" * 14,
        "second_max_power_w": 57.1,
        "timestamp": None,
        "occupancy_min": None,
    }
    versions = SubStationVersions((SubStationVersion(0x21, 0, 126, PID),), b"\x01")
    assert message_to_dict(versions) == {
        "entries": [{"device_type": 0x21, "reserved": 0, "min_firmware": 126, "physical_id": PID}],
        "trailing": "01",
    }
    with pytest.raises(TypeError):
        message_to_dict(ResultReply)
    assert to_json_value({"a": (1, True)}) == {"a": [1, True]}
    assert to_json_value(OfflineReason.SYSTEM_SHUTDOWN) == "system_shutdown"
    assert to_json_value(object.__new__(argparse.Namespace)) == "Namespace()"


def test_frame_to_dict_uses_the_direction() -> None:
    # 0x82 is a command going out, a ChargeControlReply coming in.
    assert frame_to_dict("in", Frame(PID, 1, 0x82, b"\x01"))["type"] == "ChargeControlReply"
    out = frame_to_dict("out", Frame(PID, 1, 0x81, b""))
    assert (out["type"], out["fields"]) == ("QueryStatus", {})
    assert frame_to_dict("in", Frame(PID, 1, 0x21, b""))["type"] == "MessageError"


def test_parse_listen() -> None:
    assert parse_listen("0.0.0.0:7054") == ("0.0.0.0", 7054)
    assert parse_listen("[::]:7054") == ("::", 7054)
    assert parse_listen(":7054") == ("0.0.0.0", 7054)
    for bad in ("7054", "host:port", "h:70000"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_listen(bad)
    args = build_parser().parse_args([])
    assert args.listen == ("0.0.0.0", 7054)
    assert args.heartbeat_timeout == 420.0
