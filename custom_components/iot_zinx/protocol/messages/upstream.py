"""Upstream messages: what a station or host gateway sends on its own (docs/protocol.md 3).

The server's replies to them are in ``replies.py``. ``decode_upstream`` is the server's per-frame
decoder: a dictionary look-up, then the class's generated (``layout.py``) or hand-written
decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from struct import Struct
from typing import Any, ClassVar, Self, cast

from custom_components.iot_zinx.protocol.codes import firmware_text

from .layout import (
    _DECODERS,
    Message,
    UnknownMessage,
    _DeclaredMessage,
    _decoder,
    _EmptyMessage,
    _fast_constructor,
    _Field,
    _Layout,
    _new_unknown,
    _pack,
    _short,
    _Tail,
    _twin,
    _unpack,
)
from .values import (
    _card_hex,
    _card_id_bytes,
    _opt_div,
    _read_card_id,
    _text,
    temperature_from_wire,
    temperature_to_wire,
)

_U8 = Struct("<B")
_U32 = Struct("<I")
_TWO_U8 = Struct("<BB")
# Per-port arrays of the heartbeats 0x21 and 0x01, one precompiled layout per port count.
_U8_ARRAYS = tuple(Struct(f"<{count}B") for count in range(256))
_U16_ARRAYS = tuple(Struct(f"<{count}H") for count in range(256))


# ---------------------------------------------------------------------------------------------
# Upstream: station / host -> server (docs/protocol.md section 3)

_REGISTER = _Layout(
    _Field("firmware", "H"),
    _Field("port_count", "B"),
    _Field("virtual_id", "B"),
    _Field("device_type", "B"),
    # work_mode arrived in V7.0, power_board_version in V7.8 (vendor change log).
    optional=(_Field("work_mode", "B"), _Field("power_board_version", "H")),
)


@_REGISTER.bind
@dataclass(frozen=True, slots=True)
class Register(_DeclaredMessage):
    """0x20 register, sent at power-up and on every change (reply: ``ResultReply``)."""

    COMMAND: ClassVar[int] = 0x20

    firmware: int
    port_count: int
    virtual_id: int
    device_type: int
    work_mode: int | None = None
    power_board_version: int | None = None
    trailing: bytes = b""

    @property
    def firmware_version(self) -> str:
        """``"V1.26"`` for firmware 126."""
        return firmware_text(self.firmware)


_HEARTBEAT_HEAD = Struct("<HB")


def _check_port_count(owner: str, port_count: int, *per_port: tuple[Any, ...]) -> None:
    for values in per_port:
        if len(values) != port_count:
            raise ValueError(f"{owner} has port_count {port_count} but {len(values)} port values")


@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    """0x21 heartbeat, every 3 minutes by default (reply: ``ResultReply``)."""

    COMMAND: ClassVar[int] = 0x21

    voltage_v: float
    port_count: int
    port_statuses: tuple[int, ...]  # codes.PortStatus values, one per port (section 7.1)
    signal: int
    temperature_c: int | None
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode a 0x21 payload."""
        return cast(Self, _decode_heartbeat(payload))

    def encode(self) -> bytes:
        """The 0x21 payload."""
        _check_port_count("Heartbeat", self.port_count, self.port_statuses)
        return (
            _pack(_HEARTBEAT_HEAD, round(self.voltage_v * 10), self.port_count)
            + bytes(self.port_statuses)
            + _pack(_TWO_U8, self.signal, temperature_to_wire(self.temperature_c))
            + self.trailing
        )


_blank_heartbeat: Callable[[], Any] = _twin(Heartbeat)


