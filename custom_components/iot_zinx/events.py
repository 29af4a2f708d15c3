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
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
import hashlib
import random
import time
from typing import TYPE_CHECKING, Any, Final
import uuid

from homeassistant.util import dt as dt_util

from .models import HOST_KINDS, Order
from .protocol import codes
from .protocol.frame import device_kind
from .protocol.messages import (
    Alarm,
    CardReply,
    CardSwipe,
    Heartbeat,
    HostHeartbeat,
    LegacyHeartbeat,
    PowerHeartbeat,
    Register,
    Settlement,
    order_no_text,
)

if TYPE_CHECKING:
    from .models import StationState
    from .protocol.server import OfflineReason, StationLink

type Envelope = dict[str, Any]

# docs/protocol.md 3 (0x21): stations heartbeat every 3 minutes unless 0x83 changes it; that is
# what the gateway expects, whatever timeout it allows before calling a station offline.
HEARTBEAT_PERIOD_S: Final = 180
# device_online.device_type (docs/events.md): 1 a charging station, 2 anything else.
DEVICE_TYPE_STATION: Final = 1
DEVICE_TYPE_OTHER: Final = 2
# 0x02 card swipe: port 0xFF asks for the balance only (docs/protocol.md 3).
PORT_ANY: Final = 0xFF
SETTLEMENT_TYPE_NORMAL: Final = "normal"
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_FEN_PER_CNY: Final = Decimal(100)


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
) -> Envelope:
    """The docs/events.md envelope: a fresh UUID4 ``event_id``, ``timestamp`` in Unix seconds."""
    event: Envelope = {
        "event_id": new_event_id(),
        "event_type": str(event_type),
        "device_id": station_id,
    }
    if port_number is not None:
        event["port_number"] = port_number
    event["timestamp"] = int(_now(timestamp))
    event["data"] = data
    return event


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


def device_type_of(physical_id: int) -> int:
    """``device_online.device_type``: 2 for a host gateway (kind 09/0A), else 1."""
    return DEVICE_TYPE_OTHER if device_kind(physical_id) in HOST_KINDS else DEVICE_TYPE_STATION


# --- connection ----------------------------------------------------------------------------


def device_online(
    link: StationLink, station: StationState, *, timestamp: float | None = None
) -> Envelope:
    """First valid frame of a physical id on a new connection.

    ``firmware_version`` and ``iccid`` are documented as "once known", so they are left out
    until a register (or an earlier connection) told the firmware and the module its ICCID.
    """
    data: dict[str, Any] = {
        "conn_id": link.conn_id,
        "remote_addr": link.remote_addr,
        "connect_time": int(link.connected_at),
        "device_type": device_type_of(link.physical_id),
    }
    if station.firmware_version is not None:
        data["firmware_version"] = station.firmware_version
    if (iccid := link.iccid or station.iccid) is not None:
        data["iccid"] = iccid
    return envelope(EventType.DEVICE_ONLINE, link.device_id, data, timestamp=timestamp)


def device_offline(
    link: StationLink, reason: OfflineReason, *, timestamp: float | None = None
) -> Envelope:
    """The link ended.

    ``offline_duration`` is the silence before the gateway gave up: the time since the last
    heartbeat (since the last frame when none came), as in the documentation's examples.
    """
    now = _now(timestamp)
    last = link.last_heartbeat if link.last_heartbeat is not None else link.last_seen
    data = {
        "conn_id": link.conn_id,
        "offline_reason": str(reason),
        "last_heartbeat_time": int(last),
        "offline_duration": max(0, int(now - last)),
        "connection_duration": max(0, int(now - link.connected_at)),
    }
    return envelope(EventType.DEVICE_OFFLINE, link.device_id, data, timestamp=now)


# --- station frames ------------------------------------------------------------------------


def device_register(
    link: StationLink, message: Register, *, timestamp: float | None = None
) -> Envelope:
    """Every 0x20 register frame."""
    now = _now(timestamp)
    data = {
        "physical_id": f"0x{link.physical_id:08X}",
        "physical_id_decimal": link.physical_id,
        # A string in the documentation; a module that sent no ICCID gives "".
        "iccid": link.iccid or "",
        "device_version": message.firmware_version,
        "device_type": message.device_type,
        "heartbeat_period": HEARTBEAT_PERIOD_S,
        "register_time": int(now),
        "command": command_text(message.COMMAND),
        "conn_id": link.conn_id,
        "remote_addr": link.remote_addr,
        "port_count": message.port_count,
        "virtual_id": message.virtual_id,
        "work_mode": message.work_mode,
        "power_board_version": message.power_board_version,
    }
    return envelope(EventType.DEVICE_REGISTER, link.device_id, data, timestamp=now)


