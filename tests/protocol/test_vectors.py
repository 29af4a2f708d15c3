"""Every example frame of the vendor's documents, decoded and re-encoded (vectors.json)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from custom_components.iot_zinx.protocol import messages as m
from custom_components.iot_zinx.protocol.frame import Frame, decode_frame
from tests.protocol.vectors import VECTORS

# The class each vector must decode to, by (direction, command).
EXPECTED_CLASS: dict[tuple[str, int], type[m.Message]] = {
    ("up", 0x01): m.LegacyHeartbeat,
    ("down", 0x01): m.ResultReply,
    ("up", 0x20): m.Register,
    ("down", 0x20): m.ResultReply,
    ("up", 0x22): m.TimeRequest,
    ("down", 0x22): m.TimeReply,
    ("up", 0x21): m.Heartbeat,
    ("down", 0x21): m.ResultReply,
    ("up", 0x02): m.CardSwipe,
    ("down", 0x02): m.CardReply,
    ("up", 0x03): m.Settlement,
    ("down", 0x03): m.ResultReply,
    ("up", 0x06): m.PowerHeartbeat,
    ("down", 0x81): m.QueryStatus,
    ("down", 0x82): m.ChargeControl,
    ("up", 0x82): m.ChargeControlReply,
    ("down", 0x8A): m.ModifyCharge,
    ("up", 0x8A): m.CommandResult,
    ("down", 0x85): m.Limits,
    ("up", 0x85): m.CommandResult,
    ("down", 0x86): m.CardKeys,
    ("up", 0x86): m.CommandResult,
    ("down", 0x87): m.Reboot,
    ("up", 0x87): m.CommandResult,
    ("down", 0x88): m.ClearMemory,
    ("up", 0x88): m.CommandResult,
    ("down", 0x8D): m.SetWorkMode,
    ("up", 0x8D): m.CommandResult,
    ("down", 0xE4): m.UpgradeTrigger,
    ("up", 0x11): m.HostHeartbeat,
    ("up", 0x12): m.HostTimeRequest,
    ("down", 0x12): m.TimeReply,
    ("down", 0x34): m.ChangeServerAddress,
}

# vectors.json names the per-port status list "port_status"; the message field is plural.
RENAMED = {"port_status": "port_statuses"}
# Byte strings the vectors write as hex digits.
HEX_BYTES = {"order_no", "user_key", "new_card_key"}
# Optional temperatures are kept as wire bytes (see messages.py); the vector gives °C, and a
# key that is present means the byte is present (null = no sensor).
RAW_TEMPERATURES = {"ambient_temp_c": "ambient_temp_raw", "port_temp_c": "port_temp_raw"}
# Decimal places of each scaled unit (docs/protocol.md section 2 and docs/events.md).
PRECISION = {"_v": 1, "_w": 1, "_kwh": 2, "_a": 3}
# The register example carries two bytes beyond the documented layout (firmware .. power
# board version is 8 bytes, the example has 10); they are kept as trailing.
EXTRA_FIELDS: dict[tuple[str, int], dict[str, Any]] = {
    ("up", 0x20): {"trailing": bytes.fromhex("E4 00")},
}


def _decode(direction: str, command: int, payload: bytes) -> m.Message:
    if direction == "up":
        if command in m.UPSTREAM_COMMANDS:
            return m.decode_upstream(command, payload)
        return m.decode_station_reply(command, payload)
    if command in m.UPSTREAM_COMMANDS:
        return m.decode_server_reply(command, payload)
    return m.decode_downstream(command, payload)


def _precision(key: str) -> int:
    for suffix, places in PRECISION.items():
        if key.endswith(suffix):
            return places
    raise AssertionError(f"no documented precision for {key}")


def _actual(message: m.Message, key: str) -> Any:
    """The message's value in the vector's representation."""
    if key == "card_id":
        return message.card_hex  # type: ignore[attr-defined]
    value = getattr(message, RENAMED.get(key, key))
    if key == "order_no":
        return m.order_no_text(value)
    if key in HEX_BYTES:
        return value.hex().upper()
    if isinstance(value, tuple):
        return list(value)
    return value


def _assert_same(key: str, actual: Any, expected: Any) -> None:
    if isinstance(expected, list):
        assert isinstance(actual, list), key
        assert len(actual) == len(expected), key
        for item_actual, item_expected in zip(actual, expected, strict=True):
            _assert_same(key, item_actual, item_expected)
    elif isinstance(expected, float):
        assert isinstance(actual, float), key
        assert round(actual, _precision(key)) == expected, key
    else:
        assert type(actual) is type(expected), key
        assert actual == expected, key


def _fields(vector: dict[str, Any], cls: type[m.Message], command: int) -> dict[str, Any]:
    """Constructor arguments built from the vector's decoded values."""
    kwargs: dict[str, Any] = {}
    if "command" in {field.name for field in dataclasses.fields(cls)}:  # type: ignore[arg-type]
        kwargs["command"] = command
    for key, value in vector["decoded"].items():
        if key == "card_id":
            kwargs[key] = int(value, 16)
        elif key in HEX_BYTES:
            kwargs[key] = bytes.fromhex(value)
        elif key in RAW_TEMPERATURES:
            kwargs[RAW_TEMPERATURES[key]] = m.temperature_to_wire(value)
        elif isinstance(value, list):
            kwargs[RENAMED.get(key, key)] = tuple(value)
        else:
            kwargs[key] = value
    kwargs.update(EXTRA_FIELDS.get((vector["direction"], command), {}))
    return kwargs


def _id(vector: dict[str, Any]) -> str:
    return f"{vector['direction']}-{vector['command']}"


def test_every_vector_has_an_expectation() -> None:
    keys = [(vector["direction"], int(vector["command"], 16)) for vector in VECTORS]
    assert len(VECTORS) == 33
    assert sorted(set(keys)) == sorted(EXPECTED_CLASS)


@pytest.mark.parametrize("vector", VECTORS, ids=_id)
def test_vector_decodes_to_documented_values(vector: dict[str, Any]) -> None:
    frame = decode_frame(bytes.fromhex(vector["hex"]))
    command = int(vector["command"], 16)
    assert frame.command == command
    assert frame.device_id == vector["physical_id"]
    assert frame.message_id == int(vector["message_id"], 16)
    assert frame.payload == bytes.fromhex(vector["payload_hex"])

    message = _decode(vector["direction"], command, frame.payload)

    assert type(message) is EXPECTED_CLASS[(vector["direction"], command)]
    assert message.command == command
    for key, expected in vector["decoded"].items():
        _assert_same(key, _actual(message, key), expected)


@pytest.mark.parametrize("vector", VECTORS, ids=_id)
def test_vector_encodes_byte_identically(vector: dict[str, Any]) -> None:
    frame = decode_frame(bytes.fromhex(vector["hex"]))
    command = frame.command
    cls = EXPECTED_CLASS[(vector["direction"], command)]

    built = cls(**_fields(vector, cls, command))
    wire = Frame(frame.physical_id, frame.message_id, command, built.encode()).encode()

    assert wire == bytes.fromhex(vector["hex"])
    assert built == _decode(vector["direction"], command, frame.payload)