def _decode_heartbeat(payload: bytes) -> Heartbeat:
    """``Heartbeat.decode``: the message is filled as its twin, then handed to its class.

    Built like the generated decoders (layout.py, "Fast construction"), by hand because the
    per-port array makes the layout irregular.
    """
    size = len(payload)
    if size < _HEARTBEAT_HEAD.size:
        raise _short(Heartbeat, payload, _HEARTBEAT_HEAD.size)
    voltage, count = _HEARTBEAT_HEAD.unpack_from(payload)
    end = 5 + count
    if size < end:
        raise _short(Heartbeat, payload, end)
    message = _blank_heartbeat()
    message.voltage_v = voltage / 10
    message.port_count = count
    message.port_statuses = _U8_ARRAYS[count].unpack_from(payload, 3)
    message.signal = payload[end - 2]
    temperature = payload[end - 1]
    message.temperature_c = temperature - 65 if temperature else None  # temperature_from_wire
    message.trailing = payload[end:] if size > end else b""
    message.__class__ = Heartbeat
    built: Heartbeat = message
    return built


_DECODERS[Heartbeat] = _decode_heartbeat  # what the dispatch table calls (see _decoder)


_LEGACY_HEAD = Struct("<HHB")
_LEGACY_FOOT = Struct("<BBBB")
# V8.6 removed work_mode from 0x01 (vendor change log), so it is optional.
_LEGACY_TAIL = _Tail(("work_mode", "B"))


@dataclass(frozen=True, slots=True)
class LegacyHeartbeat(Message):
    """0x01 heartbeat of old stations, little-endian like the rest (reply: ``ResultReply``)."""

    COMMAND: ClassVar[int] = 0x01

    firmware: int
    voltage_v: float
    port_count: int
    port_statuses: tuple[int, ...]
    power_w: tuple[float, ...]  # current power per port
    peak_power_w: tuple[float, ...]  # peak power per port since its charge started
    virtual_id: int
    signal: int
    device_type: int
    temperature_c: int | None
    work_mode: int | None = None
    trailing: bytes = b""

    @property
    def firmware_version(self) -> str:
        """``"V1.26"`` for firmware 126."""
        return firmware_text(self.firmware)

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode a 0x01 payload."""
        firmware, voltage, count = _unpack(cls, _LEGACY_HEAD, payload)
        powers_at = _LEGACY_HEAD.size + count
        peaks_at = powers_at + 2 * count
        foot_at = peaks_at + 2 * count
        end = foot_at + _LEGACY_FOOT.size
        if len(payload) < end:
            raise _short(cls, payload, end)
        array = _U16_ARRAYS[count]
        virtual_id, signal, device_type, temperature = _LEGACY_FOOT.unpack_from(payload, foot_at)
        work_mode = None
        if len(payload) > end:
            work_mode = payload[end]
            end += 1
        message: Self = _new_legacy_heartbeat(
            firmware,
            voltage / 10,
            count,
            tuple(payload[_LEGACY_HEAD.size : powers_at]),
            tuple(raw / 10 for raw in array.unpack_from(payload, powers_at)),
            tuple(raw / 10 for raw in array.unpack_from(payload, peaks_at)),
            virtual_id,
            signal,
            device_type,
            temperature_from_wire(temperature),
            work_mode,
            payload[end:],
        )
        return message

    def encode(self) -> bytes:
        """The 0x01 payload."""
        _check_port_count(
            "LegacyHeartbeat", self.port_count, self.port_statuses, self.power_w, self.peak_power_w
        )
        array = _U16_ARRAYS[self.port_count]
        return (
            _pack(_LEGACY_HEAD, self.firmware, round(self.voltage_v * 10), self.port_count)
            + bytes(self.port_statuses)
            + _pack(array, *(round(power * 10) for power in self.power_w))
            + _pack(array, *(round(power * 10) for power in self.peak_power_w))
            + _pack(
                _LEGACY_FOOT,
                self.virtual_id,
                self.signal,
                self.device_type,
                temperature_to_wire(self.temperature_c),
            )
            + _LEGACY_TAIL.pack("LegacyHeartbeat", self.work_mode)
            + self.trailing
        )


_new_legacy_heartbeat = _fast_constructor(LegacyHeartbeat)


@dataclass(frozen=True, slots=True)
class TimeRequest(_EmptyMessage):
    """0x22 the station asks for the time (reply: ``TimeReply``)."""

    COMMAND: ClassVar[int] = 0x22


@dataclass(frozen=True, slots=True)
class HostTimeRequest(_EmptyMessage):
    """0x12 a host gateway asks for the time (reply: ``TimeReply``)."""

    COMMAND: ClassVar[int] = 0x12


_CARD_SWIPE = Struct("<4sBBH")
_CARD_SWIPE_TAIL = _Tail(("timestamp", "I"))
_CARD_SWIPE_END = _CARD_SWIPE.size + _U32.size  # after the timestamp


@dataclass(frozen=True, slots=True)
class CardSwipe(Message):
    """0x02 card swipe (reply: ``CardReply``); port 0xFF asks for the balance only."""

    COMMAND: ClassVar[int] = 0x02

    card_id: int
    card_type: int
    port: int
    balance_fen: int
    timestamp: int | None = None  # station clock, debug only (V8.0)
    card2: bytes | None = None  # long card number, e.g. social-security cards (2023-12)
    trailing: bytes = b""

    @property
    def card_hex(self) -> str:
        """The card id as 8 upper-case hex digits, e.g. ``"7A8D05DD"``."""
        return _card_hex(self.card_id)

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode a 0x02 payload."""
        card, card_type, port, balance = _unpack(cls, _CARD_SWIPE, payload)
        timestamp = card2 = None
        end = _CARD_SWIPE.size
        if len(payload) >= _CARD_SWIPE_END:
            (timestamp,) = _U32.unpack_from(payload, end)
            end = _CARD_SWIPE_END
            if len(payload) > end:
                # card2_len u8, then card2. If fewer bytes follow than announced, the whole
                # rest stays in trailing so that nothing is lost.
                card2_end = end + 1 + payload[end]
                if len(payload) >= card2_end:
                    card2 = payload[end + 1 : card2_end]
                    end = card2_end
        message: Self = _new_card_swipe(
            _read_card_id(card), card_type, port, balance, timestamp, card2, payload[end:]
        )
        return message

    def encode(self) -> bytes:
        """The 0x02 payload."""
        card2 = b""
        if self.card2 is not None:
            if self.timestamp is None:
                raise ValueError("CardSwipe.card2 is set but the earlier timestamp is not")
            card2 = _pack(_U8, len(self.card2)) + self.card2
        return (
            _pack(
                _CARD_SWIPE,
                _card_id_bytes(self.card_id),
                self.card_type,
                self.port,
                self.balance_fen,
            )
            + _CARD_SWIPE_TAIL.pack("CardSwipe", self.timestamp)
            + card2
            + self.trailing
        )


