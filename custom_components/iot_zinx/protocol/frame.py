"""The DNY frame: header, length, physical id, message id, command, payload, checksum.

docs/protocol.md section 2. All integers are little-endian on the wire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import re
from typing import Any
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


@dataclass(frozen=True, slots=True)
class Frame:
    """One DNY frame, decoded as far as the frame layer goes (the payload stays raw)."""

    physical_id: int
    message_id: int
    command: int
    payload: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.physical_id <= 0xFFFFFFFF:
            raise FrameError(f"physical id {self.physical_id} does not fit in 4 bytes")
        if not 0 <= self.message_id <= 0xFFFF:
            raise FrameError(f"message id {self.message_id} does not fit in 2 bytes")
        if not 0 <= self.command <= 0xFF:
            raise FrameError(f"command {self.command} does not fit in 1 byte")
        if len(self.payload) > MAX_PAYLOAD and not _long_frame_allowed(
            self.command, MIN_LENGTH + len(self.payload)
        ):
            raise FrameError(
                f"payload of {len(self.payload)} bytes exceeds the {MAX_PAYLOAD} a frame holds"
            )

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


class _BlankFrame:
    """A ``Frame`` under construction: the same slots, without the frozen ``__setattr__``.

    A frozen dataclass sets every field through object.__setattr__ and then runs
    __post_init__: about 0.8 us, more than finding and checking the frame takes. Values read
    from a checked frame are in range by construction, so the splitter fills a blank (plain
    attribute stores, which CPython specialises for slots) and hands it to ``Frame`` by
    ``__class__`` assignment, which the data model allows between classes of identical layout.
    What comes out is an ordinary ``Frame``; no blank outlives its construction. The same
    mechanism builds the messages (``messages/layout.py``, "Fast construction").
    """

    __slots__ = ("command", "message_id", "payload", "physical_id")


# Typed Any so that the hot path can store into it and re-class it without casts.
new_blank_frame: Callable[[], Any] = _BlankFrame
new_blank_frame().__class__ = Frame  # TypeError at import, not at the first frame, if it cannot


def frame_from_wire(physical_id: int, message_id: int, command: int, payload: bytes) -> Frame:
    """A ``Frame`` from values read off the wire, skipping the range checks.

    ``StreamSplitter.feed`` inlines these lines (a call costs as much as the stores).
    """
    frame = new_blank_frame()
    frame.physical_id = physical_id
    frame.message_id = message_id
    frame.command = command
    frame.payload = payload
    frame.__class__ = Frame
    built: Frame = frame
    return built


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
