"""Downstream commands: what the server sends a station (docs/protocol.md 4).

Each is also decodable (``decode_downstream``), for the simulator's side. The station's
replies to them are in ``replies.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from struct import Struct
from typing import ClassVar, Self

from .layout import (
    Message,
    UnknownMessage,
    _DeclaredMessage,
    _decoder,
    _EmptyMessage,
    _Field,
    _Layout,
    _new_unknown,
    _pack,
    _short,
    _unpack,
)
from .values import _padded, _text

# ---------------------------------------------------------------------------------------------
# Downstream commands: server -> station (docs/protocol.md section 4)


@dataclass(frozen=True, slots=True)
class QueryStatus(_EmptyMessage):
    """0x81 ask the station to report (it sends 0x20 and 0x21/0x01); no reply."""

    COMMAND: ClassVar[int] = 0x81


_CHARGE = _Layout(
    _Field("rate_mode", "B"),
    _Field("balance_or_expiry", "I"),
    _Field("port", "B"),
    _Field("action", "B"),
    _Field("value", "H"),
    _Field("order_no", "16s"),
    # The fields after order_no were appended over time (V7.5, V8.0, V8.6, 2023-03); the
    # station needs them only up to max_power_w (section 4, 0x82).
    optional=(
        _Field("max_duration_s", "H"),
        _Field("max_power_w", "H", 10),
        _Field("qr_light", "B"),
        _Field("long_charge", "B"),
        _Field("extra_float_time_s", "H"),
        _Field("skip_short_check", "B"),
        _Field("ignore_unplug", "B"),
        _Field("force_auto_stop", "B"),
        _Field("full_power_w", "B"),
        _Field("full_power_max_minutes", "B"),
    ),
)


@_CHARGE.bind
@dataclass(frozen=True, slots=True)
class ChargeControl(_DeclaredMessage):
    """0x82 start (action 1) or stop (action 0) charging (reply: ``ChargeControlReply``).

    A stop must carry the running order's number. ``value`` is seconds (time modes) or
    0.01 kWh (energy mode), 0 = until full.
    """

    COMMAND: ClassVar[int] = 0x82

    rate_mode: int
    balance_or_expiry: int
    port: int
    action: int
    value: int
    order_no: bytes
    max_duration_s: int | None = None  # 0 = the station's setting
    max_power_w: float | None = None  # 0 = the station's setting
    qr_light: int | None = None  # 0 on, 1 off
    long_charge: int | None = None
    extra_float_time_s: int | None = None  # 0xFFFF cancels float charging
    skip_short_check: int | None = None  # 2 = normal check; 0 or 1 skip it
    ignore_unplug: int | None = None
    force_auto_stop: int | None = None
    full_power_w: int | None = None  # whole watts, unlike every other power; 0/0xFF = off
    full_power_max_minutes: int | None = None
    trailing: bytes = b""


_RUN_PARAMETERS_1 = _Layout(
    _Field("unplug_power_w", "H", 10),
    _Field("unplug_time_s", "H"),
    _Field("float_percent", "B"),
    _Field("float_detect_time_s", "H"),
    _Field("float_time_s", "H"),
    _Field("heartbeat_interval_s", "H"),
)


@_RUN_PARAMETERS_1.bind
@dataclass(frozen=True, slots=True)
class RunParameters1(_DeclaredMessage):
    """0x83 run parameters 1.1 (reply: ``CommandResult``; read back with 0x90).

    The document gives no unit for the unplug power, so the protocol's default 0.1 W applies.
    Vendor defaults: 3, 10, 20, 1800, 3600, 180.
    """

    COMMAND: ClassVar[int] = 0x83

    unplug_power_w: float
    unplug_time_s: int
    float_percent: int  # of the charging power, 1-100
    float_detect_time_s: int
    float_time_s: int
    heartbeat_interval_s: int
    trailing: bytes = b""


_RUN_PARAMETERS_2 = _Layout(
    _Field("dynamic_overload_power_w", "H", 10),
    _Field("dynamic_overload_time_s", "H"),
    _Field("dynamic_overload_start_s", "H"),
    _Field("unplug_interference_power_w", "B", 10),
    _Field("unplug_interference_time_s", "H"),
    _Field("float_second_check_point_s", "H"),
    _Field("float_second_check_time_s", "H"),
    _Field("min_power_w", "H", 10),
    _Field("min_power_check_point_s", "H"),
    _Field("second_max_power_point_s", "H"),
    _Field("ambient_alarm_temp_c", "B"),
    _Field("port_alarm_temp_c", "B"),
    _Field("unplug_detection", "B"),
    # The QR light byte arrived in V8.0; the unplug-detection byte reused a reserved byte
    # (V6.3).
    optional=(_Field("qr_light", "B"),),
)


@_RUN_PARAMETERS_2.bind
@dataclass(frozen=True, slots=True)
class RunParameters2(_DeclaredMessage):
    """0x84 run parameters 1.2 (reply: ``CommandResult``; read back with 0x91).

    Powers in 0.1 W, times in seconds. The two alarm temperatures are plain °C: the vendor
    notes that this setting "needs no conversion", unlike the +65 of measured temperatures.
    Vendor defaults: 800, 30, 1800, 10, 300, 10800, 300, 300, 1800, 300, 80, 80, 0, 1.
    """

    COMMAND: ClassVar[int] = 0x84

    dynamic_overload_power_w: float
    dynamic_overload_time_s: int
    dynamic_overload_start_s: int
    unplug_interference_power_w: float  # u8 on the wire
    unplug_interference_time_s: int
    float_second_check_point_s: int
    float_second_check_time_s: int
    min_power_w: float
    min_power_check_point_s: int
    second_max_power_point_s: int
    ambient_alarm_temp_c: int
    port_alarm_temp_c: int
    unplug_detection: int  # 0 on, anything else off
    qr_light: int | None = None  # 0 on, 1 off
    trailing: bytes = b""


_LIMITS = _Layout(
    _Field("max_duration_s", "H"),
    _Field("overload_power_w", "H", 10),
    # Over- and under-voltage arrived on 2024-08-07; the vendor's example has only the first
    # four bytes (section 4, 0x85).
    optional=(_Field("over_voltage_v", "H", 10), _Field("under_voltage_v", "H", 10)),
)


@_LIMITS.bind
@dataclass(frozen=True, slots=True)
class Limits(_DeclaredMessage):
    """0x85 limits (reply: ``CommandResult``, 1 = beyond the station's maximum; read: 0x92)."""

    COMMAND: ClassVar[int] = 0x85

    max_duration_s: int  # default 36000
    overload_power_w: float  # per port; at most 2000 W (3500 W for high-power models)
    over_voltage_v: float | None = None  # default 270.0
    under_voltage_v: float | None = None  # default 100.0
    trailing: bytes = b""


_CARD_KEYS = _Layout(_Field("sector", "B"), _Field("user_key", "6s"), _Field("new_card_key", "6s"))
CARD_KEY_SIZE = 6


@_CARD_KEYS.bind
@dataclass(frozen=True, slots=True)
class CardKeys(_DeclaredMessage):
    """0x86 M1 card keys (reply: ``CommandResult``; read back with 0x93).

    Vendor defaults: sector 0, user key 15 91 85 19 18 80, new-card key FF FF FF FF FF FF.
    """

    COMMAND: ClassVar[int] = 0x86

    sector: int
    user_key: bytes
    new_card_key: bytes
    trailing: bytes = b""


@dataclass(frozen=True, slots=True)
class Reboot(_EmptyMessage):
    """0x87 reboot (reply: ``CommandResult``, which may never arrive)."""

    COMMAND: ClassVar[int] = 0x87


@dataclass(frozen=True, slots=True)
class ClearMemory(_EmptyMessage):
    """0x88 clear the station's memory except its ids (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x88


_PLAY_VOICE = _Layout(_Field("interrupt", "B"), _Field("count", "B"), rest="segments")


@_PLAY_VOICE.bind
@dataclass(frozen=True, slots=True)
class PlayVoice(_DeclaredMessage):
    """0x89 play voice segments (reserved by the vendor; reply: ``CommandResult``).

    ``count`` is the number of segments as sent; the size of one segment is undocumented, so
    the segments are kept as bytes.
    """

    COMMAND: ClassVar[int] = 0x89

    interrupt: int  # 1 = interrupt the voice playing now
    count: int
    segments: bytes


_MODIFY_CHARGE = _Layout(_Field("mode", "B"), _Field("port", "B"), _Field("value", "H"))


@_MODIFY_CHARGE.bind
@dataclass(frozen=True, slots=True)
class ModifyCharge(_DeclaredMessage):
    """0x8A change the running order's limit (reply: ``CommandResult``).

    ``mode`` 0 time, 1 time but stop when full, 2 energy with stop when full; ``value`` is
    seconds or 0.01 kWh accordingly.
    """

    COMMAND: ClassVar[int] = 0x8A

    mode: int
    port: int
    value: int
    trailing: bytes = b""


_READ_EEPROM = _Layout(_Field("address", "H"), _Field("length", "B"))


@_READ_EEPROM.bind
@dataclass(frozen=True, slots=True)
class ReadEeprom(_DeclaredMessage):
    """0x8B read up to 32 bytes of EEPROM (reply: ``EepromReadReply``)."""

    COMMAND: ClassVar[int] = 0x8B

    address: int
    length: int
    trailing: bytes = b""


_EEPROM_HEAD = Struct("<HB")


@dataclass(frozen=True, slots=True)
class WriteEeprom(Message):
    """0x8C write up to 32 bytes of EEPROM (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x8C

    address: int
    data: bytes  # its length goes on the wire as the length byte
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode a 0x8C payload."""
        address, length = _unpack(cls, _EEPROM_HEAD, payload)
        end = _EEPROM_HEAD.size + length
        if len(payload) < end:
            raise _short(cls, payload, end)
        return cls(address, payload[_EEPROM_HEAD.size : end], payload[end:])

    def encode(self) -> bytes:
        """The 0x8C payload."""
        return _pack(_EEPROM_HEAD, self.address, len(self.data)) + self.data + self.trailing


_SET_WORK_MODE = _Layout(_Field("mode", "B"))


@_SET_WORK_MODE.bind
@dataclass(frozen=True, slots=True)
class SetWorkMode(_DeclaredMessage):
    """0x8D work mode: 0 online, 1 card only (reply: ``CommandResult``, 1 = unsupported)."""

    COMMAND: ClassVar[int] = 0x8D

    mode: int
    trailing: bytes = b""


_QR_TEXT_SIZE = 72
_QR_CODE = _Layout(
    _Field("screen", "B"),
    _Field("reserved", "3s"),
    # The text may fill 71 of the 72 bytes only: the last must stay 0 (see SetQrCode), and
    # struct pads the 71 to 72.
    _Field(
        "text",
        f"{_QR_TEXT_SIZE}s",
        _text,
        write=lambda text, name: _padded(text, _QR_TEXT_SIZE - 1, name),
    ),
)
_RESERVED_3 = bytes(3)


@_QR_CODE.bind
@dataclass(frozen=True, slots=True)
class SetQrCode(_DeclaredMessage):
    """0x8E QR code text of screen models (reply: ``CommandResult``).

    ``screen`` 0 shows the port states, 1 the QR code. The text takes at most 71 bytes: the
    last of the 72 must stay 0 or the station may stop working (vendor's warning).
    """

    COMMAND: ClassVar[int] = 0x8E

    screen: int
    text: str
    reserved: bytes = _RESERVED_3
    trailing: bytes = b""


_SET_CARD_BILLING_MODE = _Layout(_Field("mode", "B"))


@_SET_CARD_BILLING_MODE.bind
@dataclass(frozen=True, slots=True)
class SetCardBillingMode(_DeclaredMessage):
    """0x8F billing mode of card-only stations (reply: ``CommandResult``).

    Vendor's values: 0 time, 1 per use, 3 energy, 4 fixed fee, 5 home, 6 free choice.
    """

    COMMAND: ClassVar[int] = 0x8F

    mode: int
    trailing: bytes = b""


_READ_PARAMETERS = _Layout(params=("command",))


@_READ_PARAMETERS.bind
@dataclass(frozen=True, slots=True)
class ReadParameters(Message):
    """0x90-0x93 read back the parameters of 0x83 / 0x84 / 0x85 / 0x86.

    The station answers with the setting command's layout, without a result byte, so
    ``decode_station_reply`` returns a ``RunParameters1`` / ``RunParameters2`` / ``Limits`` /
    ``CardKeys``.
    """

    COMMANDS: ClassVar[frozenset[int]] = frozenset({0x90, 0x91, 0x92, 0x93})

    # field() stops dataclass from taking the inherited Message.command property as a default.
    command: int = field()
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes, *, command: int) -> Self:
        """Decode the (empty) payload of ``command``."""
        return _READ_PARAMETERS.decode(cls, payload, command)


_TEMPORARY_QR_SIZE = 200
_TEMPORARY_QR = _Layout(_Field("text", f"{_TEMPORARY_QR_SIZE}s", _text))


@_TEMPORARY_QR.bind
@dataclass(frozen=True, slots=True)
class TemporaryQrCode(_DeclaredMessage):
    """0x95 temporary QR code of screen models: up to 200 bytes (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x95

    text: str
    trailing: bytes = b""


_LOCATE = _Layout(_Field("duration_s", "B"))


@_LOCATE.bind
@dataclass(frozen=True, slots=True)
class Locate(_DeclaredMessage):
    """0x96 sound and light to find the station (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x96

    duration_s: int
    trailing: bytes = b""


_MUTE = _Layout(_Field("mute", "B"))


@_MUTE.bind
@dataclass(frozen=True, slots=True)
class Mute(_DeclaredMessage):
    """0x97 run parameters 1.3: mute 1 silences the station (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x97

    mute: int
    trailing: bytes = b""


_LOCKER_RELEASE = _Layout(_Field("port", "B"), _Field("order_no", "16s"))


@_LOCKER_RELEASE.bind
@dataclass(frozen=True, slots=True)
class LockerRelease(_DeclaredMessage):
    """0x72 locker: stop charging without opening the door (reply: ``CommandResult``).

    The reply echoes the order number after the result; it is in ``CommandResult.trailing``.
    """

    COMMAND: ClassVar[int] = 0x72

    port: int
    order_no: bytes
    trailing: bytes = b""


_LOCKER_DOOR = _Layout(_Field("function", "B"), _Field("port", "B"))


@_LOCKER_DOOR.bind
@dataclass(frozen=True, slots=True)
class LockerDoor(_DeclaredMessage):
    """0x98 multi-function command: function 0 forces a locker door open."""

    COMMAND: ClassVar[int] = 0x98

    function: int
    port: int
    trailing: bytes = b""


@dataclass(frozen=True, slots=True)
class HostReboot(_EmptyMessage):
    """0x31 reboot a host gateway (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x31


@dataclass(frozen=True, slots=True)
class ModuleReboot(_EmptyMessage):
    """0x32 reboot a host gateway's communication module (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x32


@dataclass(frozen=True, slots=True)
class ClearSubUpgrade(_EmptyMessage):
    """0x33 clear a host gateway's sub-station upgrade data (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x33


_SERVER_ADDRESS_SIZE = 46
_SERVER_ADDRESS = _Layout(
    _Field("port", "H"),
    _Field("module_type", "B"),
    _Field("socket_b", "B"),
    _Field("address", f"{_SERVER_ADDRESS_SIZE}s", _text),
)


@_SERVER_ADDRESS.bind
@dataclass(frozen=True, slots=True)
class ChangeServerAddress(_DeclaredMessage):
    """0x34 point a host gateway at another server (reply: ``CommandResult``).

    ``port`` is the TCP port here, not a charging port (the vendor's name and example).
    """

    COMMAND: ClassVar[int] = 0x34

    port: int
    module_type: int
    socket_b: int
    address: str
    trailing: bytes = b""


_FIRMWARE_PACKET = _Layout(
    _Field("total", "H"), _Field("current", "H"), params=("command",), rest="data"
)


@_FIRMWARE_PACKET.bind
@dataclass(frozen=True, slots=True)
class FirmwarePacket(Message):
    """One firmware upgrade packet (reply: ``FirmwareReply``).

    E0 sub-station, E1 power board, E2 host, F8 old stations, F9/FA: packets of 200 bytes (256
    for F8/F9), ``current`` counting from 1. The self-downloading upgrade E4 carries no packet
    and is ``UpgradeTrigger``; an FA with an empty payload is ``HostUpgradeStart``. A 256-byte
    F8/F9 packet makes a 260-byte payload, beyond the 247 bytes of the generic frame cap: the
    command's own rule wins, and ``frame.LONG_FRAME_COMMANDS`` lets these frames through
    (downstream only).
    """

    COMMANDS: ClassVar[frozenset[int]] = frozenset({0xE0, 0xE1, 0xE2, 0xF8, 0xF9, 0xFA})

    # field() stops dataclass from taking the inherited Message.command property as a default.
    command: int = field()
    total: int
    current: int
    data: bytes

    @classmethod
    def decode(cls, payload: bytes, *, command: int) -> Self:
        """Decode a firmware packet of ``command``."""
        return _FIRMWARE_PACKET.decode(cls, payload, command)


@dataclass(frozen=True, slots=True)
class HostUpgradeStart(_EmptyMessage):
    """0xFA with an empty payload: put a host gateway into its upgrade state.

    The host document (4.4): the host answers ``result u8`` and ``0000`` (a
    ``FirmwareReply`` with ``current`` 0), which also counts as its request for packet 1.
    """

    COMMAND: ClassVar[int] = 0xFA


@dataclass(frozen=True, slots=True)
class UpgradeTrigger(_EmptyMessage):
    """0xE4 trigger the self-downloading upgrade of special models (empty payload)."""

    COMMAND: ClassVar[int] = 0xE4


# ---------------------------------------------------------------------------------------------
# Dispatch

DownstreamCommand = (
    QueryStatus
    | ChargeControl
    | RunParameters1
    | RunParameters2
    | Limits
    | CardKeys
    | Reboot
    | ClearMemory
    | PlayVoice
    | ModifyCharge
    | ReadEeprom
    | WriteEeprom
    | SetWorkMode
    | SetQrCode
    | SetCardBillingMode
    | ReadParameters
    | TemporaryQrCode
    | Locate
    | Mute
    | LockerRelease
    | LockerDoor
    | HostReboot
    | ModuleReboot
    | ClearSubUpgrade
    | ChangeServerAddress
    | FirmwarePacket
    | HostUpgradeStart
    | UpgradeTrigger
    | UnknownMessage
)

_DOWNSTREAM: dict[int, Callable[[bytes], DownstreamCommand]] = {
    cls.COMMAND: _decoder(cls)
    for cls in (
        QueryStatus,
        ChargeControl,
        RunParameters1,
        RunParameters2,
        Limits,
        CardKeys,
        Reboot,
        ClearMemory,
        PlayVoice,
        ModifyCharge,
        ReadEeprom,
        WriteEeprom,
        SetWorkMode,
        SetQrCode,
        SetCardBillingMode,
        TemporaryQrCode,
        Locate,
        Mute,
        LockerRelease,
        LockerDoor,
        HostReboot,
        ModuleReboot,
        ClearSubUpgrade,
        ChangeServerAddress,
        UpgradeTrigger,
    )
}
_DOWNSTREAM.update(
    {
        command: partial(_decoder(ReadParameters), command=command)
        for command in ReadParameters.COMMANDS
    }
)
_DOWNSTREAM.update(
    {
        command: partial(_decoder(FirmwarePacket), command=command)
        for command in FirmwarePacket.COMMANDS
    }
)

_decode_fa_packet = _DOWNSTREAM[HostUpgradeStart.COMMAND]
_decode_fa_start = _decoder(HostUpgradeStart)


def _decode_fa(payload: bytes) -> DownstreamCommand:
    """0xFA is both the host's upgrade start (empty) and its packets (host document 4.4)."""
    return _decode_fa_start(payload) if not payload else _decode_fa_packet(payload)


_DOWNSTREAM[HostUpgradeStart.COMMAND] = _decode_fa

DOWNSTREAM_COMMANDS: frozenset[int] = frozenset(_DOWNSTREAM)
"""Command bytes the server sends (section 4); the station's replies reuse them."""


def decode_downstream(command: int, payload: bytes) -> DownstreamCommand:
    """Decode a server command (the simulator's side); unknown gives ``UnknownMessage``."""
    decoder = _DOWNSTREAM.get(command)
    if decoder is None:
        return _new_unknown(command, payload)
    return decoder(payload)