_new_card_swipe = _fast_constructor(CardSwipe)


# The base layout of 0x03, which 0x43 has too.
_SETTLEMENT_BASE = (
    _Field("duration_s", "H"),
    _Field("max_power_w", "H", 10),
    _Field("energy_kwh", "H", 100),
    _Field("port", "B"),
    _Field("start_mode", "B"),
    _Field("card_id", "4s", _read_card_id),
    _Field("stop_reason", "B"),
    _Field("order_no", "16s"),
)
_SETTLEMENT = _Layout(
    *_SETTLEMENT_BASE,
    # second_max_power ends the documented base layout; it is optional too because a
    # settlement that failed to decode would never be acknowledged and the station resends it
    # every 30 min forever (section 3, 0x03). timestamp arrived in V8.0, occupancy in V8.5.
    optional=(
        _Field("second_max_power_w", "H", 10),
        _Field("timestamp", "I"),
        _Field("occupancy_min", "H"),
    ),
)


@_SETTLEMENT.bind
@dataclass(frozen=True, slots=True)
class Settlement(_DeclaredMessage):
    """0x03 settlement of a finished order; resent until acknowledged with ``ResultReply``."""

    COMMAND: ClassVar[int] = 0x03

    duration_s: int
    max_power_w: float
    energy_kwh: float
    port: int
    start_mode: int  # 0 offline card, 1 online, 3 verification code
    card_id: int  # 0 for online starts; the verification code for code starts
    stop_reason: int  # codes.StopReason (section 7.3)
    order_no: bytes
    second_max_power_w: float | None = None  # maximum in the first 5 minutes
    timestamp: int | None = None  # station clock, debug only
    occupancy_min: int | None = None  # charging lockers only
    trailing: bytes = b""

    @property
    def card_hex(self) -> str:
        """The card id as 8 upper-case hex digits (``"00000000"`` for online starts)."""
        return _card_hex(self.card_id)