def device_heartbeat(
    link: StationLink, message: Heartbeat | LegacyHeartbeat, *, timestamp: float | None = None
) -> Envelope:
    """Every 0x21 or 0x01 heartbeat; ``port_statuses`` numbers the ports from 1."""
    data = {
        "voltage": round(message.voltage_v, 1),
        "port_count": message.port_count,
        "port_statuses": [
            {
                "port": index + 1,
                "status": status,
                "status_desc": codes.describe(codes.PortStatus, status),
            }
            for index, status in enumerate(message.port_statuses)
        ],
        "signal_strength": message.signal,
        "temperature": message.temperature_c,
        "command": command_text(message.COMMAND),
        "conn_id": link.conn_id,
        "remote_addr": link.remote_addr,
    }
    return envelope(EventType.DEVICE_HEARTBEAT, link.device_id, data, timestamp=timestamp)


def port_heartbeat(
    station_id: str,
    port_number: int,
    status: int,
    previous_status: int,
    *,
    voltage_v: float | None,
    temperature_c: int | None,
    timestamp: float | None = None,
) -> Envelope:
    """A port's status differs from its last known one (from 0x21/0x01 or 0x06)."""
    now = _now(timestamp)
    data = {
        "port_status": status,
        "port_status_desc": codes.describe(codes.PortStatus, status),
        "previous_status": previous_status,
        "previous_status_desc": codes.describe(codes.PortStatus, previous_status),
        "is_charging": codes.is_charging_status(status),
        "fault_detected": codes.is_fault_status(status),
        "status_change_time": int(now),
        "voltage": _round(voltage_v, 1),
        "temperature": temperature_c,
    }
    return envelope(
        EventType.PORT_HEARTBEAT, station_id, data, port_number=port_number, timestamp=now
    )


def power_heartbeat(
    station_id: str, message: PowerHeartbeat, *, timestamp: float | None = None
) -> Envelope:
    """Every 0x06 port power frame."""
    data = {
        "current_power": round(message.power_w, 1),
        "max_power": round(message.max_power_w, 1),
        "min_power": round(message.min_power_w, 1),
        "avg_power": round(message.avg_power_w, 1),
        "cumulative_energy": round(message.energy_kwh, 2),
        "voltage": _round(message.voltage_v, 1),
        "current": _round(message.current_a, 3),
        "charging_status": message.status,
        "charging_status_desc": codes.describe(codes.PowerStatus, message.status),
        "command": command_text(message.COMMAND),
        "order_id": order_no_text(message.order_no),
        "charge_duration": message.duration_s,
        "peak_power": _round(message.peak_power_w, 1),
        "port_temperature": message.port_temp_c,
    }
    return envelope(
        EventType.POWER_HEARTBEAT,
        station_id,
        data,
        port_number=message.port + 1,
        timestamp=timestamp,
    )


def power_factor(power_w: float, voltage_v: float | None, current_a: float | None) -> float | None:
    """P / (V x I) clipped to 0..1, or ``None`` when voltage or current is unknown or 0."""
    if not voltage_v or not current_a:
        return None
    return round(min(1.0, max(0.0, power_w / (voltage_v * current_a))), 3)


def charging_power(
    station_id: str, message: PowerHeartbeat, order: Order, *, timestamp: float | None = None
) -> Envelope:
    """Every 0x06 frame of a port with an order."""
    data: dict[str, Any] = {
        "instant_power": round(message.power_w, 1),
        "cumulative_energy": round(message.energy_kwh, 2),
        "charging_duration": message.duration_s,
        "voltage": _round(message.voltage_v, 1),
        "current": _round(message.current_a, 3),
        "order_id": order.order_number,
    }
    factor = power_factor(message.power_w, message.voltage_v, message.current_a)
    if factor is not None:
        data["power_factor"] = factor
    return envelope(
        EventType.CHARGING_POWER,
        station_id,
        data,
        port_number=message.port + 1,
        timestamp=timestamp,
    )


# --- orders --------------------------------------------------------------------------------


