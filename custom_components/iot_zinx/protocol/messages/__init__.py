"""Typed DNY messages: the payload of every upstream message, downstream command and reply.

docs/protocol.md section 3 (station -> server) and section 4 (server -> station). Every message is a
frozen, slotted dataclass with ``encode()`` (the payload only; ``frame.Frame`` wraps it) and a
``decode(payload)`` classmethod. The rules every class follows:

* Scaled units are in the field names (docs/protocol.md section 2): ``voltage_v`` 0.1 V, ``power_w``
  0.1 W, ``current_a`` 0.001 A, ``energy_kwh`` 0.01 kWh, ``*_s`` seconds, ``*_fen`` fen.
  Decoding divides the wire integer (``2188 / 10``, the nearest float to 218.8); encoding
  rounds back, so ``decode(encode(m)) == m`` for every decoded message.
* Ports keep the wire value (0-based, 0xFF = the station chooses) in a field named ``port``.
* Temperatures are wire + 65 with 0 meaning "no sensor" (section 2). A *required* temperature
  is a field ``*_c: int | None`` (``None`` = no sensor). An *optional* trailing temperature
  must also say "absent from the payload", which ``None`` can no longer express, so it is kept
  as its wire byte in ``*_raw: int | None`` (``None`` = absent, ``0`` = no sensor) and read in
  degrees through the ``*_c`` property.
* Fields appended over the protocol's life are ``X | None = None``: decoded only when the
  payload is long enough (section 2, "Optional trailing fields") and encoded only when set, in
  order (setting one while an earlier one is ``None`` is a ``ValueError``).
* Bytes beyond the known layout are kept in ``trailing`` and re-encoded, so a payload always
  re-encodes byte-identically. Leave ``trailing`` empty when building a message.
* ``decode`` raises ``MessageError`` only when a required field is missing; ``encode`` raises
  ``ValueError`` when a value does not fit its wire field.
* Decoding is the server's hot path, so decoders build messages without calling the
  dataclass ``__init__``, and most are generated from a declared ``_Layout`` (see "Fast
  construction" in ``layout.py``); the messages are the same as the constructor's.
* A fixed-layout message declares its wire fields once, in a ``_Layout``: its decoder is
  generated from that declaration and its ``encode`` (``Message.encode``) writes the same
  declaration back, each field by the inverse of its reading. Only the irregular messages
  (per-port arrays, length-prefixed data) write ``encode`` and ``decode`` by hand.
* Card ids are the one big-endian integer of the protocol (see ``values._read_card_id``).
* Every message has a ``command`` (its frame's command byte). Single-command classes define
  ``COMMAND``; the classes that serve several commands (``ResultReply``, ``TimeReply``,
  ``ReadParameters``, ``FirmwarePacket``, ``FirmwareReply``, ``CommandResult``,
  ``UnknownMessage``) have a ``command`` field instead, list the commands they serve in
  ``COMMANDS`` where there is a fixed set, and decode with ``decode(payload, command=...)``.

The package is split by direction; import every name from the package itself:

* ``values.py``: the wire form of temperatures, order numbers, card ids and text;
* ``layout.py``: the ``Message`` base, the ``_Layout`` mechanism and its decoder generator;
* ``upstream.py``: station -> server messages and ``decode_upstream``;
* ``downstream.py``: server -> station commands and ``decode_downstream``;
* ``replies.py``: the server's replies to upstream messages, the station's replies to
  commands, ``decode_server_reply`` and ``decode_station_reply``.
"""

from __future__ import annotations

from .downstream import (
    CARD_KEY_SIZE,
    DOWNSTREAM_COMMANDS,
    CardKeys,
    ChangeServerAddress,
    ChargeControl,
    ClearMemory,
    ClearSubUpgrade,
    DownstreamCommand,
    FirmwarePacket,
    HostReboot,
    HostUpgradeStart,
    Limits,
    Locate,
    LockerDoor,
    LockerRelease,
    ModifyCharge,
    ModuleReboot,
    Mute,
    PlayVoice,
    QueryStatus,
    ReadEeprom,
    ReadParameters,
    Reboot,
    RunParameters1,
    RunParameters2,
    SetCardBillingMode,
    SetQrCode,
    SetWorkMode,
    TemporaryQrCode,
    UpgradeTrigger,
    WriteEeprom,
    decode_downstream,
)
from .layout import Message, UnknownMessage
from .replies import (
    CardReply,
    ChargeControlReply,
    CommandResult,
    EepromReadReply,
    FirmwareReply,
    OrderConfirmReply,
    ResultReply,
    ServerReply,
    StationReply,
    TimeReply,
    decode_server_reply,
    decode_station_reply,
)
from .upstream import (
    UPSTREAM_COMMANDS,
    Alarm,
    CardSwipe,
    Heartbeat,
    HostHeartbeat,
    HostStatus,
    HostTimeRequest,
    HostUpgradeRequest,
    LegacyHeartbeat,
    LegacyOrderConfirm,
    LockerChargeDone,
    LockerHeartbeat,
    PortNotice,
    PowerHeartbeat,
    Register,
    Settlement,
    SubStationVersion,
    SubStationVersions,
    TimeRequest,
    UpgradeRequest,
    UpstreamMessage,
    decode_upstream,
)
from .values import (
    ORDER_NO_SIZE,
    order_no_text,
    parse_order_no,
    temperature_from_wire,
    temperature_to_wire,
)

__all__ = [
    "CARD_KEY_SIZE",
    "DOWNSTREAM_COMMANDS",
    "ORDER_NO_SIZE",
    "UPSTREAM_COMMANDS",
    "Alarm",
    "CardKeys",
    "CardReply",
    "CardSwipe",
    "ChangeServerAddress",
    "ChargeControl",
    "ChargeControlReply",
    "ClearMemory",
    "ClearSubUpgrade",
    "CommandResult",
    "DownstreamCommand",
    "EepromReadReply",
    "FirmwarePacket",
    "FirmwareReply",
    "Heartbeat",
    "HostHeartbeat",
    "HostReboot",
    "HostStatus",
    "HostTimeRequest",
    "HostUpgradeRequest",
    "HostUpgradeStart",
    "LegacyHeartbeat",
    "LegacyOrderConfirm",
    "Limits",
    "Locate",
    "LockerChargeDone",
    "LockerDoor",
    "LockerHeartbeat",
    "LockerRelease",
    "Message",
    "ModifyCharge",
    "ModuleReboot",
    "Mute",
    "OrderConfirmReply",
    "PlayVoice",
    "PortNotice",
    "PowerHeartbeat",
    "QueryStatus",
    "ReadEeprom",
    "ReadParameters",
    "Reboot",
    "Register",
    "ResultReply",
    "RunParameters1",
    "RunParameters2",
    "ServerReply",
    "SetCardBillingMode",
    "SetQrCode",
    "SetWorkMode",
    "Settlement",
    "StationReply",
    "SubStationVersion",
    "SubStationVersions",
    "TemporaryQrCode",
    "TimeReply",
    "TimeRequest",
    "UnknownMessage",
    "UpgradeRequest",
    "UpgradeTrigger",
    "UpstreamMessage",
    "WriteEeprom",
    "decode_downstream",
    "decode_server_reply",
    "decode_station_reply",
    "decode_upstream",
    "order_no_text",
    "parse_order_no",
    "temperature_from_wire",
    "temperature_to_wire",
]