_LEGACY_ORDER = _Layout(
    _Field("port", "B"),
    _Field("start_mode", "B"),
    _Field("card_id", "4s", _read_card_id),
    _Field("duration_s", "H"),
    _Field("order_no", "16s"),
)


@_LEGACY_ORDER.bind
@dataclass(frozen=True, slots=True)
class LegacyOrderConfirm(_DeclaredMessage):
    """0x04 order confirmation of pre-2019 stations (reply: ``OrderConfirmReply``)."""

    COMMAND: ClassVar[int] = 0x04

    port: int
    start_mode: int
    card_id: int
    duration_s: int  # charged so far
    order_no: bytes
    trailing: bytes = b""

    @property
    def card_hex(self) -> str:
        """The card id as 8 upper-case hex digits."""
        return _card_hex(self.card_id)


# The old F8 stations request with 0x05 long before its payload was documented (2024-10):
# every field is optional, so a shorter 0x05 is still an upgrade request.
_UPGRADE_REQUEST = _Layout(
    optional=(_Field("device_type", "B"), _Field("firmware", "H"), _Field("package_type", "I"))
)


@_UPGRADE_REQUEST.bind
@dataclass(frozen=True, slots=True)
class UpgradeRequest(_DeclaredMessage):
    """0x05 the station asks to be upgraded (no reply); an old F8 station restarts with it.

    The vendor's F8 section: on a 0x05 the server sends the image again from packet 1.
    """

    COMMAND: ClassVar[int] = 0x05

    device_type: int | None = None
    firmware: int | None = None
    package_type: int | None = None
    trailing: bytes = b""

    @property
    def firmware_version(self) -> str | None:
        """``"V1.26"`` for firmware 126."""
        return None if self.firmware is None else firmware_text(self.firmware)


@dataclass(frozen=True, slots=True)
class HostUpgradeRequest(_EmptyMessage):
    """0x15 the old RS-485 host asks for its F9 upgrade (reply: ``ResultReply``).

    Host document 4.5: sent only after a failed upgrade and a restart; the server answers and
    sends the image again from packet 1.
    """

    COMMAND: ClassVar[int] = 0x15


_POWER = _Layout(
    _Field("port", "B"),
    _Field("status", "B"),
    _Field("duration_s", "H"),
    _Field("energy_kwh", "H", 100),
    _Field("start_mode", "B"),
    _Field("power_w", "H", 10),
    _Field("max_power_w", "H", 10),
    _Field("min_power_w", "H", 10),
    _Field("avg_power_w", "H", 10),
    _Field("order_no", "16s"),
    # Everything after order_no was appended over time (section 3, 0x06): interval energy in
    # V6.2, peak power in V7.0, voltage/current/temperatures in V7.8, timestamp in V8.0,
    # occupancy in V8.5.
    optional=(
        _Field("interval_energy_raw", "H"),
        _Field("peak_power_w", "H", 10),
        _Field("voltage_v", "H", 10),
        _Field("current_a", "H", 1000),
        _Field("ambient_temp_raw", "B"),
        _Field("port_temp_raw", "B"),
        _Field("timestamp", "I"),
        _Field("occupancy_min", "H"),
    ),
)