def charging_start(
    link: StationLink,
    order: Order,
    *,
    message_id: int,
    response_code: int = 0,
    timestamp: float | None = None,
) -> Envelope:
    """The station accepted a start command (0x82 reply 0)."""
    data = {
        "order_number": order.order_number,
        "response_code": int(response_code),
        "status_desc": codes.describe(codes.ChargeResult, response_code),
        "start_time": int(order.started_at),
        "command": command_text(0x82),
        "message_id": message_id_text(message_id),
        "conn_id": link.conn_id,
        "remote_addr": link.remote_addr,
    }
    return envelope(
        EventType.CHARGING_START,
        link.device_id,
        data,
        port_number=order.port,
        timestamp=timestamp,
    )


def charging_failed(
    station_id: str,
    port_number: int,
    *,
    order_number: str,
    response_code: int,
    message_id: int,
    timestamp: float | None = None,
) -> Envelope:
    """The station refused a start (0x82 reply code other than 0) or never answered (0x0E)."""
    now = _now(timestamp)
    description = codes.describe(codes.ChargeResult, response_code)
    data = {
        "order_number": order_number,
        "response_code": int(response_code),
        "status_desc": description,
        "failure_reason": description,
        "error_code": int(response_code),
        "failed_time": int(now),
        "command": command_text(0x82),
        "message_id": message_id_text(message_id),
    }
    return envelope(
        EventType.CHARGING_FAILED, station_id, data, port_number=port_number, timestamp=now
    )


def order_times(
    settlement: Settlement, order: Order | None, received_at: float
) -> tuple[float, float]:
    """(start, end) of a settled order in Unix seconds.

    With the order known, it started when the station accepted it and ended ``duration``
    later; this stays right when a stored settlement arrives long after the fact (after a
    power cut, docs/protocol.md 3, 0x03). Without it (a station-started order never seen), it
    ended when the settlement arrived.
    """
    if order is not None:
        return order.started_at, order.started_at + settlement.duration_s
    return received_at - settlement.duration_s, received_at


def charging_end(
    station_id: str,
    settlement: Settlement,
    order: Order | None,
    *,
    timestamp: float | None = None,
) -> Envelope:
    """An order finished, from its 0x03 settlement (so ``settlement_triggered`` is true).

    ``stop_reason`` is the station's own code and description: code 1 is 充满自停 in the
    station's table, not the 手动停止 of the gateway documentation's example (docs/events.md).
    """
    now = _now(timestamp)
    start, end = order_times(settlement, order, now)
    data = {
        "order_id": _order_number(settlement, order),
        "total_energy": round(settlement.energy_kwh, 2),
        "charge_duration": settlement.duration_s,
        "start_time": local_time_text(start),
        "end_time": local_time_text(end),
        "stop_reason": settlement.stop_reason,
        "stop_reason_desc": codes.describe(codes.StopReason, settlement.stop_reason),
        "settlement_triggered": True,
        "command": command_text(settlement.COMMAND),
    }
    return envelope(
        EventType.CHARGING_END,
        station_id,
        data,
        port_number=settlement.port + 1,
        timestamp=now,
    )


def _order_number(settlement: Settlement, order: Order | None) -> str:
    return order.order_number if order is not None else order_no_text(settlement.order_no)


def settlement_id(station_id: str, settlement: Settlement) -> str:
    """A stable id for one settlement: the same for every resend of it (docs/protocol.md 3).

    Built from the fields that identify the settlement, not from its message id (a station
    that lost power resends with a new one) nor the station's debug timestamp.
    """
    key = "|".join(
        (
            station_id,
            settlement.order_no.hex(),
            str(settlement.port),
            str(settlement.duration_s),
            str(round(settlement.energy_kwh * 100)),
            str(settlement.stop_reason),
            str(settlement.card_id),
        )
    )
    return f"{station_id}-{hashlib.sha1(key.encode('ascii')).hexdigest()[:16].upper()}"


def _fen(energy_kwh: float, price_cny_per_kwh: float) -> Decimal:
    # Decimal from the shortest repr, so 0.61 kWh x 1.2 CNY is 73.2 fen and not 73.1999.
    return Decimal(repr(energy_kwh)) * Decimal(repr(price_cny_per_kwh)) * _FEN_PER_CNY


