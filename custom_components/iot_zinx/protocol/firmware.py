"""Firmware upgrades: which command a model takes, image -> packets, and the sending routine.

docs/protocol.md 4 "Firmware upgrade" and docs/firmware.md. The vendor's tables (station
document, 0x01 device types; host document, 0x11 host types) give each model its upgrade
command, packet size and the command with which the device asks for an upgrade:

* stations of the newer types take **E0**, 200-byte packets, followed by the V8.5 *check
  packet* (the image's byte sum, the device type and the new version);
* hosts other than the old RS-485 model take **FA**: an empty FA first puts the host into its
  upgrade state (its reply also asks for packet 1), then 200-byte packets, no check packet;
* the old models take **F8** (stations) or **F9** (the old RS-485 host) with 256-byte
  packets, in frames longer than the generic cap (frame.py ``LONG_FRAME_COMMANDS``). The
  server starts with packet 1; a packet may be resent twice ("如果2次重传，依然不成功，则需
  重新升级"), and when the device asks again (0x05 station, 0x15 host) the image goes
  again from packet 1.

Packets are numbered from 1; the last one carries the image's remainder unpadded (the
document pads only the check packet). ``send_firmware`` sends them one by one over
``DnyServer.request`` (which itself resends a packet once after its reply timeout) and
resends a packet after a negative reply (result 1) or a timeout, at most the method's
``retries`` times (E0/FA: "30 s without a reply: resend the packet, up to 3 times"; F8/F9:
twice). Every other non-zero result ends the upgrade. ``FirmwareReceiver`` is the station's
side of the same rules, for the simulator and the tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from .errors import CommandError, CommandTimeoutError
from .messages import (
    DownstreamCommand,
    FirmwarePacket,
    FirmwareReply,
    HostUpgradeStart,
    StationReply,
)

PACKET_SIZE: Final = 200
OLD_PACKET_SIZE: Final = 256
# The vendor: resend a packet that got no reply, "up to 3 times" (E0, FA); F8 and F9: "if
# it still fails after 2 resends, the upgrade must start again".
DEFAULT_RETRIES: Final = 3
OLD_RETRIES: Final = 2
# How often a device's request (0x05 / 0x15) may restart an upgrade at packet 1 before the
# install gives up: a device that keeps asking is not taking the image.
MAX_RESTARTS: Final = 3
CHECK_HEADER: Final = bytes(range(0xA1, 0xA9))
RESULT_OK: Final = 0
RESULT_RESEND: Final = 1

# The station document's 4.8.1 result codes (F8 and FA know only 0 and 1).
RESULTS: Final[dict[int, str]] = {
    0: "next packet",
    1: "packet error, resend",
    2: "image checksum error",
    3: "wrong device type",
    4: "no check packet",
    5: "device type of packet 0 not accepted, upgrade refused",
}

# The 0x01 device-type table: the types whose upgrade command is E0 (200-byte packets). The
# others (01/03/04/06/07/70/71 and stations that send none) are the old F8 models.
E0_DEVICE_TYPES: Final = frozenset(
    {0x02, 0x05, 0x08, 0x09, 0x0A, 0x0B, 0x10, 0x14, *range(0x20, 0x2A), 0x30}
)
# The 0x11 host-type table: 01 (or none) is the old RS-485 host (F9), the others take FA.
F9_HOST_TYPES: Final = frozenset({0x01})


class FirmwareError(CommandError):
    """A firmware upgrade could not be carried out."""

    def __init__(self, device_id: str, message: str) -> None:
        super().__init__(f"station {device_id}: {message}")
        self.device_id = device_id


class FirmwareTimeoutError(FirmwareError):
    """A packet (0: the FA start) got no reply, nor to its ``retries`` resends."""

    def __init__(self, device_id: str, packet: int) -> None:
        super().__init__(device_id, f"no reply to firmware packet {packet}")
        self.packet = packet


class FirmwareRejectedError(FirmwareError):
    """The station answered a packet with a result that ends the upgrade (or too many 1s)."""

    def __init__(self, device_id: str, packet: int, code: int) -> None:
        self.description = RESULTS.get(code, "unknown result")
        super().__init__(
            device_id, f"packet {packet} refused with result {code} ({self.description})"
        )
        self.packet = packet
        self.code = code


class FirmwareRestartError(FirmwareError):
    """The device asked for its upgrade again (0x05 / 0x15) more than ``MAX_RESTARTS`` times."""

    def __init__(self, device_id: str, restarts: int) -> None:
        super().__init__(device_id, f"upgrade restarted at packet 1 {restarts} times, stopped")
        self.restarts = restarts


@dataclass(frozen=True, slots=True)
class UpgradeMethod:
    """How one model is upgraded: the command, its packet size, the extras around it."""

    command: int
    packet_size: int
    check_packet: bool  # append the V8.5 check packet (E0 only)
    start: bool  # an empty command first puts the device into its upgrade state (FA)
    retries: int  # resends of one packet before the upgrade fails
    # The device's own request (F8: 0x05, F9: 0x15), on which the image goes again from
    # packet 1; None where no upstream command restarts it.
    request: int | None


STATION_E0: Final = UpgradeMethod(
    0xE0, PACKET_SIZE, check_packet=True, start=False, retries=DEFAULT_RETRIES, request=None
)
STATION_F8: Final = UpgradeMethod(
    0xF8, OLD_PACKET_SIZE, check_packet=False, start=False, retries=OLD_RETRIES, request=0x05
)
HOST_FA: Final = UpgradeMethod(
    0xFA, PACKET_SIZE, check_packet=False, start=True, retries=DEFAULT_RETRIES, request=None
)
HOST_F9: Final = UpgradeMethod(
    0xF9, OLD_PACKET_SIZE, check_packet=False, start=False, retries=OLD_RETRIES, request=0x15
)


def station_method(device_type: int | None) -> UpgradeMethod:
    """A station's upgrade by its register's device type (the 0x01 table)."""
    return STATION_E0 if device_type in E0_DEVICE_TYPES else STATION_F8


def host_method(host_type: int | None) -> UpgradeMethod:
    """A host gateway's upgrade by its 0x11 host type; an unknown type is the old host."""
    return HOST_F9 if host_type is None or host_type in F9_HOST_TYPES else HOST_FA


