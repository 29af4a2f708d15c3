"""Split the byte stream of one TCP connection into frames, ICCIDs, keepalives and garbage.

docs/protocol.md section 1: after connecting, a module sends its SIM's ICCID (20 ASCII digits),
then DNY frames (section 2) that TCP glues together or splits anywhere, and the 4 bytes
``link`` after 30 s of silence. Cellular modules also leak noise (AT responses, line
garbage), so anything else is reported as ``Garbage`` and the splitter resynchronises on the
next ``DNY`` header whose length and checksum are valid.

This is the per-byte hot path of the server: the bytes are never walked in Python. Candidate
positions are found with ``bytes.startswith`` and one compiled regular expression, headers
are read with two byte reads, checksums with zlib's Adler-32 (see ``_checksum_ok``), and each
frame is built inline from one ``struct`` call without re-checking its ranges (as
``frame.frame_from_wire`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from zlib import adler32

from .frame import (
    FRAME_FIELDS,
    HEADER,
    LONG_FRAME_COMMANDS,
    LONG_MAX_LENGTH,
    MAX_LENGTH,
    MIN_LENGTH,
    PREFIX_SIZE,
    Frame,
    checksum,
)

ICCID_LENGTH = 20
LINK = b"link"
# A buffer must hold an ICCID prefix (19 digits) and the smallest frames (14 bytes).
MIN_BUFFER = 32
DEFAULT_MAX_BUFFER = 4096

# The next position where a recognisable item could start. The three alternatives cannot
# overlap ("D" and "l" are not digits), so the leftmost match is the only candidate.
_CANDIDATE = re.compile(rb"DNY|link|[0-9]{%d}" % ICCID_LENGTH)
# The command byte's offset in a frame (docs/protocol.md section 2).
_COMMAND_OFFSET = 11
_SMALLEST_FRAME = PREFIX_SIZE + MIN_LENGTH
_ZERO, _NINE = b"09"


@dataclass(frozen=True, slots=True)
class Iccid:
    """The SIM card's ICCID a module sends once right after connecting (docs/protocol.md 1)."""

    value: str


@dataclass(frozen=True, slots=True)
class LinkKeepalive:
    """The ``link`` keepalive of an idle module (docs/protocol.md 1); it needs no reply.

    Not to be confused with ``server.StationLink``, the server's view of a station's
    connection.
    """


@dataclass(frozen=True, slots=True)
class Garbage:
    """A contiguous run of bytes that belong to no item, kept for counting and logging."""

    data: bytes


# A plain union rather than a ``type`` statement, so that it also works with isinstance().
StreamItem = Frame | Iccid | LinkKeepalive | Garbage

_LINK_ITEM = LinkKeepalive()