def fees(energy_kwh: float, electricity_price: float, service_price: float) -> tuple[int, int, int]:
    """(total, charge, service) fees in fen for an energy and a tariff in CNY per kWh.

    The total is rounded once (half up), and the service fee is what remains after the
    rounded charge fee, so the two parts always add up to the total.
    """
    total = (_fen(energy_kwh, electricity_price) + _fen(energy_kwh, service_price)).quantize(
        Decimal(1), ROUND_HALF_UP
    )
    charge = _fen(energy_kwh, electricity_price).quantize(Decimal(1), ROUND_HALF_UP)
    charge = min(charge, total)
    return int(total), int(charge), int(total - charge)


def settlement(
    station_id: str,
    message: Settlement,
    order: Order | None,
    *,
    electricity_price: float,
    service_price: float,
    timestamp: float | None = None,
) -> Envelope:
    """A 0x03 settlement, with the fees of the configured tariff (CNY per kWh)."""
    now = _now(timestamp)
    start, end = order_times(message, order, now)
    total, charge, service = fees(message.energy_kwh, electricity_price, service_price)
    data = {
        "order_id": _order_number(message, order),
        "card_number": message.card_hex,
        "total_energy": round(message.energy_kwh, 2),
        "total_fee": total,
        "charge_fee": charge,
        "service_fee": service,
        "start_time": int(start),
        "end_time": int(end),
        "charge_duration": message.duration_s,
        "settlement_id": settlement_id(station_id, message),
        "settlement_type": SETTLEMENT_TYPE_NORMAL,
        "command": command_text(message.COMMAND),
        "stop_reason": message.stop_reason,
        "max_power": round(message.max_power_w, 1),
        "start_mode": message.start_mode,
    }
    return envelope(
        EventType.SETTLEMENT, station_id, data, port_number=message.port + 1, timestamp=now
    )


# --- extensions ----------------------------------------------------------------------------


def card_swipe(
    station_id: str, swipe: CardSwipe, reply: CardReply, *, timestamp: float | None = None
) -> Envelope:
    """A 0x02 card swipe and the gateway's decision (extension).

    ``port_number`` only when the card was swiped on a port; ``balance_query`` tells the
    0xFF swipe that only asks for the balance.
    """
    now = _now(timestamp)
    data = {
        "card_number": swipe.card_hex,
        "card_type": swipe.card_type,
        "balance_query": swipe.port == PORT_ANY,
        "account_status": int(reply.account_status),
        "account_status_desc": codes.describe(codes.CardAccountStatus, reply.account_status),
        "accepted": reply.account_status == codes.CardAccountStatus.NORMAL,
        "rate_mode": int(reply.rate_mode),
        "swipe_time": int(now),
        "command": command_text(swipe.COMMAND),
    }
    port_number = None if swipe.port == PORT_ANY else swipe.port + 1
    return envelope(EventType.CARD_SWIPE, station_id, data, port_number=port_number, timestamp=now)


def device_alarm(station_id: str, alarm: Alarm, *, timestamp: float | None = None) -> Envelope:
    """A 0x42 alarm (extension). ``port`` is the wire byte: a port or a sensor's address."""
    now = _now(timestamp)
    data = {
        "alarm_type": alarm.alarm_type,
        "alarm_type_desc": codes.describe(codes.AlarmType, alarm.alarm_type),
        "port": alarm.port,
        "trigger_bits": alarm.trigger_bits,
        "alarm_time": int(now),
        "command": command_text(alarm.COMMAND),
    }
    return envelope(EventType.DEVICE_ALARM, station_id, data, timestamp=now)


def host_heartbeat(
    link: StationLink, message: HostHeartbeat, *, timestamp: float | None = None
) -> Envelope:
    """A host gateway's 0x11 heartbeat (extension)."""
    data = {
        "firmware_version": message.firmware_version,
        "signal_strength": message.signal,
        "module_type": message.module_type,
        "module_type_desc": codes.describe(codes.ModuleType, message.module_type),
        "host_type": message.host_type,
        "host_type_desc": codes.describe(codes.HostType, message.host_type),
        "iccid": message.iccid,
        "imei": message.imei,
        "module_version": message.module_version,
        "frequency": message.frequency,
        "rtc": message.rtc,
        "host_time": message.host_time,
        "command": command_text(message.COMMAND),
        "conn_id": link.conn_id,
        "remote_addr": link.remote_addr,
    }
    return envelope(EventType.HOST_HEARTBEAT, link.device_id, data, timestamp=timestamp)