@_POWER.bind
@dataclass(frozen=True, slots=True)
class PowerHeartbeat(_DeclaredMessage):
    """0x06 power heartbeat of a charging port, every 5 minutes by default (no reply).

    The two temperatures are optional *and* may read "no sensor", so they are kept as wire
    bytes: ``ambient_temp_raw`` / ``port_temp_raw`` are ``None`` when the payload ends before
    them and 0 when the station has no such sensor; ``ambient_temp_c`` / ``port_temp_c`` give
    degrees Celsius or ``None`` for both cases.
    """

    COMMAND: ClassVar[int] = 0x06

    port: int
    status: int  # codes.PowerStatus: 1 charging, 3 full, 5 float charging; others are noise
    duration_s: int
    energy_kwh: float  # the order so far
    start_mode: int
    power_w: float
    max_power_w: float  # over the interval
    min_power_w: float
    avg_power_w: float
    order_no: bytes
    interval_energy_raw: int | None = None  # debug: divide by 4800 (vendor's note)
    peak_power_w: float | None = None  # over the whole order
    voltage_v: float | None = None
    current_a: float | None = None
    ambient_temp_raw: int | None = None
    port_temp_raw: int | None = None
    timestamp: int | None = None  # station clock, debug only
    occupancy_min: int | None = None  # charging lockers only
    trailing: bytes = b""

    @property
    def ambient_temp_c(self) -> int | None:
        """Ambient temperature in °C; ``None`` when absent or without a sensor."""
        raw = self.ambient_temp_raw
        return None if raw is None else temperature_from_wire(raw)

    @property
    def port_temp_c(self) -> int | None:
        """Port temperature in °C; ``None`` when absent or without a sensor."""
        raw = self.port_temp_raw
        return None if raw is None else temperature_from_wire(raw)


_HOST_HEARTBEAT = _Layout(
    _Field("firmware", "H"),
    _Field("rtc", "B"),
    _Field("host_time", "I"),
    _Field("signal", "B"),
    _Field("module_type", "B"),
    _Field("iccid", "20s", _text),
    _Field("host_type", "B"),
    _Field("frequency", "H"),
    optional=(_Field("imei", "15s", _text), _Field("module_version", "24s", _text)),
)


@_HOST_HEARTBEAT.bind
@dataclass(frozen=True, slots=True)
class HostHeartbeat(_DeclaredMessage):
    """0x11 host gateway heartbeat, every 30 minutes (no reply). Text fields are NUL-padded."""

    COMMAND: ClassVar[int] = 0x11

    firmware: int
    rtc: int  # 0 = the host has no real-time clock
    host_time: int
    signal: int  # 0-31, 99 error; some modules report + 100
    module_type: int
    iccid: str
    host_type: int
    frequency: int
    imei: str | None = None
    module_version: str | None = None
    trailing: bytes = b""

    @property
    def firmware_version(self) -> str:
        """``"V1.01"`` for firmware 101."""
        return firmware_text(self.firmware)


# The host document names the 0x17 fields without sizes (section 3). These sizes are an
# assumption: breaker u8, temperature u8 (+65), voltage u16 (0.1 V), current u16 (0.01 A),
# energy u32 (0.01 kWh), meter current u16 (0.01 A), meter energy u32 (0.01 kWh), smoke alarm
# u8, alarm relay u8, leakage u16 (mA), live and neutral temperature u8 (+65), lock state u8,
# breaker style u8. Every field is optional and kept as its wire integer, so a wrong guess
# loses nothing (the payload re-encodes byte-identically); the properties give scaled values.
_HOST_STATUS = _Layout(
    optional=(
        _Field("breaker", "B"),
        _Field("temperature_raw", "B"),
        _Field("voltage_raw", "H"),
        _Field("current_raw", "H"),
        _Field("energy_raw", "I"),
        _Field("meter_current_raw", "H"),
        _Field("meter_energy_raw", "I"),
        _Field("smoke_alarm", "B"),
        _Field("alarm_relay", "B"),
        _Field("leakage_ma", "H"),
        _Field("live_temp_raw", "B"),
        _Field("neutral_temp_raw", "B"),
        _Field("lock_state", "B"),
        _Field("breaker_style", "B"),
    ),
)