class StreamSplitter:
    """Reassemble one connection's byte stream into ``StreamItem``s.

    ``feed`` returns the items completed by the new bytes, in stream order. Bytes that may
    still become an item (a frame cut by TCP, a prefix of ``DNY``, ``link`` or an ICCID) wait
    for the next call; everything that cannot is returned at once as one ``Garbage`` per
    contiguous run. The bytes held between calls never exceed ``max_buffer``: a header
    announcing a frame larger than that (or than ``MAX_LENGTH``) is garbage.

    ``downstream=True`` splits what the server sends (the simulator's side): there the old
    models' F8/F9 firmware packets may reach ``LONG_MAX_LENGTH`` (frame.py). The server's
    own splitter keeps the cap, since stations never send such frames.
    """

    __slots__ = (
        "_long_max_length",
        "_max_length",
        "_pending",
        "bad_frames",
        "frames",
        "skipped_bytes",
    )

    def __init__(self, max_buffer: int = DEFAULT_MAX_BUFFER, *, downstream: bool = False) -> None:
        if max_buffer < MIN_BUFFER:
            raise ValueError(f"max_buffer {max_buffer} is below the minimum of {MIN_BUFFER}")
        # The largest length field accepted: docs/protocol.md section 2 caps it at 256, and a
        # frame that could not fit in the buffer must not be waited for.
        self._max_length = min(MAX_LENGTH, max_buffer - PREFIX_SIZE)
        # The same for F8/F9 frames; equal to _max_length (no long frames) upstream.
        self._long_max_length = (
            min(LONG_MAX_LENGTH, max_buffer - PREFIX_SIZE) if downstream else self._max_length
        )
        self._pending = b""
        self.frames = 0
        self.bad_frames = 0
        self.skipped_bytes = 0

    @property
    def buffered(self) -> int:
        """Bytes held back, waiting for the rest of an item."""
        return len(self._pending)

    def feed(self, data: bytes | bytearray | memoryview) -> list[StreamItem]:
        """Add received bytes; return the items they complete."""
        buf = self._pending + data if self._pending else bytes(data)
        end = len(buf)
        max_length = self._max_length
        items: list[StreamItem] = []
        append = items.append
        new_tuple = tuple.__new__
        frame_fields = FRAME_FIELDS
        frames = 0
        pos = 0
        garbage_start = -1  # start of the garbage run being collected, -1 when none
        while pos < end:
            if buf.startswith(HEADER, pos):
                if end - pos < PREFIX_SIZE:
                    break  # the length field has not arrived yet
                length = buf[pos + 3] | buf[pos + 4] << 8
                if MIN_LENGTH <= length <= max_length:
                    stop = pos + PREFIX_SIZE + length
                    if stop <= end:
                        check = stop - 2
                        # 1 + the byte sum, exactly (see _checksum_ok); inlined, hot path.
                        total = adler32(buf[pos:check]) & 0xFFFF
                        if total == 1 + (buf[check] | buf[check + 1] << 8):
                            if garbage_start >= 0:
                                append(self._garbage(buf[garbage_start:pos]))
                                garbage_start = -1
                            # frame.frame_from_wire, inlined, with the fields read in one call.
                            append(new_tuple(Frame, frame_fields[length](buf, pos + PREFIX_SIZE)))
                            frames += 1
                            pos = stop
                            continue
                    elif not self._frame_within(buf, pos + 1, end):
                        # A frame cut by TCP: wait for the rest. Unless a whole valid frame
                        # already follows inside the announced length, which means this
                        # header is noise (e.g. a corrupted length field) and waiting for
                        # it would hold back real frames, and command replies, for minutes.
                        break
                elif max_length < length <= self._long_max_length:
                    # Off the hot path: only a downstream splitter gets here (F8/F9 packets).
                    if end - pos < _SMALLEST_FRAME:
                        break  # the command byte, which decides, has not arrived yet
                    stop = pos + PREFIX_SIZE + length
                    if buf[pos + _COMMAND_OFFSET] in LONG_FRAME_COMMANDS:
                        if stop <= end:
                            check = stop - 2
                            if checksum(buf[pos:check]) == buf[check] | buf[check + 1] << 8:
                                if garbage_start >= 0:
                                    append(self._garbage(buf[garbage_start:pos]))
                                    garbage_start = -1
                                fields = frame_fields[length](buf, pos + PREFIX_SIZE)
                                append(new_tuple(Frame, fields))
                                frames += 1
                                pos = stop
                                continue
                        elif not self._frame_within(buf, pos + 1, end):
                            break
                # Impossible length, bad checksum, or a header that valid frames overrun:
                # skip its "D" only, since a real header may start inside what it announced.
                self.bad_frames += 1
                if garbage_start < 0:
                    garbage_start = pos
                pos += 1
                continue
            if buf.startswith(LINK, pos):
                if garbage_start >= 0:
                    append(self._garbage(buf[garbage_start:pos]))
                    garbage_start = -1
                append(_LINK_ITEM)
                pos += len(LINK)
                continue
            match = _CANDIDATE.search(buf, pos)
            if match is None:
                # Nothing complete is left. Keep back a tail that may still grow into an
                # item; the bytes before it are garbage.
                keep = self._tail_start(buf, pos, end)
                if keep > pos and garbage_start < 0:
                    garbage_start = pos
                pos = keep
                break
            start = match.start()
            if start > pos:
                if garbage_start < 0:
                    garbage_start = pos
                pos = start
                continue  # DNY or link: handled at the top of the loop
            # 20 ASCII digits right here: the ICCID.
            if garbage_start >= 0:
                append(self._garbage(buf[garbage_start:pos]))
                garbage_start = -1
            pos += ICCID_LENGTH
            append(Iccid(buf[start:pos].decode("ascii")))
        if garbage_start >= 0:
            append(self._garbage(buf[garbage_start:pos]))
        self.frames += frames
        self._pending = buf[pos:] if pos < end else b""
        return items

    def _garbage(self, data: bytes) -> Garbage:
        self.skipped_bytes += len(data)
        return Garbage(data)

    def _frame_within(self, buf: bytes, start: int, end: int) -> bool:
        """Whether a whole frame with a valid length and checksum starts in buf[start:end].

        Frames of the generic cap only: a long F8/F9 frame cannot end inside another
        header's announced length before that header's own frame is complete.
        """
        max_length = self._max_length
        found = buf.find(HEADER, start, end)
        while found >= 0 and end - found >= PREFIX_SIZE + MIN_LENGTH:
            length = buf[found + 3] | buf[found + 4] << 8
            stop = found + PREFIX_SIZE + length
            if (
                MIN_LENGTH <= length <= max_length
                and stop <= end
                and _checksum_ok(buf, found, stop)
            ):
                return True
            found = buf.find(HEADER, found + 1, end)
        return False

    @staticmethod
    def _tail_start(buf: bytes, pos: int, end: int) -> int:
        """Where the longest suffix of buf[pos:end] that may still become an item starts.

        That is a proper prefix of ``DNY`` or ``link``, or a run of fewer than 20 digits (a
        longer run would already have matched as an ICCID).
        """
        last = buf[end - 1]
        if _ZERO <= last <= _NINE:
            start = end - 1
            while start > pos and _ZERO <= buf[start - 1] <= _NINE:
                start -= 1
            return start
        for prefix in (b"D", b"DN", b"l", b"li", b"lin"):
            if buf.endswith(prefix) and end - len(prefix) >= pos:
                return end - len(prefix)
        return end


def _checksum_ok(buf: bytes, start: int, stop: int) -> bool:
    """Whether the frame buf[start:stop] (length already checked) carries a valid checksum.

    The byte sum is read from Adler-32, whose low half is 1 + (sum mod 65521), because zlib
    sums in C several times faster than ``sum``. It is exact for a frame: with a length of at
    most 256, "DNY" (235) + the length bytes (at most 255) + at most 254 more bytes of 255
    make 65006 at most, below both 65521 and 65536.
    """
    check = stop - 2
    return adler32(buf[start:check]) & 0xFFFF == 1 + (buf[check] | buf[check + 1] << 8)
