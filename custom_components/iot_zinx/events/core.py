"""The envelope every IoT-Zinx event shares, and the helpers its builders use.

``EventType`` names the documented types and the extensions, ``PORT_EVENT_TYPES`` those that
concern one port; ``envelope()`` wraps a builder's ``data`` in ``event_id``, ``event_type``,
``device_id``, ``port_number`` and ``timestamp`` (docs/events.md). The text and number helpers
keep the formats the documentation binds: command bytes, message ids, local times, rounding.
"""

from __future__ import annotations

from enum import StrEnum
import hashlib
import random
import time
from typing import Any, Final
import uuid

from homeassistant.util import dt as dt_util

type Envelope = dict[str, Any]

_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"


class EventType(StrEnum):
    """``event_type`` of the envelope: the eleven documented types and three extensions."""

    DEVICE_ONLINE = "device_online"
    DEVICE_OFFLINE = "device_offline"
    DEVICE_REGISTER = "device_register"
    DEVICE_HEARTBEAT = "device_heartbeat"
    PORT_HEARTBEAT = "port_heartbeat"
    CHARGING_START = "charging_start"
    CHARGING_END = "charging_end"
    CHARGING_FAILED = "charging_failed"
    POWER_HEARTBEAT = "power_heartbeat"
    CHARGING_POWER = "charging_power"
    SETTLEMENT = "settlement"
    # Extensions (docs/events.md): platforms that do not know them ignore them.
    CARD_SWIPE = "card_swipe"
    DEVICE_ALARM = "device_alarm"
    HOST_HEARTBEAT = "host_heartbeat"


# The types that concern one port and carry ``port_number``. A card swipe does when it was
# made on a port (not a balance query on 0xFF).
PORT_EVENT_TYPES: Final = frozenset(
    {
        EventType.PORT_HEARTBEAT,
        EventType.CHARGING_START,
        EventType.CHARGING_END,
        EventType.CHARGING_FAILED,
        EventType.POWER_HEARTBEAT,
        EventType.CHARGING_POWER,
        EventType.SETTLEMENT,
        EventType.CARD_SWIPE,
    }
)


def envelope(
    event_type: EventType,
    station_id: str,
    data: dict[str, Any],
    *,
    port_number: int | None = None,
    timestamp: float | None = None,
    event_id: str | None = None,
) -> Envelope:
    """The docs/events.md envelope: ``event_id`` (a fresh UUID4 unless given), ``timestamp``."""
    event: Envelope = {
        "event_id": new_event_id() if event_id is None else event_id,
        "event_type": str(event_type),
        "device_id": station_id,
    }
    if port_number is not None:
        event["port_number"] = port_number
    event["timestamp"] = int(_now(timestamp))
    event["data"] = data
    return event


def stable_event_id(key: str, event_type: EventType) -> str:
    """The same UUID4-shaped id every time ``key`` fires ``event_type``.

    For the events of a settlement: if Home Assistant dies after firing them but before its
    store is written, the station resends the settlement (it was never acknowledged) and they
    fire again. With the same ids that is a redelivery, which receivers drop by ``event_id``
    (docs/events.md), not a second settlement to bill.
    """
    digest = hashlib.sha256(f"{key}|{event_type}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def new_event_id() -> str:
    """A random UUID4 for an envelope, drawn without a system call.

    ``uuid.uuid4()`` reads ``os.urandom``, a system call that gives up Python's GIL; every
    frame fires an event, and while another thread computes (the recorder's), getting the GIL
    back costs the event loop up to a switch interval each time. An event id must be unique,
    not secret: 122 bits from Python's generator (seeded from the OS, reseeded after a fork)
    are as unique as the OS's.
    """
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def _now(timestamp: float | None) -> float:
    return time.time() if timestamp is None else timestamp


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def command_text(command: int) -> str:
    """``"0x20"``: how the events name a command byte."""
    return f"0x{command:02X}"


def message_id_text(message_id: int) -> str:
    """``"0x0042"``: how the events name a message id."""
    return f"0x{message_id:04X}"


def local_time_text(unix_time: float) -> str:
    """Format as "2023-12-21 10:00:00" in Home Assistant's configured time zone."""
    return dt_util.as_local(dt_util.utc_from_timestamp(unix_time)).strftime(_TIME_FORMAT)