@_HOST_STATUS.bind
@dataclass(frozen=True, slots=True)
class HostStatus(_DeclaredMessage):
    """0x17 host gateway status, best effort (no reply); plain charging hosts fill only part."""

    COMMAND: ClassVar[int] = 0x17

    breaker: int | None = None
    temperature_raw: int | None = None
    voltage_raw: int | None = None
    current_raw: int | None = None
    energy_raw: int | None = None
    meter_current_raw: int | None = None
    meter_energy_raw: int | None = None
    smoke_alarm: int | None = None
    alarm_relay: int | None = None
    leakage_ma: int | None = None
    live_temp_raw: int | None = None
    neutral_temp_raw: int | None = None
    lock_state: int | None = None
    breaker_style: int | None = None
    trailing: bytes = b""

    @property
    def temperature_c(self) -> int | None:
        """Host temperature in °C (``None`` when absent or without a sensor)."""
        raw = self.temperature_raw
        return None if raw is None else temperature_from_wire(raw)

    @property
    def voltage_v(self) -> float | None:
        """Voltage in V."""
        return _opt_div(self.voltage_raw, 10)

    @property
    def current_a(self) -> float | None:
        """Current in A (assumed 0.01 A units)."""
        return _opt_div(self.current_raw, 100)

    @property
    def energy_kwh(self) -> float | None:
        """Energy in kWh."""
        return _opt_div(self.energy_raw, 100)

    @property
    def meter_current_a(self) -> float | None:
        """Meter current in A (assumed 0.01 A units)."""
        return _opt_div(self.meter_current_raw, 100)

    @property
    def meter_energy_kwh(self) -> float | None:
        """Meter energy in kWh."""
        return _opt_div(self.meter_energy_raw, 100)

    @property
    def live_temp_c(self) -> int | None:
        """Live conductor temperature in °C."""
        raw = self.live_temp_raw
        return None if raw is None else temperature_from_wire(raw)

    @property
    def neutral_temp_c(self) -> int | None:
        """Neutral conductor temperature in °C."""
        raw = self.neutral_temp_raw
        return None if raw is None else temperature_from_wire(raw)


_SUB_STATION = Struct("<BBHI")


@dataclass(frozen=True, slots=True)
class SubStationVersion:
    """One entry of 0x35: the minimum firmware of one sub-station type behind a host."""

    device_type: int
    reserved: int
    min_firmware: int
    physical_id: int  # little-endian like the frame's physical id

    @property
    def device_id(self) -> str:
        """The 8-hex-digit text form of ``physical_id``."""
        return f"{self.physical_id:08X}"


