"""The event envelopes of docs/events.md, built from protocol messages and station state.

Pure functions: every builder takes what it describes (a decoded message, the station's
link, an order, the tariff) and returns the whole envelope, ready for the event bus
(``iot_zinx_event``) and for the webhooks. The ``data`` keys are the documented ones
(``docs/events.md``); their names and value types are binding, so a platform written
for the IoT-Zinx gateway keeps working:

* power and voltage rounded to 1 decimal, current to 3, energy to 2; money in whole fen;
* temperatures are integers in °C, ``None`` when the device has no sensor;
* ``*_desc`` is the vendor's Chinese wording (``protocol.codes``);
* times are Unix seconds (integers), except ``charging_end``'s ``start_time`` and
  ``end_time``: "YYYY-MM-DD HH:MM:SS" in Home Assistant's time zone;
* ``port_number`` is 1-based and present on port events only.

The package re-exports every builder and helper, so callers use ``events.X``:
``core`` holds the envelope, the event types and the shared helpers; ``station`` the
link, register, heartbeat, card and alarm events; ``charging`` the power, order and
settlement events with the fees.
"""

from __future__ import annotations

from .charging import (
    SETTLEMENT_TYPE_NORMAL,
    charging_end,
    charging_failed,
    charging_power,
    charging_start,
    fees,
    order_times,
    power_factor,
    power_heartbeat,
    settlement,
    settlement_id,
)
from .core import (
    PORT_EVENT_TYPES,
    Envelope,
    EventType,
    command_text,
    envelope,
    local_time_text,
    message_id_text,
    new_event_id,
)
from .station import (
    DEVICE_TYPE_OTHER,
    DEVICE_TYPE_STATION,
    HEARTBEAT_PERIOD_S,
    PORT_ANY,
    card_swipe,
    device_alarm,
    device_heartbeat,
    device_offline,
    device_online,
    device_register,
    device_type_of,
    host_heartbeat,
    port_heartbeat,
)

__all__ = [
    "DEVICE_TYPE_OTHER",
    "DEVICE_TYPE_STATION",
    "HEARTBEAT_PERIOD_S",
    "PORT_ANY",
    "PORT_EVENT_TYPES",
    "SETTLEMENT_TYPE_NORMAL",
    "Envelope",
    "EventType",
    "card_swipe",
    "charging_end",
    "charging_failed",
    "charging_power",
    "charging_start",
    "command_text",
    "device_alarm",
    "device_heartbeat",
    "device_offline",
    "device_online",
    "device_register",
    "device_type_of",
    "envelope",
    "fees",
    "host_heartbeat",
    "local_time_text",
    "message_id_text",
    "new_event_id",
    "order_times",
    "port_heartbeat",
    "power_factor",
    "power_heartbeat",
    "settlement",
    "settlement_id",
]
