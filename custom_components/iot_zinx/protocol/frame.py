"""The DNY frame: header, length, physical id, message id, command, payload, checksum.

docs/protocol.md section 2. All integers are little-endian on the wire.
"""

from __future__ import annotations

from collections.abc import Callable
import re
from struct import Struct
from typing import Any, NamedTuple, Self
from zlib import adler32

from .errors import FrameError

HEADER = b"DNY"
# The length field counts the bytes after it: physical id 4 + message id 2 + command 1 +
# payload + checksum 2. A frame is at most 256 bytes after the length field.
MIN_LENGTH = 9
MAX_LENGTH = 256
# Header 3 + length field 2.
PREFIX_SIZE = 5
MAX_PAYLOAD = MAX_LENGTH - MIN_LENGTH
# The one exception, downstream only: the old models' firmware packets (F8 stations, F9 the
# old RS-485 host) carry 256 data bytes after total u16 and current u16, as the vendor's
# upgrade tables and sections specify; the command's own rule wins over the cap above.
# Stations never send such frames, so the server's splitter keeps the cap (stream.py).
LONG_FRAME_COMMANDS = frozenset({0xF8, 0xF9})
LONG_MAX_PAYLOAD = 4 + 256
LONG_MAX_LENGTH = MIN_LENGTH + LONG_MAX_PAYLOAD

_PHYSICAL_ID_TEXT = re.compile(r"(?:0[xX])?([0-9A-Fa-f]{8})")


# Adler-32's low half is 1 + (byte sum mod 65521), computed in C several times faster than
# ``sum``. Up to 256 bytes the sum stays below 256 * 255 = 65280 < 65521, so it is exact.
_ADLER_EXACT = 256


def checksum(data: bytes | bytearray | memoryview) -> int:
    """Low 16 bits of the sum of every byte (header through payload).

    Beyond ``_ADLER_EXACT`` bytes (a long F8/F9 frame) the sum may pass 65521, where Adler-32
    wraps: ``sum`` there.
    """
    if len(data) <= _ADLER_EXACT:
        return (adler32(data) & 0xFFFF) - 1
    return sum(data) & 0xFFFF


def _long_frame_allowed(command: int, length: int) -> bool:
    """Whether a length field beyond ``MAX_LENGTH`` is an F8/F9 firmware packet's."""
    return command in LONG_FRAME_COMMANDS and MAX_LENGTH < length <= LONG_MAX_LENGTH


class _FrameFields(NamedTuple):
    physical_id: int
    message_id: int
    command: int
    payload: bytes = b""


class Frame(_FrameFields):
    """One DNY frame, decoded as far as the frame layer goes (the payload stays raw).

    A named tuple rather than a dataclass, so that the splitter builds each frame with one
    C call (see ``FRAME_FIELDS``): constructing it checks the ranges, the splitter's frames
    are checked by construction and skip that. Equal only to a ``Frame`` (not to a plain
    tuple of the same values).
    """

    __slots__ = ()

    def __new__(cls, physical_id: int, message_id: int, command: int, payload: bytes = b"") -> Self:
        """Check that every field fits the wire (``FrameError`` otherwise)."""
        if not 0 <= physical_id <= 0xFFFFFFFF:
            raise FrameError(f"physical id {physical_id} does not fit in 4 bytes")
        if not 0 <= message_id <= 0xFFFF:
            raise FrameError(f"message id {message_id} does not fit in 2 bytes")
        if not 0 <= command <= 0xFF:
            raise FrameError(f"command {command} does not fit in 1 byte")
        if len(payload) > MAX_PAYLOAD and not _long_frame_allowed(
            command, MIN_LENGTH + len(payload)
        ):
            raise FrameError(
                f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD} a frame holds"
            )
        return super().__new__(cls, physical_id, message_id, command, payload)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = _FrameFields.__hash__

    @property
    def device_id(self) -> str:
        """The 8-hex-digit text form used by the gateway and the events, e.g. ``04AB373B``."""
        return format_physical_id(self.physical_id)

    def encode(self) -> bytes:
        """The whole frame as it goes on the wire."""
        body = bytearray(HEADER)
        body += (len(self.payload) + MIN_LENGTH).to_bytes(2, "little")
        body += self.physical_id.to_bytes(4, "little")
        body += self.message_id.to_bytes(2, "little")
        body.append(self.command)
        body += self.payload
        body += checksum(body).to_bytes(2, "little")
        return bytes(body)