def check_packet(image: bytes, device_type: int, version: int) -> bytes:
    """The V8.5 check packet: header, the image's byte sum (u32), device type, version.

    Always ``PACKET_SIZE`` bytes, zero-padded; it counts in the packet total.
    """
    body = (
        CHECK_HEADER
        + (sum(image) & 0xFFFFFFFF).to_bytes(4, "little")
        + bytes([device_type])
        + version.to_bytes(2, "little")
    )
    return body.ljust(PACKET_SIZE, b"\x00")


def packetize(
    image: bytes, method: UpgradeMethod, *, device_type: int = 0, version: int = 0
) -> list[FirmwarePacket]:
    """The image as numbered packets (from 1), with the check packet when the method has one."""
    if not image:
        raise ValueError("empty firmware image")
    size = method.packet_size
    chunks = [image[offset : offset + size] for offset in range(0, len(image), size)]
    if method.check_packet:
        chunks.append(check_packet(image, device_type, version))
    total = len(chunks)
    if total > 0xFFFF:
        raise ValueError(f"firmware image of {len(image)} bytes needs more than 65535 packets")
    return [
        FirmwarePacket(method.command, total, number, chunk)
        for number, chunk in enumerate(chunks, start=1)
    ]


class CommandSender(Protocol):
    """What the routine needs of ``DnyServer``."""

    async def request(
        self, device_id: str, command: DownstreamCommand, *, expect_reply: bool = True
    ) -> StationReply | None:
        """Send a command and return the station's reply."""


@dataclass(frozen=True, slots=True)
class UpgradeProgress:
    """Where an upgrade stands: packets acknowledged of the total, resends so far."""

    acknowledged: int
    total: int
    resends: int
    restarts: int = 0  # times the device's request sent the image again from packet 1


type ProgressCallback = Callable[[UpgradeProgress], None]


async def send_firmware(
    sender: CommandSender,
    device_id: str,
    packets: Sequence[FirmwarePacket],
    method: UpgradeMethod,
    *,
    retries: int | None = None,
    progress: ProgressCallback | None = None,
    restart: asyncio.Event | None = None,
) -> UpgradeProgress:
    """Send every packet in order; the final progress once the last one is acknowledged.

    ``retries`` defaults to the method's. ``restart`` is set by the caller when the device
    sends its request (``method.request``): the packet awaited is abandoned and the image
    goes again from packet 1, at most ``MAX_RESTARTS`` times (then
    ``FirmwareRestartError``). Raises ``FirmwareRejectedError`` for a result other than 0
    and 1 (or a packet refused more than ``retries`` times), ``FirmwareTimeoutError`` for a
    packet unanswered more than ``retries`` times and ``StationOfflineError`` at once when
    the station goes away (the caller restarts from packet 1: a station keeps no
    half-received image across a restart).
    """
    retries = method.retries if retries is None else retries
    resends = restarts = attempts = index = 0
    total = len(packets)
    if method.start:
        await _start(sender, device_id, retries)
    while index < total:
        packet = packets[index]
        code = await _send_packet(sender, device_id, packet, restart)
        if restart is not None and restart.is_set():
            restart.clear()
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise FirmwareRestartError(device_id, MAX_RESTARTS)
            index = attempts = 0
            if progress is not None:
                progress(UpgradeProgress(0, total, resends, restarts))
            continue
        if code == RESULT_OK:
            index += 1
            attempts = 0
            if progress is not None:
                progress(UpgradeProgress(packet.current, total, resends, restarts))
            continue
        if code is not None and code != RESULT_RESEND:
            raise FirmwareRejectedError(device_id, packet.current, code)
        attempts += 1
        if attempts > retries:
            if code is None:
                raise FirmwareTimeoutError(device_id, packet.current)
            raise FirmwareRejectedError(device_id, packet.current, code)
        resends += 1
    return UpgradeProgress(total, total, resends, restarts)


