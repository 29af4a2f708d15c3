"""Tests of the DNY frame layer (docs/protocol.md section 2)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.iot_zinx.protocol.errors import FrameError, ProtocolError
from custom_components.iot_zinx.protocol.frame import (
    HEADER,
    LONG_FRAME_COMMANDS,
    LONG_MAX_LENGTH,
    LONG_MAX_PAYLOAD,
    MAX_LENGTH,
    MAX_PAYLOAD,
    MIN_LENGTH,
    PREFIX_SIZE,
    Frame,
    checksum,
    decode_frame,
    device_kind,
    format_physical_id,
    frame_from_wire,
    parse_physical_id,
    physical_id_from_qr,
    qr_number,
)
from tests.protocol.vectors import FIXTURE, SHARED, VECTORS

# docs/protocol.md section 2: the register reply of the example.
REGISTER_REPLY = bytes.fromhex("44 4E 59 0A 00 3B 37 AB 04 B9 00 20 00 EF 02")

frames = st.builds(
    Frame,
    physical_id=st.integers(0, 0xFFFFFFFF),
    message_id=st.integers(0, 0xFFFF),
    command=st.integers(0, 0xFF),
    payload=st.binary(max_size=MAX_PAYLOAD),
)


def test_constants() -> None:
    assert HEADER == b"DNY"
    assert (MIN_LENGTH, MAX_LENGTH, PREFIX_SIZE, MAX_PAYLOAD) == (9, 256, 5, 247)


def test_checksum_is_the_low_16_bits_of_the_byte_sum() -> None:
    assert checksum(REGISTER_REPLY[:-2]) == 0x02EF
    assert checksum(b"") == 0
    assert checksum(b"\xff" * 258) == (0xFF * 258) & 0xFFFF == 0x00FE
    assert checksum(bytearray(b"\x01\x02")) == 3
    assert checksum(memoryview(b"\x01\x02\x03")) == 6


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Up to 256 bytes the sum is read from Adler-32, exact below 65521: the boundaries.
        (b"\xff" * 256, 65280),
        (b"\xff" * 257, 65535),
        (b"\xff" * 258, 254),
        (b"\x00" * 300, 0),
        (b"\x01", 1),
    ],
)
def test_checksum_boundaries(data: bytes, expected: int) -> None:
    assert checksum(data) == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_checksum_equals_the_byte_sum(data: bytes) -> None:
    assert checksum(data) == sum(data) & 0xFFFF


@settings(max_examples=200, deadline=None)
@given(frames)
def test_frame_from_wire_builds_an_equal_frame(frame: Frame) -> None:
    built = frame_from_wire(frame.physical_id, frame.message_id, frame.command, frame.payload)
    assert type(built) is Frame
    assert built == frame
    assert hash(built) == hash(frame)
    assert repr(built) == repr(frame)
    with pytest.raises(AttributeError):
        built.command = 1  # type: ignore[misc]


def test_encode_register_reply() -> None:
    frame = Frame(physical_id=0x04AB373B, message_id=0x00B9, command=0x20, payload=b"\x00")
    assert frame.encode() == REGISTER_REPLY
    assert frame.device_id == "04AB373B"


def test_decode_register_reply() -> None:
    frame = decode_frame(REGISTER_REPLY)
    assert frame == Frame(0x04AB373B, 0x00B9, 0x20, b"\x00")
    assert isinstance(frame.payload, bytes)
    assert decode_frame(bytearray(REGISTER_REPLY)) == frame
    assert decode_frame(memoryview(REGISTER_REPLY)) == frame


def test_empty_payload_is_the_smallest_frame() -> None:
    frame = Frame(0x04AB373B, 0x00B9, 0x22)
    assert frame.payload == b""
    assert frame.encode() == bytes.fromhex("44 4E 59 09 00 3B 37 AB 04 B9 00 22 F0 02")
    assert decode_frame(frame.encode()) == frame


def test_largest_frame() -> None:
    frame = Frame(0xFFFFFFFF, 0xFFFF, 0xFF, b"\xab" * MAX_PAYLOAD)
    raw = frame.encode()
    assert len(raw) == PREFIX_SIZE + MAX_LENGTH == 261
    assert raw[3:5] == b"\x00\x01"
    assert decode_frame(raw) == frame


def test_long_frames_only_for_f8_and_f9_firmware_packets() -> None:
    """The old models' 256-byte packets: a 260-byte payload, length field up to 269."""
    assert ({0xF8, 0xF9}, 260, 269) == (LONG_FRAME_COMMANDS, LONG_MAX_PAYLOAD, LONG_MAX_LENGTH)
    for command in (0xF8, 0xF9):
        frame = Frame(0x04AB373B, 1, command, b"\xff" * LONG_MAX_PAYLOAD)
        raw = frame.encode()
        assert raw[3:5] == b"\x0d\x01"
        assert int.from_bytes(raw[-2:], "little") == sum(raw[:-2]) & 0xFFFF
        assert decode_frame(raw) == frame
        with pytest.raises(FrameError, match="payload of 261 bytes exceeds the 247"):
            Frame(0x04AB373B, 1, command, bytes(LONG_MAX_PAYLOAD + 1))
    with pytest.raises(FrameError, match="payload of 260 bytes exceeds the 247"):
        Frame(0x04AB373B, 1, 0xE0, bytes(LONG_MAX_PAYLOAD))
    long_e0 = _with_checksum(b"DNY\x0d\x01" + bytes(6) + b"\xe0" + bytes(260))
    with pytest.raises(FrameError, match=r"length field 269 is outside 9\.\.256"):
        decode_frame(long_e0)
    too_long = _with_checksum(b"DNY\x0e\x01" + bytes(6) + b"\xf8" + bytes(261))
    with pytest.raises(FrameError, match=r"length field 270 is outside 9\.\.256"):
        decode_frame(too_long)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"physical_id": -1}, "physical id -1 does not fit in 4 bytes"),
        ({"physical_id": 0x1_0000_0000}, "physical id 4294967296 does not fit in 4 bytes"),
        ({"message_id": -1}, "message id -1 does not fit in 2 bytes"),
        ({"message_id": 0x10000}, "message id 65536 does not fit in 2 bytes"),
        ({"command": -1}, "command -1 does not fit in 1 byte"),
        ({"command": 0x100}, "command 256 does not fit in 1 byte"),
        (
            {"payload": b"\x00" * (MAX_PAYLOAD + 1)},
            "payload of 248 bytes exceeds the 247 a frame holds",
        ),
    ],
)
def test_frame_rejects_out_of_range_fields(fields: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"physical_id": 1, "message_id": 2, "command": 3, "payload": b""}
    values.update(fields)
    with pytest.raises(FrameError) as info:
        Frame(**values)
    assert str(info.value) == message
    assert isinstance(info.value, ProtocolError)


