"""The stations of every loaded server, found by ``deviceId``, and the gateway's device detail.

The detail has the keys of the gateway's ``TCPManager.GetDeviceDetail`` (``pkg/core/
tcp_manager.go``), which its status, query and list routes return, plus the keys of its
``DeviceInfo`` model that do not clash (``status``, ``heartbeatTime``, ``timeSinceHeart``) and
ours: ``model``, ``portCount`` and ``ports``.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
import time
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.iot_zinx.entries import station_entries
from custom_components.iot_zinx.events import local_time_text
from custom_components.iot_zinx.protocol.frame import device_kind, qr_number

from .device_id import DeviceIdReading, pick_station, read_device_id
from .envelope import MSG_EMPTY_DEVICE_ID, ApiError

if TYPE_CHECKING:
    from custom_components.iot_zinx.hub import IotZinxHub
    from custom_components.iot_zinx.models import StationState
    from custom_components.iot_zinx.protocol.server import StationLink

_KIND_DUAL = 0x04


@dataclass(frozen=True, slots=True)
class Located:
    """A ``deviceId`` resolved: the id as sent, the station id, and its hub if known."""

    reading: DeviceIdReading
    station_id: str
    hub: IotZinxHub | None

    @property
    def station(self) -> StationState | None:
        """The station's state, if a server knows it."""
        return None if self.hub is None else self.hub.stations.get(self.station_id)

    @property
    def online(self) -> bool:
        """Whether the station has a live connection now."""
        station = self.station
        return station is not None and station.online

    def ids(self) -> dict[str, str]:
        """``deviceId`` as sent and ``standardId``, as the gateway's answers carry them."""
        return {"deviceId": self.reading.text, "standardId": self.station_id}


def hubs(hass: HomeAssistant) -> list[IotZinxHub]:
    """The hub of every loaded station server."""
    return [entry.runtime_data for entry in station_entries(hass, loaded=True)]


def locate(hass: HomeAssistant, device_id: str) -> Located:
    """The station ``device_id`` names (``400`` for an empty or malformed id)."""
    if not device_id.strip():
        raise ApiError(HTTPStatus.BAD_REQUEST, MSG_EMPTY_DEVICE_ID)
    reading = read_device_id(device_id)
    servers = hubs(hass)
    known = [
        (station.station_id, station.physical_id)
        for hub in servers
        for station in hub.stations.values()
    ]
    station_id = pick_station(reading, known)
    hub = next((hub for hub in servers if station_id in hub.stations), None)
    return Located(reading, station_id, hub)


def device_number(physical_id: int) -> str:
    """The gateway's ``deviceNumber``: the decimal QR number for kind 04, else the whole id."""
    if device_kind(physical_id) == _KIND_DUAL:
        return str(qr_number(physical_id))
    return str(physical_id)


def _time_pair(unix: float | None) -> tuple[str, int]:
    if not unix:
        return "", 0
    return local_time_text(unix), int(unix)


def device_detail(hub: IotZinxHub, station: StationState) -> dict[str, Any]:
    """The gateway's detail of one station (online or not)."""
    link: StationLink | None = hub.server.link(station.station_id) if station.online else None
    heartbeat = station.last_heartbeat.timestamp() if station.last_heartbeat else None
    activity = link.last_seen if link is not None else heartbeat
    activity_text, activity_ts = _time_pair(activity)
    heartbeat_text, heartbeat_ts = _time_pair(heartbeat)
    detail: dict[str, Any] = {
        "deviceId": station.station_id,
        "physicalId": station.physical_id,
        "deviceNumber": device_number(station.physical_id),
        "iccid": station.iccid or "",
        "deviceType": station.device_type or 0,
        "deviceVersion": station.firmware_version or "",
        "isOnline": station.online,
        "status": "online" if station.online else "offline",
        "lastActivity": activity_text,
        "lastActivityTs": activity_ts,
        "lastHeartbeat": heartbeat_text,
        "lastHeartbeatTs": heartbeat_ts,
        "heartbeatTime": heartbeat_text,
        "timeSinceHeart": round(time.time() - heartbeat, 1) if heartbeat else 0.0,
        "remoteAddr": station.remote_addr or "",
        "model": station.model,
        "portCount": station.port_count,
        "ports": [_port(number, station) for number in sorted(station.ports)],
    }
    if link is not None:
        connected_text, connected_ts = _time_pair(link.connected_at)
        siblings = sum(1 for other in hub.server.links() if other.conn_id == link.conn_id)
        detail |= {
            "sessionId": str(link.conn_id),
            "connId": link.conn_id,
            "remoteAddr": link.remote_addr,
            "connectedAt": connected_text,
            "connectedAtTs": connected_ts,
            "groupDeviceCount": siblings,
            "groupSessionCount": 1,
        }
    return detail


def _port(number: int, station: StationState) -> dict[str, Any]:
    port = station.ports[number]
    return {
        "port": number,
        "status": port.status,
        "statusDesc": port.status_desc,
        "isCharging": port.is_charging,
        "orderNo": None if port.order is None else port.order.order_number,
        "power": port.power_w,
    }


def now_text() -> str:
    """Now as "YYYY-MM-DD HH:MM:SS" in Home Assistant's time zone."""
    return dt_util.now().strftime("%Y-%m-%d %H:%M:%S")
