"""Firmware upgrades (protocol/firmware.py): packets byte by byte, and the routine against
the simulator over real TCP: resends on a negative reply and on a timeout, the limits, the
station going offline, and the station registering with its new version; the old models'
F8/F9 upgrades in long frames, and their restart at packet 1 on the device's request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from custom_components.iot_zinx.protocol.errors import CommandTimeoutError, StationOfflineError
from custom_components.iot_zinx.protocol.firmware import (
    HOST_F9,
    HOST_FA,
    MAX_RESTARTS,
    STATION_E0,
    STATION_F8,
    FirmwareReceiver,
    FirmwareRejectedError,
    FirmwareRestartError,
    FirmwareTimeoutError,
    UpgradeProgress,
    check_packet,
    host_method,
    packetize,
    send_firmware,
    station_method,
)
from custom_components.iot_zinx.protocol.frame import Frame, decode_frame
from custom_components.iot_zinx.protocol.messages import (
    CommandResult,
    FirmwarePacket,
    FirmwareReply,
    HostHeartbeat,
    HostUpgradeRequest,
    HostUpgradeStart,
    Register,
    UpgradeRequest,
)
from custom_components.iot_zinx.protocol.server import DnyServer, ServerConfig
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator

from .harness import Recorder, wait_until

pytestmark = pytest.mark.timeout(60)

PID = 0x04A228CD
DEVICE = "04A228CD"
HOST = "09A00001"
# 450 bytes: two whole packets and 50 bytes; byte sum 3 * 11175 = 33525 = 0x82F5.
IMAGE = bytes(range(150)) * 3
CHECK_HEX = "A1A2A3A4A5A6A7A8 F5820000 21 CE00"
# An old model's image: one whole 256-byte packet of 0xFF and a 44-byte remainder.
OLD_IMAGE = b"\xff" * 256 + bytes(range(44))


@pytest.fixture
async def server() -> AsyncGenerator[tuple[DnyServer, Recorder]]:
    recorder = Recorder()
    config = ServerConfig(
        host="127.0.0.1", port=0, reply_timeout=0.2, command_spacing=0.0, heartbeat_timeout=30
    )
    dny = DnyServer(config, recorder)
    await dny.start()
    yield dny, recorder
    await dny.stop()


@pytest.fixture
async def simulator_factory() -> AsyncGenerator[Any]:
    """A server of the given reply timeout and a simulator against it."""
    made: list[tuple[DnyServer, StationSimulator]] = []

    async def make(reply_timeout: float) -> tuple[DnyServer, Recorder, StationSimulator]:
        recorder = Recorder()
        config = ServerConfig(
            host="127.0.0.1",
            port=0,
            reply_timeout=reply_timeout,
            command_spacing=0.0,
            heartbeat_timeout=30,
        )
        dny = DnyServer(config, recorder)
        await dny.start()
        sim = StationSimulator("127.0.0.1", dny.port)
        made.append((dny, sim))
        return dny, recorder, sim

    yield make
    for dny, sim in made:
        await sim.stop()
        await dny.stop()


@pytest.fixture
async def simulator(server: tuple[DnyServer, Recorder]) -> AsyncGenerator[StationSimulator]:
    sim = StationSimulator("127.0.0.1", server[0].port)
    yield sim
    await sim.stop()


def _station(**options: Any) -> SimulatedStation:
    values: dict[str, Any] = {
        "firmware": 205,
        "device_type": 0x21,
        "heartbeat_interval": 60.0,
        "speed": 600.0,
        "reply_timeout": 600.0,
        "reboot_delay": 6.0,
        **options,
    }
    return SimulatedStation(PID, **values)


async def _online(simulator: StationSimulator, **options: Any) -> SimulatedStation:
    station = simulator.add_station(_station(**options))
    await simulator.start()
    await simulator.wait_registered(5)
    return station


def _registers(recorder: Recorder) -> list[Register]:
    return [m for m in recorder.messages(DEVICE) if isinstance(m, Register)]


# -- packets ----------------------------------------------------------------------------------


def test_models_take_the_vendors_upgrade_command() -> None:
    # Station document, 0x01 device types: the newer types E0, the old ones F8.
    assert station_method(0x21) is STATION_E0
    assert station_method(0x30) is STATION_E0
    assert station_method(0x02) is STATION_E0
    assert station_method(0x06) is STATION_F8
    assert station_method(None) is STATION_F8
    # Host document, 0x11 host types: 01 (or none) F9, the others FA.
    assert host_method(0x50) is HOST_FA
    assert host_method(0x01) is HOST_F9
    assert host_method(None) is HOST_F9
    # Packet size, resends ("2次重传" for the old ones) and the request that restarts them.
    assert [
        (m.command, m.packet_size, m.retries, m.request)
        for m in (STATION_E0, HOST_FA, STATION_F8, HOST_F9)
    ] == [(0xE0, 200, 3, None), (0xFA, 200, 3, None), (0xF8, 256, 2, 0x05), (0xF9, 256, 2, 0x15)]


def test_e0_packets_and_the_check_packet_byte_by_byte() -> None:
    packets = packetize(IMAGE, STATION_E0, device_type=0x21, version=206)
    assert [(p.command, p.total, p.current, len(p.data)) for p in packets] == [
        (0xE0, 4, 1, 200),
        (0xE0, 4, 2, 200),
        (0xE0, 4, 3, 50),  # the remainder, unpadded
        (0xE0, 4, 4, 200),  # the V8.5 check packet, zero-padded
    ]
    check = bytes.fromhex(CHECK_HEX)
    assert packets[3].data == check + bytes(200 - len(check))
    assert check_packet(IMAGE, 0x21, 206) == packets[3].data
    assert b"".join(p.data for p in packets[:3]) == IMAGE
    # The whole frame of packet 3: total 4, current 3, then the data (docs/protocol.md 4).
    frame = Frame(PID, 7, 0xE0, packets[2].encode()).encode()
    assert frame[:16] == bytes.fromhex("444E59 3F00 CD28A204 0700 E0 0400 0300")
    assert frame[16:-2] == IMAGE[400:]


def test_fa_packets_have_no_check_packet_and_f8_sizes() -> None:
    packets = packetize(IMAGE, HOST_FA)
    assert [(p.command, p.total, p.current, len(p.data)) for p in packets] == [
        (0xFA, 3, 1, 200),
        (0xFA, 3, 2, 200),
        (0xFA, 3, 3, 50),
    ]
    assert [len(p.data) for p in packetize(IMAGE, STATION_F8)] == [256, 194]
    with pytest.raises(ValueError, match="empty"):
        packetize(b"", STATION_E0)
    with pytest.raises(ValueError, match="65535"):
        packetize(bytes(200 * 0x10000), HOST_FA)


def test_receiver_checks_order_totals_sizes_and_the_check_packet() -> None:
    packets = packetize(IMAGE, STATION_E0, device_type=0x21, version=206)
    receiver = FirmwareReceiver(0x21, check_packet=True, packet_size=200)
    assert receiver.accept(packets[1]) == 1  # packet 2 before packet 1
    assert receiver.accept(packets[0]) == 0
    assert receiver.accept(packets[0]) == 0  # packet 1 again: the upgrade starts over
    assert receiver.received == 1
    assert receiver.accept(FirmwarePacket(0xE0, 5, 2, packets[1].data)) == 1  # other total
    assert receiver.accept(FirmwarePacket(0xE0, 4, 2, b"\x00" * 10)) == 1  # short, not last
    assert receiver.accept(packets[1]) == 0
    assert receiver.accept(packets[1]) == 0  # a resend whose reply was lost: taken already
    assert receiver.accept(packets[2]) == 0
    assert receiver.image is None
    assert receiver.accept(packets[3]) == 0
    assert (receiver.image, receiver.version, receiver.received) == (IMAGE, 206, 4)
    # Result 4 without a check packet, 2 for a wrong sum, 3 for another device type.
    cases = [
        (packetize(IMAGE, HOST_FA), 4),
        ([*packets[:3], FirmwarePacket(0xE0, 4, 4, check_packet(IMAGE[:-1], 0x21, 206))], 2),
        (packetize(IMAGE, STATION_E0, device_type=0x22, version=206), 3),
    ]
    for sequence, code in cases:
        receiver = FirmwareReceiver(0x21, check_packet=True, packet_size=200)
        results = [
            receiver.accept(FirmwarePacket(0xE0, p.total, p.current, p.data)) for p in sequence
        ]
        assert results[-1] == code
        assert receiver.image is None


# -- the routine against the simulator --------------------------------------------------------


async def test_upgrade_sends_every_packet_and_the_station_registers_the_new_version(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    station = await _online(simulator)
    packets = packetize(IMAGE, STATION_E0, device_type=0x21, version=206)
    seen: list[UpgradeProgress] = []
    result = await send_firmware(dny, DEVICE, packets, STATION_E0, progress=seen.append)
    assert result == UpgradeProgress(4, 4, 0)
    assert seen == [UpgradeProgress(n, 4, 0) for n in (1, 2, 3, 4)]
    assert station.commands == packets
    assert station.firmware_images == [IMAGE]
    await wait_until(lambda: [r.firmware for r in _registers(recorder)] == [205, 206])


async def test_negative_reply_resends_the_packet(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, _ = server
    station = await _online(simulator)
    station.refuse_packets[2] = 2
    packets = packetize(IMAGE, STATION_E0, device_type=0x21, version=206)
    result = await send_firmware(dny, DEVICE, packets, STATION_E0)
    assert result.resends == 2
    assert [c.current for c in station.commands] == [1, 2, 2, 2, 3, 4]
    assert station.commands[1] == station.commands[2] == packets[1]
    assert station.firmware_images == [IMAGE]


async def test_timeout_resends_the_packet(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, _ = server
    station = await _online(simulator)
    # Two copies dropped: the server's own resend (same message id) goes unanswered too,
    # so the routine sends the packet again under a new message id.
    station.drop_packets[3] = 2
    packets = packetize(IMAGE, STATION_E0, device_type=0x21, version=206)
    result = await send_firmware(dny, DEVICE, packets, STATION_E0)
    assert result.resends == 1
    assert [c.current for c in station.commands] == [1, 2, 3, 3, 3, 4]
    assert dny.stats.resends == 1
    assert station.firmware_images == [IMAGE]


async def test_resends_are_limited(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, _ = server
    station = await _online(simulator)
    station.refuse_packets[2] = 10
    packets = packetize(IMAGE, STATION_E0, device_type=0x21, version=206)
    with pytest.raises(FirmwareRejectedError) as refused:
        await send_firmware(dny, DEVICE, packets, STATION_E0, retries=2)
    assert (refused.value.packet, refused.value.code) == (2, 1)
    assert [c.current for c in station.commands] == [1, 2, 2, 2]
    station.commands.clear()
    station.drop_packets[1] = 10
    with pytest.raises(FirmwareTimeoutError) as unanswered:
        await send_firmware(dny, DEVICE, packets, STATION_E0, retries=1)
    assert unanswered.value.packet == 1
    assert [c.current for c in station.commands] == [1, 1, 1, 1]  # 2 requests, 2 copies each
    assert station.firmware_images == []


async def test_a_wrong_image_ends_the_upgrade_at_once(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, _ = server
    station = await _online(simulator)
    packets = packetize(IMAGE, STATION_E0, device_type=0x22, version=206)
    with pytest.raises(FirmwareRejectedError) as refused:
        await send_firmware(dny, DEVICE, packets, STATION_E0)
    assert (refused.value.packet, refused.value.code) == (4, 3)
    assert refused.value.description == "wrong device type"
    assert len(station.commands) == 4
    assert station.firmware == 205


async def test_offline_station_aborts_and_the_next_upgrade_restarts_at_packet_1(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    station = await _online(simulator)
    station.ignore_commands = True  # packet 1 goes unanswered while the station leaves
    station.auto_reconnect = False
    packets = packetize(IMAGE, STATION_E0, device_type=0x21, version=206)
    running = asyncio.ensure_future(send_firmware(dny, DEVICE, packets, STATION_E0))
    await wait_until(lambda: len(station.commands) == 1)
    await station.disconnect()
    with pytest.raises(StationOfflineError):
        await running
    station.ignore_commands = False
    await station.reconnect()
    await wait_until(lambda: dny.link(DEVICE) is not None)
    station.commands.clear()
    await send_firmware(dny, DEVICE, packets, STATION_E0)
    assert [c.current for c in station.commands] == [1, 2, 3, 4]
    await wait_until(lambda: [r.firmware for r in _registers(recorder)][-1:] == [206])


def test_a_whole_f8_frame_of_a_256_byte_packet() -> None:
    """Length 0x010D (beyond the generic 256) and the byte sum's low 16 bits, not Adler's."""
    packets = packetize(OLD_IMAGE, STATION_F8)
    assert [(p.command, p.total, p.current, len(p.data)) for p in packets] == [
        (0xF8, 2, 1, 256),
        (0xF8, 2, 2, 44),
    ]
    raw = Frame(PID, 7, 0xF8, packets[0].encode()).encode()
    assert len(raw) == 5 + 269
    assert raw[:16] == bytes.fromhex("444E59 0D01 CD28A204 0700 F8 0200 0100")
    assert raw[16:-2] == b"\xff" * 256
    # 235 (DNY) + 14 + 411 + 7 + 248 + 2 + 1 + 256 * 255 = 66198 = 0x10296: the sum wraps past
    # 65535 (and past Adler-32's 65521, which would give 0x02A5).
    assert raw[-2:] == bytes.fromhex("9602")
    assert decode_frame(raw) == Frame(PID, 7, 0xF8, packets[0].encode())
    # An F9 frame is the same but for the command byte (and so the checksum).
    f9 = Frame(PID, 7, 0xF9, packetize(OLD_IMAGE, HOST_F9)[0].encode()).encode()
    assert f9[11] == 0xF9
    assert f9[-2:] == bytes.fromhex("9702")


async def test_old_station_takes_f8_packets_and_registers_the_new_version(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    """F8: packet 1 starts it (no check packet); the station comes back with its new version."""
    dny, recorder = server
    station = await _online(simulator, device_type=0x06, firmware=215, legacy_heartbeat=True)
    packets = packetize(OLD_IMAGE, STATION_F8)
    seen: list[UpgradeProgress] = []
    result = await send_firmware(dny, DEVICE, packets, STATION_F8, progress=seen.append)
    assert result == UpgradeProgress(2, 2, 0)
    assert seen == [UpgradeProgress(1, 2, 0), UpgradeProgress(2, 2, 0)]
    assert station.commands == packets
    assert station.firmware_images == [OLD_IMAGE]
    await wait_until(lambda: [r.firmware for r in _registers(recorder)] == [215, 216])


async def test_f8_resends_a_packet_twice_then_fails(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    """ "如果2次重传，依然不成功，则需重新升级": two resends, then the upgrade fails."""
    dny, _ = server
    station = await _online(simulator, device_type=0x06, firmware=215)
    station.refuse_packets[2] = 3
    packets = packetize(OLD_IMAGE, STATION_F8)
    with pytest.raises(FirmwareRejectedError) as refused:
        await send_firmware(dny, DEVICE, packets, STATION_F8)
    assert (refused.value.packet, refused.value.code) == (2, 1)
    assert [c.current for c in station.commands] == [1, 2, 2, 2]
    assert station.firmware_images == []
    # The next upgrade starts again at packet 1, and the third refusal is the last one.
    station.commands.clear()
    result = await send_firmware(dny, DEVICE, packets, STATION_F8)
    assert result.resends == 0
    assert [c.current for c in station.commands] == [1, 2]
    assert station.firmware_images == [OLD_IMAGE]


async def test_the_stations_0x05_restarts_the_f8_upgrade_at_packet_1(
    simulator_factory: Any,
) -> None:
    """ "当设备发05指令时，需要从第一包开始重发": the awaited packet is abandoned at once."""
    # A long reply timeout: nothing but the 0x05 can move the routine past packet 2.
    dny, recorder, simulator = await simulator_factory(reply_timeout=30.0)
    station = await _online(simulator, device_type=0x06, firmware=215)
    station.request_at_packets[2] = 1  # packet 2 is answered by a 0x05, not an F8 reply
    packets = packetize(OLD_IMAGE + OLD_IMAGE, STATION_F8)
    restart = asyncio.Event()
    seen: list[UpgradeProgress] = []
    running = asyncio.ensure_future(
        send_firmware(dny, DEVICE, packets, STATION_F8, progress=seen.append, restart=restart)
    )
    await wait_until(lambda: any(isinstance(m, UpgradeRequest) for m in recorder.messages(DEVICE)))
    restart.set()  # what the integration does on the station's 0x05 (firmware.py)
    result = await running
    assert result == UpgradeProgress(3, 3, 0, 1)
    assert [c.current for c in station.commands] == [1, 2, 1, 2, 3]
    assert station.commands[2:] == packets
    assert seen[:2] == [UpgradeProgress(1, 3, 0), UpgradeProgress(0, 3, 0, 1)]
    assert station.firmware_images == [OLD_IMAGE + OLD_IMAGE]
    assert not restart.is_set()


async def test_a_device_that_keeps_asking_ends_the_upgrade() -> None:
    """Each request restarts at packet 1, up to MAX_RESTARTS times; then the upgrade stops."""
    restart = asyncio.Event()

    class _Asking(_Replies):
        async def request(self, device_id: str, command: Any, *, expect_reply: bool = True) -> Any:
            self.sent.append(command)
            restart.set()  # the device asks again while the packet is on its way
            await asyncio.Event().wait()  # and never answers it

    packets = packetize(OLD_IMAGE, STATION_F8)
    sender = _Asking()
    with pytest.raises(FirmwareRestartError) as err:
        await send_firmware(sender, DEVICE, packets, STATION_F8, restart=restart)
    assert err.value.restarts == MAX_RESTARTS
    assert sender.sent == [packets[0]] * (MAX_RESTARTS + 1)


async def test_old_host_takes_f9_packets_and_its_0x15_is_answered(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    """F9: no FA start, 256-byte packets from packet 1; 0x15 gets its result byte."""
    dny, recorder = server
    host = simulator.add_host(
        0x09A00001, [], firmware=215, host_type=0x01, reboot_delay=6.0, speed=600.0
    )
    await simulator.start()
    await wait_until(lambda: dny.link(HOST) is not None)
    host.request_upgrade()
    await wait_until(lambda: host.received_commands[0x15] == 1)
    assert HostUpgradeRequest() in recorder.messages(HOST)
    packets = packetize(OLD_IMAGE, HOST_F9)
    await send_firmware(dny, HOST, packets, HOST_F9)
    assert host.commands == packets
    assert host.firmware_images == [OLD_IMAGE]
    await wait_until(
        lambda: (
            [m.firmware for m in recorder.messages(HOST) if isinstance(m, HostHeartbeat)][-1:]
            == [216]
        )
    )


async def test_host_upgrade_starts_with_an_empty_fa(
    server: tuple[DnyServer, Recorder], simulator: StationSimulator
) -> None:
    dny, recorder = server
    host = simulator.add_host(
        0x09A00001, [], firmware=301, host_type=0x50, reboot_delay=6.0, speed=600.0
    )
    host.next_firmware = 302
    await simulator.start()
    await wait_until(lambda: dny.link(HOST) is not None)
    host.drop_commands = 2  # the first start goes unanswered, and the server's resend of it
    packets = packetize(IMAGE, HOST_FA)
    await send_firmware(dny, HOST, packets, HOST_FA)
    assert host.commands == [HostUpgradeStart()] * 3 + packets
    assert host.firmware_images == [IMAGE]
    await wait_until(
        lambda: (
            [m.firmware for m in recorder.messages(HOST) if isinstance(m, HostHeartbeat)][-1:]
            == [302]
        )
    )


class _Replies:
    """A sender answering from a script: a reply, or an exception to raise."""

    def __init__(self, *replies: object) -> None:
        self.replies = list(replies)
        self.sent: list[object] = []

    async def request(self, device_id: str, command: Any, *, expect_reply: bool = True) -> Any:
        self.sent.append(command)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


async def test_odd_replies_count_as_a_bad_packet_and_a_silent_host_ends_the_start() -> None:
    packets = packetize(IMAGE[:200], HOST_FA)
    # A reply of another kind is a bad packet: resent, then acknowledged.
    sender = _Replies(CommandResult(0xFA, 0), FirmwareReply(0xFA, 0, 1))
    result = await send_firmware(sender, HOST, packets, STATION_E0)
    assert result == UpgradeProgress(1, 1, 1)
    assert sender.sent == [packets[0], packets[0]]
    # The FA start: a non-zero result and a timeout are tried again, then it fails.
    timeout = CommandTimeoutError(HOST, 0xFA, 1)
    sender = _Replies(FirmwareReply(0xFA, 1, 0), timeout)
    with pytest.raises(FirmwareTimeoutError) as err:
        await send_firmware(sender, HOST, packets, HOST_FA, retries=1)
    assert err.value.packet == 0
    assert sender.sent == [HostUpgradeStart(), HostUpgradeStart()]
