"""A station written from docs/protocol.md alone, for the platform test of the HTTP API.

Independent of ``custom_components.iot_zinx.protocol`` (frames built and parsed by hand
here), so that a mistake shared by our server and our simulator cannot hide. It registers,
sends one heartbeat, answers every downstream command with result 0 (0x82 with its order
number and port, as V6.2 firmware does) and records the raw payloads it received. It never
settles an order: a stop is answered, its 0x03 never comes.
"""

from __future__ import annotations

import asyncio
import struct

HEADER = b"DNY"


def frame(physical_id: int, message_id: int, command: int, payload: bytes) -> bytes:
    """docs/protocol.md 2: header, length, id, message id, command, payload, checksum."""
    body = HEADER + struct.pack("<HIHB", 9 + len(payload), physical_id, message_id, command)
    body += payload
    return body + struct.pack("<H", sum(body) & 0xFFFF)


class EmulatedStation:
    """A dual socket with a charger in port 1 (wire port 0)."""

    def __init__(self, physical_id: int) -> None:
        """Not connected until ``connect``."""
        self.physical_id = physical_id
        self.received: list[tuple[int, bytes]] = []  # (command, payload) of downstream frames
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._message_id = 0

    def _send(self, command: int, payload: bytes, message_id: int | None = None) -> None:
        assert self._writer is not None
        if message_id is None:
            self._message_id += 1
            message_id = self._message_id
        self._writer.write(frame(self.physical_id, message_id, command, payload))

    async def connect(self, port: int) -> None:
        """ICCID, register (0x20: V1.26, 2 ports) and a heartbeat (0x21: port 1 plugged)."""
        reader, self._writer = await asyncio.open_connection("127.0.0.1", port)
        self._writer.write(b"89860000000000000042")
        self._send(0x20, struct.pack("<HBBB", 126, 2, 0, 0x04))
        self._send(0x21, struct.pack("<HB", 2200, 2) + bytes([2, 0, 0, 95]))
        self._reader_task = asyncio.create_task(self._read(reader))

    async def close(self) -> None:
        """Hang up."""
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            head = await reader.readexactly(5)
            assert head[:3] == HEADER
            (length,) = struct.unpack("<H", head[3:])
            rest = await reader.readexactly(length)
            _, message_id, command = struct.unpack("<IHB", rest[:7])
            payload = rest[7:-2]
            assert struct.unpack("<H", rest[-2:])[0] == (sum(head) + sum(rest[:-2])) & 0xFFFF
            if command in (0x20, 0x21):
                continue  # the server's answers to our register and heartbeat
            self.received.append((command, payload))
            if command == 0x82:
                port, order_no = payload[5], payload[9:25]
                reply = bytes([0]) + order_no + bytes([port]) + b"\0\0"
            else:
                reply = b"\0"
            self._send(command, reply, message_id)
