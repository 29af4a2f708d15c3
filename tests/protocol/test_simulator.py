"""The station simulator against the real server, and against a byte-exact fake server.

Simulated time runs ``speed`` times faster than the clock: with ``speed=600`` a 60-second
heartbeat or power interval takes 0.1 s, so whole charging orders fit in a fraction of a
second while the frames carry realistic durations.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
import dataclasses
import socket
import time
from typing import Any

import pytest

from custom_components.iot_zinx.protocol import simulator as simulator_module
from custom_components.iot_zinx.protocol.codes import ChargeResult, StopReason
from custom_components.iot_zinx.protocol.errors import CommandTimeoutError
from custom_components.iot_zinx.protocol.frame import Frame
from custom_components.iot_zinx.protocol.messages import (
    CardKeys,
    CardReply,
    ChangeServerAddress,
    ChargeControl,
    ChargeControlReply,
    ClearMemory,
    ClearSubUpgrade,
    CommandResult,
    EepromReadReply,
    FirmwarePacket,
    FirmwareReply,
    Heartbeat,
    HostHeartbeat,
    HostReboot,
    HostTimeRequest,
    LegacyHeartbeat,
    Limits,
    Locate,
    LockerDoor,
    LockerRelease,
    ModifyCharge,
    ModuleReboot,
    Mute,
    PowerHeartbeat,
    QueryStatus,
    ReadEeprom,
    ReadParameters,
    Reboot,
    Register,
    RunParameters1,
    RunParameters2,
    SetCardBillingMode,
    SetQrCode,
    Settlement,
    SetWorkMode,
    TemporaryQrCode,
    TimeRequest,
    UnknownMessage,
)
from custom_components.iot_zinx.protocol.server import DnyServer, OfflineReason, ServerConfig
from custom_components.iot_zinx.protocol.simulator import (
    RAMP_S,
    SimulatedHost,
    SimulatedOrder,
    SimulatedPort,
    SimulatedStation,
    StationSimulator,
    build_parser,
    build_simulator,
    default_iccid,
)
from custom_components.iot_zinx.protocol.stream import Iccid

from .harness import FakeServer, Recorder, wait_until

# A hang guard: every wait has its own timeout, this catches the rest.
pytestmark = pytest.mark.timeout(60)

PID = 0x04A228CD
DEVICE = "04A228CD"
ORDER = b"ORDER-0000000001"
FAST = {"heartbeat_interval": 60.0, "power_interval": 60.0, "speed": 600.0}


@pytest.fixture
async def server() -> AsyncGenerator[tuple[DnyServer, Recorder]]:
    recorder = Recorder()
    config = ServerConfig(
        host="127.0.0.1", port=0, reply_timeout=0.3, command_spacing=0.01, heartbeat_timeout=30
    )
    dny = DnyServer(config, recorder)
    await dny.start()
    yield dny, recorder
    await dny.stop()


@pytest.fixture
async def simulator(server: tuple[DnyServer, Recorder]) -> AsyncGenerator[StationSimulator]:
    sim = StationSimulator("127.0.0.1", server[0].port)
    yield sim
    await sim.stop()


@pytest.fixture
async def fake() -> AsyncGenerator[FakeServer]:
    fake_server = FakeServer()
    await fake_server.start()
    yield fake_server
    await fake_server.stop()


@pytest.fixture
async def closing() -> AsyncGenerator[Callable[[SimulatedStation], SimulatedStation]]:
    """Close the stations a test connects by hand."""
    stations: list[SimulatedStation] = []

    def register(station: SimulatedStation) -> SimulatedStation:
        stations.append(station)
        return station

    yield register
    for station in stations:
        await station.close()


def station(physical_id: int = PID, **options: Any) -> SimulatedStation:
    """A station with fast test intervals (reply waits of 1 s of real time)."""
    values: dict[str, Any] = {**FAST, "reply_timeout": 600.0, **options}
    return SimulatedStation(physical_id, **values)


def start(port: int, value: int = 0, *, rate_mode: int = 0, **extra: Any) -> ChargeControl:
    return ChargeControl(rate_mode, 0, port, 1, value, ORDER, **extra)


def stop(port: int, order_no: bytes = ORDER) -> ChargeControl:
    return ChargeControl(0, 0, port, 0, 0, order_no)


async def online(
    simulator: StationSimulator, *stations: SimulatedStation
) -> list[SimulatedStation]:
    for each in stations:
        simulator.add_station(each)
    await simulator.start()
    await simulator.wait_registered(5)
    return list(stations)


def messages_of(recorder: Recorder, kind: type) -> list[Any]:
    return [m for m in recorder.messages(DEVICE) if isinstance(m, kind)]


# -- registration and heartbeats ------------------------------------------------------------


async def test_station_registers_and_heartbeats(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    (st,) = await online(simulator, station(plugged=[1]))
    await asyncio.wait_for(st.time_synced.wait(), 5)
    await st.wait_for(lambda: st.heartbeats_answered >= 2)
    link = dny.link(DEVICE)
    assert link is not None
    assert link.iccid == default_iccid(PID) == "89860000000077736141"
    first = recorder.messages(DEVICE)[:3]
    assert first == [
        Register(126, 2, 0, 0x21, 0, 0),
        TimeRequest(),
        Heartbeat(220.0, 2, (0, 2), 0, 30),
    ]
    assert st.registrations == 1
    assert st.server_time is not None
    assert abs(st.server_time - time.time()) < 5
    assert st.sent_commands[0x20] == 1
    assert st.received_commands[0x21] >= 2
    assert st.frames_dropped == 0
    assert st.is_connected
    assert repr(st) == "<SimulatedStation 04A228CD>"


async def test_legacy_station_is_answered_on_0x01(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    (st,) = await online(simulator, station(legacy_heartbeat=True, plugged=[0]))
    await st.wait_for(lambda: st.heartbeats_answered >= 1)
    await dny.request(DEVICE, start(0, 3600))
    await st.wait_for(lambda: st.heartbeats_answered >= 3)
    beats = messages_of(recorder, LegacyHeartbeat)
    assert beats[0].port_statuses == (2, 0)
    assert beats[0].power_w == (0.0, 0.0)
    charging = beats[-1]
    assert charging.port_statuses == (1, 0)
    assert 180.0 <= charging.power_w[0] <= 250.0
    assert charging.firmware == 126


# -- charging -------------------------------------------------------------------------------


async def test_time_order_reports_power_and_settles(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    (st,) = await online(simulator, station(plugged=[0]))
    reply = await dny.request(DEVICE, start(0, 180))
    assert reply == ChargeControlReply(0, ORDER, 0, 0)
    assert st.charging_ports() == [0]
    await st.wait_for(lambda: st.settlements_acknowledged == 1, 5)
    powers = messages_of(recorder, PowerHeartbeat)
    assert [p.duration_s for p in powers] == [60, 120]
    assert all(p.order_no == ORDER and p.port == 0 and p.status == 1 for p in powers)
    assert all(180.0 <= p.power_w <= 250.0 for p in powers)
    assert powers[0].energy_kwh < powers[1].energy_kwh
    assert powers[0].voltage_v == 220.0
    assert powers[0].current_a == pytest.approx(powers[0].power_w / 220.0, abs=0.001)
    assert powers[0].ambient_temp_c == 30
    (settlement,) = messages_of(recorder, Settlement)
    assert settlement == st.settlements[0]
    assert settlement.duration_s == 180
    assert settlement.stop_reason == StopReason.PRESET_TIME
    assert settlement.start_mode == 1
    assert settlement.card_id == 0
    assert settlement.port == 0
    assert settlement.order_no == ORDER
    assert settlement.energy_kwh >= powers[1].energy_kwh
    assert st.pending_settlements == {}
    assert st.ports[0].status == 0x02  # plugged, not charging


async def test_energy_full_and_maximum_duration_orders(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, _ = server
    (st,) = await online(
        simulator,
        station(port_count=3, plugged=[0, 1, 2], full_energy_kwh=0.02, power_interval=6000),
    )
    await dny.request(DEVICE, start(0, 1, rate_mode=2))  # 0.01 kWh
    await dny.request(DEVICE, start(1))  # until full
    await dny.request(DEVICE, start(2, 0, max_duration_s=100))
    await st.wait_for(lambda: st.settlements_acknowledged == 3, 5)
    by_port = {s.port: s for s in st.settlements}
    assert by_port[0].stop_reason == StopReason.PRESET_ENERGY
    assert by_port[0].energy_kwh == 0.01
    assert by_port[1].stop_reason == StopReason.FULL
    assert by_port[1].energy_kwh == 0.02
    assert by_port[2].stop_reason == StopReason.MAX_DURATION
    assert by_port[2].duration_s == 100
    assert [p.status for p in st.ports] == [0x02, 0x03, 0x02]  # port 1 is full


async def test_charge_control_results(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    (st,) = await online(simulator, station(port_count=3, speed=1.0))

    async def result(command: ChargeControl) -> tuple[int, int | None, int | None]:
        reply = await dny.request(DEVICE, command)
        assert isinstance(reply, ChargeControlReply)
        return reply.result, reply.port, reply.waiting_ports

    assert await result(start(1)) == (ChargeResult.NO_CHARGER, 1, 0)
    assert await result(start(5)) == (ChargeResult.NO_SUCH_PORT, 5, 0)
    assert await result(start(0xFF)) == (ChargeResult.NO_CHARGER, 0xFF, 0)
    st.plug(1)
    st.set_port_status(1, 0x08)  # poor contact: a fault
    assert await result(start(1)) == (ChargeResult.PORT_FAULT, 1, 0)
    st.set_port_status(1, None)
    st.plug(0)
    assert await result(start(0xFF)) == (ChargeResult.SEVERAL_PORTS_WAITING, 0xFF, 0b11)
    assert await result(start(0)) == (ChargeResult.DONE, 0, 0)
    other = ChargeControl(0, 0, 0, 1, 0, b"Y" * 16)
    assert await result(other) == (ChargeResult.ALREADY_IN_STATE, 0, 0)
    # The running order's own start again: new limits for it (max_power 0.1 W on the wire).
    running = st.ports[0].order
    assert running is not None
    assert await result(start(0, max_duration_s=600, max_power_w=50.0)) == (ChargeResult.DONE, 0, 0)
    assert st.ports[0].order is running
    assert (running.plateau_power_w, running.max_duration_s) == (50.0, 600.0)
    # 0xFF: the only plugged port without an order.
    assert await result(start(0xFF)) == (ChargeResult.DONE, 1, 0)
    assert st.charging_ports() == [0, 1]
    assert await result(stop(0, b"X" * 16)) == (ChargeResult.ALREADY_IN_STATE, 0, 0)
    assert await result(stop(2)) == (ChargeResult.ALREADY_IN_STATE, 2, 0)
    assert await result(stop(0xFF, b"X" * 16)) == (ChargeResult.ALREADY_IN_STATE, 0xFF, 0)
    assert await result(stop(0)) == (ChargeResult.DONE, 0, 0)
    assert await result(stop(0xFF)) == (ChargeResult.DONE, 1, 0)
    await st.wait_for(lambda: st.settlements_acknowledged == 2)
    assert [s.stop_reason for s in st.settlements] == [StopReason.SERVER] * 2
    assert st.charging_ports() == []
    # Status changes were sent at once as heartbeats.
    statuses = [m.port_statuses for m in messages_of(recorder, Heartbeat)]
    assert (0, 2, 0) in statuses
    assert (1, 1, 0) in statuses


async def test_unplug_ends_the_order(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, _ = server
    (st,) = await online(simulator, station(speed=1.0, plugged=[0]))
    await dny.request(DEVICE, start(0, 3600))
    st.unplug(0)
    await st.wait_for(lambda: st.settlements_acknowledged == 1)
    assert st.settlements[0].stop_reason == StopReason.UNPLUGGED
    assert st.ports[0].status == 0x00
    st.unplug(0)  # nothing plugged: no order, no settlement
    assert len(st.settlements) == 1


async def test_modify_charge(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, _ = server
    (st,) = await online(simulator, station(speed=60.0, plugged=[0]))

    async def modify(mode: int, port: int, value: int) -> int:
        reply = await dny.request(DEVICE, ModifyCharge(mode, port, value))
        assert isinstance(reply, CommandResult)
        return reply.result

    assert await modify(0, 0, 600) == 1  # not charging
    assert await modify(3, 0, 600) == 3  # bad mode
    assert await modify(0, 7, 600) == 3  # bad port
    await dny.request(DEVICE, start(0))
    await asyncio.sleep(0.1)  # 6 simulated seconds
    assert await modify(0, 0, 1) == 2  # below what already ran
    assert await modify(2, 0, 1000) == 0  # 10 kWh
    assert await modify(0, 0, 0) == 0  # until full again
    order = st.ports[0].order
    assert order is not None
    # 30 simulated seconds (0.5 s) after what has run: a stop the test is sure to reach.
    stop_at = int(order.elapsed_s(asyncio.get_running_loop().time())) + 30
    assert await modify(1, 0, stop_at) == 0
    await st.wait_for(lambda: st.settlements_acknowledged == 1, 3)
    assert st.settlements[0].stop_reason == StopReason.PRESET_TIME
    assert st.settlements[0].duration_s == stop_at


async def test_offline_card_start(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    _, recorder = server
    (st,) = await online(simulator, station(plugged=[1]))
    order_no = st.start_offline_charge(1, card_id=0x1234, seconds=120)
    assert len(order_no) == 16
    assert order_no[-1] == 31  # port + 30 (docs/protocol.md 5)
    await st.wait_for(lambda: st.settlements_acknowledged == 1, 3)
    (settlement,) = messages_of(recorder, Settlement)
    assert (settlement.start_mode, settlement.card_id, settlement.port) == (0, 0x1234, 1)


async def test_card_swipe(server: tuple[DnyServer, Recorder], simulator: StationSimulator) -> None:
    (st,) = await online(simulator, station())
    reply = await st.swipe_card(1, 0x7A8D05DD)
    assert reply == CardReply(0x7A8D05DD, 0, 0, 10000, 1)


# -- commands -------------------------------------------------------------------------------


async def test_settings_commands_and_read_backs(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    (st,) = await online(simulator, station(speed=1.0))
    limits = Limits(7200, 1500.0, 250.0, 180.0)
    assert await dny.request(DEVICE, limits) == CommandResult(0x85, 0)
    assert await dny.request(DEVICE, Limits(7200, 2500.0)) == CommandResult(0x85, 1)
    assert await dny.request(DEVICE, ReadParameters(0x92)) == limits
    defaults = simulator_module._DEFAULT_SETTINGS
    assert await dny.request(DEVICE, ReadParameters(0x90)) == defaults[0x83]
    parameters = RunParameters1(0.5, 20, 30, 900, 1800, 120)
    assert await dny.request(DEVICE, parameters) == CommandResult(0x83, 0)
    assert await dny.request(DEVICE, ReadParameters(0x90)) == parameters
    assert await dny.request(DEVICE, ReadParameters(0x91)) == defaults[0x84]
    assert isinstance(defaults[0x84], RunParameters2)
    assert await dny.request(DEVICE, defaults[0x84]) == CommandResult(0x84, 0)
    keys = CardKeys(1, b"\x01" * 6, b"\x02" * 6)
    assert await dny.request(DEVICE, keys) == CommandResult(0x86, 0)
    assert await dny.request(DEVICE, ReadParameters(0x93)) == keys
    assert await dny.request(DEVICE, SetWorkMode(1)) == CommandResult(0x8D, 0)
    assert st.work_mode == 1
    assert await dny.request(DEVICE, ReadEeprom(0x10, 4)) == EepromReadReply(0, bytes(4))
    # An upgrade starts with packet 1: packet 3 out of the blue is refused (result 1,
    # nothing received yet).
    packet = FirmwarePacket(0xE0, 10, 3, b"\x00" * 200)
    assert await dny.request(DEVICE, packet) == FirmwareReply(0xE0, 1, 0)
    assert await dny.request(DEVICE, ClearMemory()) == CommandResult(0x88, 0)
    assert await dny.request(DEVICE, Locate(5)) == CommandResult(0x96, 0)
    # 0x81: no reply, the station reports instead.
    registers = len(messages_of(recorder, Register))
    assert await dny.request(DEVICE, QueryStatus(), expect_reply=False) is None
    await wait_until(lambda: len(messages_of(recorder, Register)) == registers + 1)
    assert [type(c) for c in st.commands][:3] == [Limits, Limits, ReadParameters]


async def test_other_commands_are_kept_or_refused_as_the_vendor_says(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    """Result 1 where docs/protocol.md 4 documents one; else the station keeps the value."""
    dny, _ = server
    (st,) = await online(simulator, station(speed=1.0))
    defaults = simulator_module._DEFAULT_SETTINGS
    # 0x83: the float percentage is 1-100, "1 = parameter error".
    bad = RunParameters1(0.5, 20, 0, 900, 1800, 120)
    assert await dny.request(DEVICE, bad) == CommandResult(0x83, 1)
    assert st.settings[0x83] == defaults[0x83]
    assert await dny.request(DEVICE, SetWorkMode(2)) == CommandResult(0x8D, 1)
    assert st.work_mode == 0
    assert await dny.request(DEVICE, Mute(1)) == CommandResult(0x97, 0)
    assert st.muted
    assert await dny.request(DEVICE, Mute(2)) == CommandResult(0x97, 1)
    assert st.muted
    assert await dny.request(DEVICE, SetQrCode(1, "https://a.example")) == CommandResult(0x8E, 0)
    assert (st.main_screen, st.qr_code) == (1, "https://a.example")
    assert await dny.request(DEVICE, SetQrCode(2, "x")) == CommandResult(0x8E, 1)
    assert st.qr_code == "https://a.example"
    assert await dny.request(DEVICE, TemporaryQrCode("pay")) == CommandResult(0x95, 0)
    assert st.temporary_qr_code == "pay"
    assert await dny.request(DEVICE, SetCardBillingMode(2)) == CommandResult(0x8F, 1)
    assert await dny.request(DEVICE, SetCardBillingMode(4)) == CommandResult(0x8F, 0)
    assert st.card_billing_mode == 4
    assert await dny.request(DEVICE, Locate(7)) == CommandResult(0x96, 0)
    assert st.located_s == [7]
    assert await dny.request(DEVICE, ClearMemory()) == CommandResult(0x88, 0)
    assert st.memory_clears == 1
    # 0x98: function 0 on an existing port only.
    assert await dny.request(DEVICE, LockerDoor(0, 2)) == CommandResult(0x98, 1)
    assert await dny.request(DEVICE, LockerDoor(1, 0)) == CommandResult(0x98, 1)
    assert await dny.request(DEVICE, LockerDoor(0, 1)) == CommandResult(0x98, 0)
    assert st.doors_opened == [1]


async def test_locker_release_ends_the_matching_order(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    """0x72 settles the order whose number it carries; the reply echoes the number."""
    dny, recorder = server
    (st,) = await online(simulator, station(speed=1.0, plugged=[0]))
    other = b"OTHER-0000000001"
    assert await dny.request(DEVICE, LockerRelease(0, ORDER)) == CommandResult(0x72, 1, ORDER)
    assert await dny.request(DEVICE, LockerRelease(5, ORDER)) == CommandResult(0x72, 1, ORDER)
    assert await dny.request(DEVICE, start(0)) == ChargeControlReply(0, ORDER, 0, 0)
    assert await dny.request(DEVICE, LockerRelease(0, other)) == CommandResult(0x72, 1, other)
    assert st.charging_ports() == [0]
    assert await dny.request(DEVICE, LockerRelease(0, ORDER)) == CommandResult(0x72, 0, ORDER)
    assert st.charging_ports() == []
    await wait_until(lambda: bool(messages_of(recorder, Settlement)))
    (settlement,) = messages_of(recorder, Settlement)
    assert (settlement.order_no, settlement.stop_reason) == (ORDER, StopReason.SERVER)


async def test_host_commands(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    """0x34 is kept, 0x33 counted, 0x32 restarts the module; a forced result does nothing."""
    dny, recorder = server
    host = simulator.add_host(0x09A00001, [], reboot_delay=30.0, speed=600.0)
    await simulator.start()
    await asyncio.wait_for(host.time_synced.wait(), 5)
    address = ChangeServerAddress(8888, 3, 1, "baidu.com")
    assert await dny.request("09A00001", address) == CommandResult(0x34, 0)
    assert host.server_address == address
    assert await dny.request("09A00001", ClearSubUpgrade()) == CommandResult(0x33, 0)
    assert host.sub_upgrade_clears == 1
    assert await dny.request("09A00001", ModuleReboot()) == CommandResult(0x32, 0)
    await host.wait_for(lambda: host.module_reboots == 1 and host.connections == 2)
    await wait_until(lambda: len(recorder.online("09A00001")) == 2)
    host.forced_results[0x33] = 1
    assert await dny.request("09A00001", ClearSubUpgrade()) == CommandResult(0x33, 1)
    assert host.sub_upgrade_clears == 1
    assert host.reboots == 0


async def test_misbehaving_station(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, _ = server
    # Shorter reply waits: this test waits for timeouts.
    dny._registry.config = dataclasses.replace(dny.config, reply_timeout=0.1)
    (st,) = await online(simulator, station(speed=1.0, plugged=[0]))
    st.forced_results = {0x85: 1, 0x82: 6}
    assert await dny.request(DEVICE, Limits(100, 100.0)) == CommandResult(0x85, 1)
    assert await dny.request(DEVICE, start(0)) == ChargeControlReply(6, ORDER, 0, 0)
    assert st.charging_ports() == []
    st.forced_results = {}
    st.drop_commands = 1  # the resend is answered
    assert await dny.request(DEVICE, Locate(1)) == CommandResult(0x96, 0)
    assert dny.stats.resends == 1
    st.ignore_commands = True
    with pytest.raises(CommandTimeoutError):
        await dny.request(DEVICE, Locate(1))
    st.ignore_commands = False
    with pytest.raises(CommandTimeoutError):  # a command the station does not know
        await dny.request(DEVICE, UnknownMessage(0x99, b""))


async def test_reboot_reconnects(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    (st,) = await online(simulator, station(reboot_delay=60.0))
    assert await dny.request(DEVICE, Reboot()) == CommandResult(0x87, 0)
    await st.wait_for(lambda: st.reboots == 1 and st.registered.is_set())
    assert st.connections == 2
    await wait_until(lambda: len(recorder.online(DEVICE)) == 2)
    assert recorder.offline(DEVICE) == [OfflineReason.CONNECTION_LOST]


# -- connections ----------------------------------------------------------------------------


async def test_disconnect_and_reconnect(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    (st,) = await online(simulator, station(speed=1.0, plugged=[0]))
    await st.disconnect()
    assert not st.is_connected
    await wait_until(lambda: recorder.offline(DEVICE) == [OfflineReason.CONNECTION_LOST])
    st.plug(1)  # while disconnected: the heartbeat is dropped
    assert st.frames_dropped == 0  # heartbeat_on_change only sends while connected
    st.send_heartbeat()
    assert st.frames_dropped == 1
    await asyncio.sleep(0.05)
    assert dny.link(DEVICE) is None  # no automatic redial after disconnect()
    await st.reconnect()
    await asyncio.wait_for(st.registered.wait(), 5)
    assert dny.link(DEVICE) is not None
    assert st.connections == 2


async def test_redial_after_the_server_drops_the_connection(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    (st,) = await online(simulator, station(reconnect_delay=30.0))  # 0.05 s at speed 600
    assert dny.disconnect(DEVICE)
    await wait_until(lambda: len(recorder.online(DEVICE)) == 2)
    assert recorder.offline(DEVICE) == [OfflineReason.MANUAL_DISCONNECT]
    assert st.connections == 2


async def test_redial_keeps_trying_while_the_server_is_down(
    fake: FakeServer, closing: Callable[[SimulatedStation], SimulatedStation]
) -> None:
    # A port nobody listens on: take a free one and close it.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    dead_port = probe.getsockname()[1]
    probe.close()
    st = closing(station(reconnect_delay=6.0))  # 0.01 s
    await st.connect("127.0.0.1", await fake.start())
    peer = await fake.peer()
    st._address = ("127.0.0.1", dead_port)
    await peer.close()
    await asyncio.sleep(0.1)  # several failed attempts
    assert st.connections == 1
    st._address = ("127.0.0.1", fake_port := fake._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    assert fake_port
    await fake.peer()
    await st.wait_for(lambda: st.connections == 2)


async def test_no_redial_without_auto_reconnect(
    fake: FakeServer, closing: Callable[[SimulatedStation], SimulatedStation]
) -> None:
    st = closing(station(auto_reconnect=False, reconnect_delay=6.0))
    await st.connect("127.0.0.1", await fake.start())
    peer = await fake.peer()
    await peer.close()
    await st.wait_for(lambda: not st.is_connected)
    await asyncio.sleep(0.05)
    assert fake.peers.empty()


async def test_reconnect_errors() -> None:
    lonely = station()
    with pytest.raises(RuntimeError):
        await lonely.reconnect()
    host = SimulatedHost(0x09A00001, [lonely])
    with pytest.raises(RuntimeError):
        await lonely.connect("127.0.0.1", 1)
    await host.close()
    with pytest.raises(ValueError):  # noqa: PT011
        SimulatedStation(PID, 17)
    with pytest.raises(ValueError):  # noqa: PT011
        SimulatedStation(PID, speed=0)


# -- against a byte-exact fake server -------------------------------------------------------


async def test_start_sequence_repeats_until_answered(
    fake: FakeServer, closing: Callable[[SimulatedStation], SimulatedStation]
) -> None:
    st = closing(station(speed=1.0, reply_timeout=0.03, heartbeat_interval=0.3))
    await st.connect("127.0.0.1", await fake.start())
    peer = await fake.peer()
    frames = [await peer.frame() for _ in range(6)]
    # docs/protocol.md 1 and 3: ICCID first, then register, time, heartbeat; unanswered register
    # and time request go again one heartbeat period later, each with a new message id.
    assert isinstance(peer.items[0], Iccid)
    assert peer.items[0].value == st.iccid
    assert [f.command for f in frames] == [0x20, 0x22, 0x21, 0x20, 0x22, 0x21]
    assert [f.message_id for f in frames] == [1, 2, 3, 4, 5, 6]
    assert frames[0].payload == Register(126, 2, 0, 0x21, 0, 0).encode()
    assert not st.registered.is_set()
    assert st.heartbeats_answered == 0
    # Answered now: no more registers.
    peer.send(Frame(PID, 4, 0x20, b"\x00"))
    peer.send(Frame(PID, 5, 0x22, (1_700_000_000).to_bytes(4, "little")))
    await asyncio.wait_for(st.time_synced.wait(), 5)
    assert st.registered.is_set()
    assert st.server_time == 1_700_000_000
    assert (await peer.frame()).command == 0x21  # the next period: a heartbeat only


async def test_settlement_resent_with_the_same_id_until_acknowledged(
    fake: FakeServer, closing: Callable[[SimulatedStation], SimulatedStation]
) -> None:
    st = closing(
        station(speed=1.0, settlement_resend_interval=0.05, heartbeat_interval=60, plugged=[0])
    )
    await st.connect("127.0.0.1", await fake.start())
    peer = await fake.peer()
    st.start_offline_charge(0)
    st.unplug(0)

    async def next_settlement() -> Frame:
        while (frame := await peer.frame()).command != 0x03:
            pass
        return frame

    first = await next_settlement()
    second = await next_settlement()
    assert second == first
    assert st.settlements_acknowledged == 0
    peer.send(Frame(PID, first.message_id, 0x03, b"\x01"))  # result 1: not acknowledged
    third = await next_settlement()
    assert third == first
    peer.send(Frame(PID, first.message_id, 0x03, b"\x00"))
    await st.wait_for(lambda: st.settlements_acknowledged == 1)
    assert st.pending_settlements == {}
    resent = sum(f.command == 0x03 for _, f in peer.received)
    await asyncio.sleep(0.12)  # two more resend periods: nothing more
    assert sum(f.command == 0x03 for _, f in peer.received) == resent


async def test_pending_settlement_goes_again_after_reconnecting(
    fake: FakeServer, closing: Callable[[SimulatedStation], SimulatedStation]
) -> None:
    st = closing(station(speed=1.0, reply_timeout=0.02, heartbeat_interval=60, plugged=[0]))
    await st.connect("127.0.0.1", await fake.start())
    peer = await fake.peer()
    st.start_offline_charge(0)
    st.unplug(0)
    (message_id,) = st.pending_settlements
    await st.reconnect()
    again = await fake.peer()
    await wait_until(lambda: any(f.command == 0x03 for _, f in again.received))
    resent = next(f for _, f in again.received if f.command == 0x03)
    assert resent.message_id == message_id
    assert any(f.command == 0x03 for _, f in peer.received)


async def test_link_keepalive_when_idle(
    fake: FakeServer, closing: Callable[[SimulatedStation], SimulatedStation]
) -> None:
    st = closing(station(speed=1.0, link_interval=0.03, heartbeat_interval=60, reply_timeout=60))
    await st.connect("127.0.0.1", await fake.start())
    peer = await fake.peer()
    await wait_until(lambda: peer.links >= 2)
    # Frames for another physical id are not this station's business.
    peer.send(Frame(0x04000001, 1, 0x20, b"\x00"))
    peer.send(Frame(PID, 9, 0x87, b""))
    await st.wait_for(lambda: st.received_commands[0x87] == 1)
    assert st.frames_received == 1


async def test_card_swipe_without_answer(
    fake: FakeServer, closing: Callable[[SimulatedStation], SimulatedStation]
) -> None:
    st = closing(station(speed=1.0, reply_timeout=0.05))
    await st.connect("127.0.0.1", await fake.start())
    with pytest.raises(TimeoutError):
        await st.swipe_card(0, 1)


# -- host gateways --------------------------------------------------------------------------


async def test_host_gateway_relays_sub_stations(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    subs = [station(0x04A00001 + index, heartbeat_interval=30.0) for index in range(2)]
    host = simulator.add_host(0x09A00001, subs, host_heartbeat_interval=60.0, speed=600.0)
    await simulator.start()
    await simulator.wait_registered(5)
    await asyncio.wait_for(host.time_synced.wait(), 5)
    links = [dny.link(device) for device in ("09A00001", "04A00001", "04A00002")]
    assert all(link is not None for link in links)
    assert len({link.conn_id for link in links if link}) == 1
    assert {link.iccid for link in links if link} == {host.iccid}
    host_messages = recorder.messages("09A00001")
    assert isinstance(host_messages[0], HostHeartbeat)
    assert host_messages[0].iccid == host.iccid
    assert isinstance(host_messages[1], HostTimeRequest)
    assert simulator.station("04A00002") is subs[1]
    assert await dny.request("04A00002", Locate(3)) == CommandResult(0x96, 0)
    assert await dny.request("09A00001", Locate(3)) == CommandResult(0x96, 0)
    assert await dny.request("09A00001", QueryStatus(), expect_reply=False) is None
    await wait_until(lambda: len(messages_of_host(recorder, HostHeartbeat)) >= 2)


def messages_of_host(recorder: Recorder, kind: type) -> list[Any]:
    return [m for m in recorder.messages("09A00001") if isinstance(m, kind)]


async def test_silent_sub_station_times_out_and_comes_back() -> None:
    recorder = Recorder()
    config = ServerConfig(host="127.0.0.1", port=0, heartbeat_timeout=0.4)
    dny = DnyServer(config, recorder)
    await dny.start()
    sim = StationSimulator("127.0.0.1", dny.port, speed=600.0)
    try:
        sub = station(0x04A00001, heartbeat_interval=30.0)
        other = station(0x04A00002, heartbeat_interval=30.0)
        sim.add_host(0x09A00001, [sub, other], host_heartbeat_interval=60.0)
        await sim.start()
        await sim.wait_registered(5)
        await sub.disconnect()
        assert not sub.is_connected
        await wait_until(lambda: recorder.offline("04A00001") == [OfflineReason.HEARTBEAT_TIMEOUT])
        assert dny.link("04A00002") is not None
        await sub.reconnect()
        await asyncio.wait_for(sub.registered.wait(), 5)
        assert len(recorder.online("04A00001")) == 2
    finally:
        await sim.stop()
        await dny.stop()


async def test_host_reboot_brings_every_sub_station_back(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    sub = station(0x04A00001)
    host = simulator.add_host(0x09A00001, [sub], reboot_delay=30.0, speed=600.0)
    await simulator.start()
    await simulator.wait_registered(5)
    assert await dny.request("09A00001", HostReboot()) == CommandResult(0x31, 0)
    await host.wait_for(lambda: host.reboots == 1 and sub.registered.is_set())
    assert host.connections == 2
    await wait_until(lambda: len(recorder.online("04A00001")) == 2)
    host.forced_results[0x31] = 1
    assert await dny.request("09A00001", HostReboot()) == CommandResult(0x31, 1)
    await asyncio.sleep(0.1)
    assert host.reboots == 1
    # A sub-station reboot re-registers it on the host's connection.
    assert await dny.request("04A00001", Reboot()) == CommandResult(0x87, 0)
    await sub.wait_for(lambda: sub.reboots == 1 and sub.registrations == 3)
    assert host.connections == 2


# -- fleet, order model and command line ----------------------------------------------------


async def test_simulator_fleet(server: tuple[DnyServer, Recorder]) -> None:
    dny, _ = server
    async with StationSimulator("127.0.0.1", dny.port, speed=600.0) as sim:
        assert sim.stations == []
    sim = StationSimulator("127.0.0.1", dny.port, speed=600.0, connect_concurrency=2)
    fleet = sim.add_stations(5, first_id=0x04000010, port_count=4, plugged=[0])
    assert [s.device_id for s in fleet] == [f"040000{n:02X}" for n in range(0x10, 0x15)]
    async with sim:
        await sim.wait_registered(5)
        assert len(dny.links()) == 5
        totals = sim.totals()
        assert totals["stations"] == totals["registered"] == 5
        assert totals["charging_ports"] == 0
        assert totals["frames_sent"] >= 5
        with pytest.raises(KeyError):
            sim.station("04FFFFFF")
    await wait_until(lambda: dny.links() == [])


def test_order_energy_model() -> None:
    order = SimulatedOrder(ORDER, 0, 1, 0, 36000, 180.0, 240.0, 0.0, 1.0)
    assert order.power_w(0) == 180.0
    assert order.power_w(RAMP_S / 2) == 210.0
    assert order.power_w(2 * RAMP_S) == 240.0
    assert order.energy_ws(RAMP_S) == pytest.approx(210.0 * RAMP_S)
    for t in (10.0, RAMP_S / 3, RAMP_S, 5 * RAMP_S):
        assert order.time_for_energy(order.energy_kwh(t)) == pytest.approx(t)
    flat = SimulatedOrder(ORDER, 0, 1, 0, 36000, 200.0, 200.0, 0.0, 1.0)
    assert flat.time_for_energy(flat.energy_kwh(100.0)) == pytest.approx(100.0)
    order.set_limit(True, 50)
    assert (order.energy_limit_kwh, order.time_limit_s) == (0.5, None)
    order.set_limit(False, 60)
    assert order.end(10.0) == (60.0, StopReason.PRESET_TIME)
    assert SimulatedPort(0, forced_status=0x0A).status == 0x0A


def test_command_line_builds_the_fleet() -> None:
    args = build_parser().parse_args(
        [
            *("--stations", "5", "--ports", "4", "--first-id", "04000100", "--autoplug"),
            *("--charge-fraction", "1", "--host-gateway", "2", "--speed", "10"),
        ]
    )
    sim = build_simulator(args)
    assert [host.device_id for host in sim.hosts] == ["09A00001", "09A00002"]
    assert [len(host.sub_stations) for host in sim.hosts] == [3, 2]
    assert all(state.plugged for st in sim.stations for state in st.ports)
    assert all(st.speed == 10 for st in sim.stations)
    direct = build_simulator(build_parser().parse_args(["--stations", "2"]))
    assert direct.hosts == []
    assert not any(state.plugged for st in direct.stations for state in st.ports)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--first-id", "nope"])


async def test_command_line_run(server: tuple[DnyServer, Recorder]) -> None:
    dny, _ = server
    args = build_parser().parse_args(
        ["--port", str(dny.port), "--stations", "3", "--speed", "600", "--report-every", "0.05"]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(simulator_module.run(args, stop))
    await wait_until(lambda: len(dny.links()) == 3)
    await asyncio.sleep(0.1)  # a totals report
    stop.set()
    totals = await task
    assert totals["stations"] == 3
    assert totals["registered"] == 0  # stopped: every session ended


async def test_start_survives_a_refused_connect() -> None:
    """The server is not up yet: a station that redials registers once it is; one that
    does not makes start() raise, after every station has tried."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sim = StationSimulator("127.0.0.1", port)
    redialing = sim.add_station(station(0x04A00001, auto_reconnect=True, reconnect_delay=0.05))
    giving_up = sim.add_station(station(0x04A00002, auto_reconnect=False))
    recorder = Recorder()
    dny = DnyServer(ServerConfig(host="127.0.0.1", port=port), recorder)
    try:
        with pytest.raises(ConnectionRefusedError):
            await sim.start()
        assert not redialing.is_connected
        await dny.start()
        await asyncio.wait_for(redialing.registered.wait(), 5)
        assert recorder.online("04A00001")
        assert not giving_up.is_connected
        assert recorder.online("04A00002") == []
    finally:
        await sim.stop()
        await dny.stop()
