"""The events of a station's link and of its own frames, apart from charging.

The connection (``device_online``, ``device_offline``), the register and heartbeats
(``device_register``, ``device_heartbeat``, ``port_heartbeat``, a host gateway's
``host_heartbeat``), and the extensions for card swipes and alarms (``card_swipe``,
``device_alarm``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from custom_components.iot_zinx.models import HOST_KINDS
from custom_components.iot_zinx.protocol import codes
from custom_components.iot_zinx.protocol.frame import device_kind
from custom_components.iot_zinx.protocol.messages import (
    Alarm,
    CardReply,
    CardSwipe,
    Heartbeat,
    HostHeartbeat,
    LegacyHeartbeat,
    Register,
)

from .core import Envelope, EventType, _now, _round, command_text, envelope

if TYPE_CHECKING:
    from custom_components.iot_zinx.models import StationState
    from custom_components.iot_zinx.protocol.server import OfflineReason, StationLink

# docs/protocol.md 3 (0x21): stations heartbeat every 3 minutes unless 0x83 changes it; that is
# what the gateway expects, whatever timeout it allows before calling a station offline.
HEARTBEAT_PERIOD_S: Final = 180
# device_online.device_type (docs/events.md): 1 a charging station, 2 anything else.
DEVICE_TYPE_STATION: Final = 1
DEVICE_TYPE_OTHER: Final = 2
# 0x02 card swipe: port 0xFF asks for the balance only (docs/protocol.md 3).
PORT_ANY: Final = 0xFF


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