def decode_frame(data: bytes | bytearray | memoryview) -> Frame:
    """Decode exactly one whole frame; raise ``FrameError`` when any frame rule is broken."""
    raw = bytes(data)
    if raw[:3] != HEADER:
        raise FrameError("frame does not start with the DNY header")
    if len(raw) < PREFIX_SIZE + MIN_LENGTH:
        raise FrameError(f"frame of {len(raw)} bytes is shorter than the smallest frame")
    length = int.from_bytes(raw[3:5], "little")
    if not MIN_LENGTH <= length <= MAX_LENGTH and not _long_frame_allowed(raw[11], length):
        raise FrameError(f"length field {length} is outside {MIN_LENGTH}..{MAX_LENGTH}")
    if len(raw) != PREFIX_SIZE + length:
        raise FrameError(f"length field says {PREFIX_SIZE + length} bytes, got {len(raw)}")
    end = len(raw) - 2
    expected = checksum(raw[:end])
    received = int.from_bytes(raw[end:], "little")
    if expected != received:
        raise FrameError(f"checksum 0x{received:04X} does not match 0x{expected:04X}")
    return Frame(
        physical_id=int.from_bytes(raw[5:9], "little"),
        message_id=int.from_bytes(raw[9:11], "little"),
        command=raw[11],
        payload=raw[12:end],
    )


# FRAME_FIELDS[length](buf, offset): the physical id, message id, command and payload of a
# frame whose length field is ``length`` (9..LONG_MAX_LENGTH; smaller ones are never valid),
# read in one call from ``offset``, just after the length field: ready for ``Frame``.
FRAME_FIELDS: tuple[Callable[[bytes, int], tuple[Any, ...]], ...] = tuple(
    Struct(f"<IHB{max(0, length - MIN_LENGTH)}s").unpack_from
    for length in range(LONG_MAX_LENGTH + 1)
)


def frame_from_wire(physical_id: int, message_id: int, command: int, payload: bytes) -> Frame:
    """A ``Frame`` from values read off the wire, skipping the range checks.

    ``StreamSplitter.feed`` builds its frames the same way, from ``FRAME_FIELDS``' tuple.
    """
    return tuple.__new__(Frame, (physical_id, message_id, command, payload))


def format_physical_id(physical_id: int) -> str:
    """0x04AB373B -> ``"04AB373B"`` (the big-endian reading of the little-endian wire value)."""
    return f"{physical_id:08X}"


def parse_physical_id(text: str) -> int:
    """``"04AB373B"`` or ``"0x04ab373b"`` -> 0x04AB373B; ``ValueError`` for anything else."""
    match = _PHYSICAL_ID_TEXT.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a physical id of 8 hexadecimal digits")
    return int(match.group(1), 16)


def device_kind(physical_id: int) -> int:
    """The top byte: 03 single, 04 dual, 05 10-port, 06 16-port, 07 12-port, 09/0A host."""
    return (physical_id >> 24) & 0xFF


def qr_number(physical_id: int) -> int:
    """The decimal number printed under the station's QR code: the low 3 bytes."""
    return physical_id & 0xFFFFFF


def physical_id_from_qr(kind: int, number: int) -> int:
    """Rebuild a physical id from the device-kind byte and the QR number."""
    if not 0 <= kind <= 0xFF or not 0 <= number <= 0xFFFFFF:
        raise ValueError(f"kind {kind} / number {number} do not form a physical id")
    return (kind << 24) | number
