"""The events of charging: power readings, orders, and their settlement with its fees.

Every 0x06 frame gives a ``power_heartbeat`` (and a ``charging_power`` when the port has an
order); the 0x82 reply gives ``charging_start`` or ``charging_failed``; the 0x03 settlement
gives ``charging_end`` and ``settlement``, whose fees come from the configured tariff and
whose ``settlement_id`` stays the same for every resend.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
import hashlib
from typing import TYPE_CHECKING, Any, Final

from custom_components.iot_zinx.models import Order
from custom_components.iot_zinx.protocol import codes
from custom_components.iot_zinx.protocol.messages import (
    PowerHeartbeat,
    Settlement,
    order_no_text,
)

from .core import (
    Envelope,
    EventType,
    _now,
    _round,
    command_text,
    envelope,
    local_time_text,
    message_id_text,
    stable_event_id,
)

if TYPE_CHECKING:
    from custom_components.iot_zinx.protocol.server import StationLink

SETTLEMENT_TYPE_NORMAL: Final = "normal"
_FEN_PER_CNY: Final = Decimal(100)


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
        event_id=stable_event_id(settlement_id(station_id, settlement), EventType.CHARGING_END),
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
    key = settlement_id(station_id, message)
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
        "settlement_id": key,
        "settlement_type": SETTLEMENT_TYPE_NORMAL,
        "command": command_text(message.COMMAND),
        "stop_reason": message.stop_reason,
        "max_power": round(message.max_power_w, 1),
        "start_mode": message.start_mode,
    }
    return envelope(
        EventType.SETTLEMENT,
        station_id,
        data,
        port_number=message.port + 1,
        timestamp=now,
        event_id=stable_event_id(key, EventType.SETTLEMENT),
    )