def test_a_frame_equals_only_a_frame() -> None:
    # A named tuple (for the splitter's speed), but not equal to a plain tuple of its values.
    frame = Frame(1, 2, 3, b"\x04")
    assert frame == Frame(1, 2, 3, b"\x04")
    assert (frame != Frame(1, 2, 3, b"\x04")) is False
    assert hash(frame) == hash(Frame(1, 2, 3, b"\x04"))
    assert frame != (1, 2, 3, b"\x04")
    assert (frame == (1, 2, 3, b"\x04")) is False
    assert frame != Frame(1, 2, 3, b"\x05")


def _with_checksum(body: bytes) -> bytes:
    return body + checksum(body).to_bytes(2, "little")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"DNX" + REGISTER_REPLY[3:], "frame does not start with the DNY header"),
        (b"", "frame does not start with the DNY header"),
        (REGISTER_REPLY[:13], "frame of 13 bytes is shorter than the smallest frame"),
        (
            _with_checksum(b"DNY\x08\x00" + bytes(7)),
            "length field 8 is outside 9..256",
        ),
        (
            _with_checksum(b"DNY\x01\x01" + bytes(7)),
            "length field 257 is outside 9..256",
        ),
        (REGISTER_REPLY + b"\x00", "length field says 15 bytes, got 16"),
        (
            _with_checksum(REGISTER_REPLY[:3] + b"\x0b" + REGISTER_REPLY[4:-2]),
            "length field says 16 bytes, got 15",
        ),
        (REGISTER_REPLY[:-2] + b"\xee\x02", "checksum 0x02EE does not match 0x02EF"),
        (REGISTER_REPLY[:-2] + b"\x02\xef", "checksum 0xEF02 does not match 0x02EF"),
    ],
)
def test_decode_frame_errors(raw: bytes, message: str) -> None:
    with pytest.raises(FrameError) as info:
        decode_frame(raw)
    assert str(info.value) == message