async def _send_packet(
    sender: CommandSender,
    device_id: str,
    packet: FirmwarePacket,
    restart: asyncio.Event | None,
) -> int | None:
    """The packet's result code; None when the station did not answer (nor the resend).

    When ``restart`` is set meanwhile the wait is abandoned; the caller sees the event.
    """
    try:
        request = sender.request(device_id, packet)
        reply = await (request if restart is None else _unless_set(request, restart))
    except CommandTimeoutError:
        return None
    if not isinstance(reply, FirmwareReply):
        return RESULT_RESEND  # an undecodable reply counts as a bad packet
    return reply.result


async def _unless_set(
    request: Awaitable[StationReply | None], event: asyncio.Event
) -> StationReply | None:
    """The request's reply, or None as soon as ``event`` is set (the request is cancelled)."""
    task = asyncio.ensure_future(request)
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            # Let the request's own clean-up (its channel, its lock) run before the next one.
            await asyncio.wait((task,))
    if task.cancelled():
        return None
    return task.result()


async def _start(sender: CommandSender, device_id: str, retries: int) -> None:
    """FA: the empty command, repeated while the host answers non-zero (host doc 4.4)."""
    for _ in range(retries + 1):
        try:
            reply = await sender.request(device_id, HostUpgradeStart())
        except CommandTimeoutError:
            continue
        if isinstance(reply, FirmwareReply) and reply.result == RESULT_OK:
            return
    raise FirmwareTimeoutError(device_id, 0)


class FirmwareReceiver:
    """A station's side of an upgrade: takes packets in order, checks, assembles the image.

    ``accept`` returns the result code to answer. Packet 1 (re)starts an upgrade; any other
    packet must follow the last one with the same total. With ``check_packet`` the last
    packet must be the V8.5 check packet, whose sum and device type must match (results 4,
    2 and 3). ``image`` and ``version`` are set once the last packet was accepted.
    """

    def __init__(self, device_type: int, *, check_packet: bool, packet_size: int) -> None:
        """Receive for a device of ``device_type``."""
        self.device_type = device_type
        self.check_packet = check_packet
        self.packet_size = packet_size
        self.received = 0  # the last packet accepted
        self.total = 0
        self.image: bytes | None = None
        self.version: int | None = None
        self._chunks: list[bytes] = []

    def accept(self, packet: FirmwarePacket) -> int:
        """Take one packet; the result code for the reply (``received`` goes in it too)."""
        if packet.current == 1:
            self.received, self.total, self._chunks = 0, packet.total, []
            self.image = self.version = None
        elif packet.current == self.received and packet.total == self.total:
            return RESULT_OK  # a resend of a packet whose reply was lost: taken already
        if (
            packet.current != self.received + 1
            or packet.total != self.total
            or len(packet.data) > self.packet_size
            or (packet.current < self._last_data and len(packet.data) != self.packet_size)
        ):
            return RESULT_RESEND
        if packet.current == packet.total:
            return self._finish(packet.data)
        self._chunks.append(packet.data)
        self.received = packet.current
        return RESULT_OK

    @property
    def _last_data(self) -> int:
        """The number of the image's last packet, the one that may be short."""
        return self.total - 1 if self.check_packet else self.total

    def _finish(self, last: bytes) -> int:
        if not self.check_packet:
            self._chunks.append(last)
            self.image = b"".join(self._chunks)
            self.received = self.total
            return RESULT_OK
        if last[: len(CHECK_HEADER)] != CHECK_HEADER:
            return 4
        image = b"".join(self._chunks)
        offset = len(CHECK_HEADER)
        if int.from_bytes(last[offset : offset + 4], "little") != sum(image) & 0xFFFFFFFF:
            return 2
        if last[offset + 4] != self.device_type:
            return 3
        self.image = image
        self.version = int.from_bytes(last[offset + 5 : offset + 7], "little")
        self.received = self.total
        return RESULT_OK
