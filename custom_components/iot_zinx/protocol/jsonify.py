"""JSON-ready renderings of frames and messages, for the protocol console and logs.

Messages are frozen dataclasses (messages.py); their fields become JSON values as they are,
except bytes, which become upper-case hex (order numbers, keys, raw payloads). An empty
``trailing`` (bytes beyond the known layout, normally none) is left out.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass

from .errors import MessageError
from .frame import Frame
from .messages import (
    UPSTREAM_COMMANDS,
    decode_downstream,
    decode_server_reply,
    decode_station_reply,
    decode_upstream,
)

type JsonValue = bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None


def to_json_value(value: object) -> JsonValue:
    """A field value as JSON: bytes as hex, dataclasses as objects, tuples as lists."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)  # an IntEnum member becomes its plain number
    if isinstance(value, float):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex().upper()
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return message_to_dict(value)
    return str(value)


def message_to_dict(message: object) -> dict[str, JsonValue]:
    """Every field of a message dataclass as JSON values (an empty ``trailing`` left out)."""
    if not is_dataclass(message) or isinstance(message, type):
        raise TypeError(f"{message!r} is not a dataclass instance")
    result: dict[str, JsonValue] = {}
    for field in fields(message):
        value = getattr(message, field.name)
        if field.name == "trailing" and not value:
            continue
        result[field.name] = to_json_value(value)
    return result


def decode_frame_message(direction: str, frame: Frame) -> object:
    """The typed message of a frame seen by the server, ``direction`` "in" or "out".

    Upstream and downstream command bytes do not overlap (docs/protocol.md 3 and 4), so the
    direction and the command tell which of the four decoders applies. Raises
    ``MessageError`` when a required field is missing.
    """
    upstream = frame.command in UPSTREAM_COMMANDS
    if direction == "in":
        if upstream:
            return decode_upstream(frame.command, frame.payload)
        return decode_station_reply(frame.command, frame.payload)
    if upstream:
        return decode_server_reply(frame.command, frame.payload)
    return decode_downstream(frame.command, frame.payload)


def frame_to_dict(direction: str, frame: Frame) -> dict[str, JsonValue]:
    """A frame and its decoded message: device id, command, message id, type, fields, raw."""
    result: dict[str, JsonValue] = {
        "direction": direction,
        "device_id": frame.device_id,
        "command": f"0x{frame.command:02X}",
        "message_id": f"0x{frame.message_id:04X}",
    }
    try:
        message = decode_frame_message(direction, frame)
    except MessageError as err:
        result["type"] = "MessageError"
        result["fields"] = {"error": str(err)}
    else:
        result["type"] = type(message).__name__
        result["fields"] = message_to_dict(message)
    result["raw"] = frame.encode().hex().upper()
    return result