def test_physical_id_of_wire_bytes() -> None:
    # docs/events.md: wire bytes CD 28 A2 04 give "04A228CD".
    physical_id = int.from_bytes(bytes.fromhex("CD 28 A2 04"), "little")
    assert physical_id == 0x04A228CD
    assert format_physical_id(physical_id) == "04A228CD"
    frame = decode_frame(_with_checksum(b"DNY\x09\x00" + bytes.fromhex("CD 28 A2 04 01 00 21")))
    assert frame.device_id == "04A228CD"


def test_format_physical_id_pads_to_eight_digits() -> None:
    assert format_physical_id(0) == "00000000"
    assert format_physical_id(0x0300ABCD) == "0300ABCD"
    assert format_physical_id(0xFFFFFFFF) == "FFFFFFFF"


def test_qr_number_and_kind() -> None:
    # docs/protocol.md section 2: 0xAB373B = 11220795, kind 04 (dual socket).
    assert qr_number(0x04AB373B) == 11220795
    assert device_kind(0x04AB373B) == 0x04
    assert device_kind(0x09D62684) == 0x09
    assert qr_number(0x09D62684) == 0xD62684
    assert physical_id_from_qr(0x04, 11220795) == 0x04AB373B
    assert physical_id_from_qr(0, 0) == 0
    assert physical_id_from_qr(0xFF, 0xFFFFFF) == 0xFFFFFFFF


@pytest.mark.parametrize(("kind", "number"), [(-1, 0), (0x100, 0), (4, -1), (4, 0x1000000)])
def test_physical_id_from_qr_rejects_out_of_range(kind: int, number: int) -> None:
    with pytest.raises(ValueError, match=f"kind {kind} / number {number} do not form"):
        physical_id_from_qr(kind, number)


@pytest.mark.parametrize(
    "text", ["04AB373B", "04ab373b", "0x04ab373b", "0X04AB373B", " 04AB373B\n"]
)
def test_parse_physical_id(text: str) -> None:
    assert parse_physical_id(text) == 0x04AB373B


@pytest.mark.parametrize(
    "text", ["XYZ", "", "0x", "04AB373", "04AB373B0", "04AB 373B", "0x04AB373G", "+4AB373B"]
)
def test_parse_physical_id_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a physical id of 8 hexadecimal digits"):
        parse_physical_id(text)


def test_vectors_are_present() -> None:
    assert len(VECTORS) == 33


def test_fixture_matches_shared() -> None:
    # The shared tree is beside the repository in development and CI; a clone without it
    # still has the fixture, and then there is nothing to compare.
    if SHARED.is_file():
        assert FIXTURE.read_bytes() == SHARED.read_bytes()


@pytest.mark.parametrize(
    "vector", VECTORS, ids=[f"{v['direction']}-{v['command']}-{i}" for i, v in enumerate(VECTORS)]
)
def test_vector_decodes_and_reencodes(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    frame = decode_frame(raw)
    assert frame.device_id == vector["physical_id"]
    assert frame.message_id == int(vector["message_id"], 16)
    assert frame.command == int(vector["command"], 16)
    assert frame.payload == bytes.fromhex(vector["payload_hex"])
    assert frame.encode() == raw


@settings(max_examples=200, deadline=None)
@given(frames)
def test_encode_decode_round_trip(frame: Frame) -> None:
    raw = frame.encode()
    assert raw[:3] == HEADER
    assert int.from_bytes(raw[3:5], "little") == len(frame.payload) + MIN_LENGTH
    assert len(raw) == PREFIX_SIZE + MIN_LENGTH + len(frame.payload)
    assert int.from_bytes(raw[-2:], "little") == checksum(raw[:-2])
    assert decode_frame(raw) == frame
    assert parse_physical_id(frame.device_id) == frame.physical_id
    assert physical_id_from_qr(device_kind(frame.physical_id), qr_number(frame.physical_id)) == (
        frame.physical_id
    )


@settings(max_examples=200, deadline=None)
@given(frames, st.data())
def test_any_single_byte_change_is_rejected(frame: Frame, data: st.DataObject) -> None:
    raw = bytearray(frame.encode())
    index = data.draw(st.integers(0, len(raw) - 1), label="index")
    value = data.draw(st.integers(0, 0xFF).filter(lambda b: b != raw[index]), label="value")
    raw[index] = value
    with pytest.raises(FrameError):
        decode_frame(raw)