@dataclass(frozen=True, slots=True)
class SubStationVersions(Message):
    """0x35 sub-station versions reported by a host gateway (no reply)."""

    COMMAND: ClassVar[int] = 0x35

    entries: tuple[SubStationVersion, ...]
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode a 0x35 payload: ``count u8`` then ``count`` entries of 8 bytes."""
        (count,) = _unpack(cls, _U8, payload)
        end = 1 + count * _SUB_STATION.size
        if len(payload) < end:
            raise _short(cls, payload, end)
        entries = tuple(
            SubStationVersion(*values) for values in _SUB_STATION.iter_unpack(payload[1:end])
        )
        return cls(entries, payload[end:])

    def encode(self) -> bytes:
        """The 0x35 payload."""
        body = b"".join(
            _pack(
                _SUB_STATION,
                entry.device_type,
                entry.reserved,
                entry.min_firmware,
                entry.physical_id,
            )
            for entry in self.entries
        )
        return _pack(_U8, len(self.entries)) + body + self.trailing


_LOCKER_HEARTBEAT = _Layout(
    _Field("port_count", "B"), _Field("door_bits", "I"), _Field("fan_bits", "I")
)


@_LOCKER_HEARTBEAT.bind
@dataclass(frozen=True, slots=True)
class LockerHeartbeat(_DeclaredMessage):
    """0x41 charging-locker heartbeat (no reply): one bit per port, 1 = door open / fan on."""

    COMMAND: ClassVar[int] = 0x41

    port_count: int
    door_bits: int
    fan_bits: int
    trailing: bytes = b""


_ALARM = _Layout(_Field("alarm_type", "B"), _Field("port", "B"), _Field("trigger_bits", "B"))


@_ALARM.bind
@dataclass(frozen=True, slots=True)
class Alarm(_DeclaredMessage):
    """0x42 alarm (no reply): ``alarm_type`` is codes.AlarmType (section 7.5)."""

    COMMAND: ClassVar[int] = 0x42

    alarm_type: int
    port: int  # the port, or the RS-485 address of the sensor; meaningless for a power cut
    trigger_bits: int
    trailing: bytes = b""


_LOCKER_DONE = _Layout(*_SETTLEMENT_BASE)


@_LOCKER_DONE.bind
@dataclass(frozen=True, slots=True)
class LockerChargeDone(_DeclaredMessage):
    """0x43 a locker's charge finished, without settlement (no reply): 0x03's base fields.

    The vendor's table for 0x43 ends with the order number (no second maximum power), so
    anything after it is kept in ``trailing``.
    """

    COMMAND: ClassVar[int] = 0x43

    duration_s: int
    max_power_w: float
    energy_kwh: float
    port: int
    start_mode: int
    card_id: int
    stop_reason: int
    order_no: bytes
    trailing: bytes = b""

    @property
    def card_hex(self) -> str:
        """The card id as 8 upper-case hex digits."""
        return _card_hex(self.card_id)


_PORT_NOTICE = _Layout(_Field("notice_type", "B"), _Field("port", "B"), _Field("order_no", "16s"))


@_PORT_NOTICE.bind
@dataclass(frozen=True, slots=True)
class PortNotice(_DeclaredMessage):
    """0x44 port notice (no reply): ``notice_type`` 1 = locker door not closed."""

    COMMAND: ClassVar[int] = 0x44

    notice_type: int
    port: int
    order_no: bytes
    trailing: bytes = b""


# ---------------------------------------------------------------------------------------------
# Dispatch

UpstreamMessage = (
    Register
    | Heartbeat
    | LegacyHeartbeat
    | TimeRequest
    | HostTimeRequest
    | CardSwipe
    | Settlement
    | LegacyOrderConfirm
    | UpgradeRequest
    | HostUpgradeRequest
    | PowerHeartbeat
    | HostHeartbeat
    | HostStatus
    | SubStationVersions
    | LockerHeartbeat
    | Alarm
    | LockerChargeDone
    | PortNotice
    | UnknownMessage
)

_UPSTREAM: dict[int, Callable[[bytes], UpstreamMessage]] = {
    cls.COMMAND: _decoder(cls)
    for cls in (
        Register,
        Heartbeat,
        LegacyHeartbeat,
        TimeRequest,
        HostTimeRequest,
        CardSwipe,
        Settlement,
        LegacyOrderConfirm,
        UpgradeRequest,
        HostUpgradeRequest,
        PowerHeartbeat,
        HostHeartbeat,
        HostStatus,
        SubStationVersions,
        LockerHeartbeat,
        Alarm,
        LockerChargeDone,
        PortNotice,
    )
}

UPSTREAM_COMMANDS: frozenset[int] = frozenset(_UPSTREAM)
"""Command bytes a station sends on its own (section 3); the server's replies reuse them."""


def decode_upstream(command: int, payload: bytes) -> UpstreamMessage:
    """Decode what a station sent on its own; an unknown command gives ``UnknownMessage``."""
    # A subscript is quicker than .get (no method call); the handler costs nothing unless
    # the command is unknown.
    try:
        decoder = _UPSTREAM[command]
    except KeyError:
        return _new_unknown(command, payload)
    return decoder(payload)
