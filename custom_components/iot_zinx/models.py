"""State of the stations and their ports, as the hub keeps it and the entities read it.

Plain mutable dataclasses: the hub (``hub.py``) is their only writer and sends a dispatcher
signal after each change; entities only read them. Ports are numbered from 1 here (the wire
numbers them from 0, docs/protocol.md section 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .protocol import codes
from .protocol.frame import device_kind, qr_number

# docs/protocol.md section 2: the top byte of the physical id names the kind of device; 09 and 0A
# are host gateways that relay sub-stations.
HOST_KINDS = frozenset({codes.DeviceKind.HOST, codes.DeviceKind.LEAKAGE_HOST})


class ChargeMode(StrEnum):
    """How a start command limits the order (0x82 ``rate_mode`` and ``value``)."""

    FULL = "full"  # time mode with value 0: until the battery is full
    TIME = "time"
    ENERGY = "energy"


@dataclass
class Order:
    """A running order of one port, from its start until its 0x03 settlement."""

    order_number: str  # the user's text, else messages.order_no_text(order_no)
    order_no: bytes  # the 16 bytes the station echoes in 0x06 and 0x03
    port: int  # 1-based
    started_at: float  # Unix seconds
    start_mode: int  # codes.StartMode
    charging_end_sent: bool = False
    # The order's energy so far (0x06), counted in the port's lifetime energy until the
    # settlement replaces it with the final figure.
    energy_kwh: float = 0.0


@dataclass
class PortState:
    """One port of a station."""

    number: int  # 1-based
    status: int | None = None  # codes.PortStatus value; unknown codes are kept
    power_w: float | None = None
    current_a: float | None = None
    voltage_v: float | None = None
    session_energy_kwh: float | None = None
    session_duration_s: int | None = None
    port_temperature_c: int | None = None
    lifetime_energy_kwh: float = 0.0  # finished orders + the running one; persisted by the hub
    # False after a restart while the running order's energy is only the stored figure,
    # which can be older than the last one shown before a crash: the lifetime sensor is
    # unknown until the station reports again, so it never goes backwards.
    lifetime_confirmed: bool = True
    order: Order | None = None

    def stop_drawing(self) -> None:
        """The port draws nothing any more: no power, and no current where one was measured.

        After an order's settlement, or when a heartbeat says the port is not charging: its
        last 0x06 figures are stale then.
        """
        self.power_w = 0.0
        if self.current_a is not None:
            self.current_a = 0.0

    @property
    def is_charging(self) -> bool:
        """Charging or float charging (docs/protocol.md 7.1)."""
        return self.status is not None and codes.is_charging_status(self.status)

    @property
    def is_plugged(self) -> bool:
        """A charger is plugged in (charging, idle or full)."""
        return self.status is not None and codes.is_plugged_status(self.status)

    @property
    def is_fault(self) -> bool:
        """The status is one of the fault codes (0x04, 0x06 and up)."""
        return self.status is not None and codes.is_fault_status(self.status)

    @property
    def status_desc(self) -> str | None:
        """The vendor's Chinese wording of the status."""
        return None if self.status is None else codes.describe(codes.PortStatus, self.status)


@dataclass
class StationState:
    """One station (or host gateway), online or not."""

    station_id: str  # "04AB373B"
    physical_id: int
    online: bool = False
    port_count: int = 0
    ports: dict[int, PortState] = field(default_factory=dict)  # key: 1-based port number
    firmware: int | None = None  # 126 = V1.26
    device_type: int | None = None  # the 0x20 / 0x01 type byte (docs/protocol.md 7.6)
    host_type: int | None = None  # a host gateway's 0x11 type byte (picks its firmware)
    work_mode: int | None = None
    voltage_v: float | None = None
    temperature_c: int | None = None
    signal: int | None = None
    iccid: str | None = None
    remote_addr: str | None = None
    last_heartbeat: datetime | None = None
    host_station_id: str | None = None  # the host gateway a sub-station talks through
    conn_id: int | None = None
    connected_at: datetime | None = None
    offline_reason: str | None = None  # protocol.server.OfflineReason of the last link end

    @property
    def firmware_version(self) -> str | None:
        """``"V1.26"`` once a register or an old heartbeat told the firmware."""
        return None if self.firmware is None else codes.firmware_text(self.firmware)

    @property
    def kind(self) -> int:
        """The physical id's top byte (codes.DeviceKind value)."""
        return device_kind(self.physical_id)

    @property
    def is_host(self) -> bool:
        """A host gateway (kind 09 or 0A), which relays sub-stations."""
        return self.kind in HOST_KINDS

    @property
    def model(self) -> str:
        """Model text for the device registry."""
        return codes.device_model(self.kind, self.device_type)

    @property
    def qr_number(self) -> int:
        """The number printed under the station's QR code (the id's low 3 bytes)."""
        return qr_number(self.physical_id)

    @property
    def charging_ports(self) -> int:
        """How many ports charge now."""
        return sum(1 for port in self.ports.values() if port.is_charging)

    @property
    def total_power_w(self) -> float:
        """What the station's ports draw together (ports not reporting count as 0 W)."""
        return round(sum(port.power_w or 0.0 for port in self.ports.values()), 1)

    @property
    def total_lifetime_energy_kwh(self) -> float | None:
        """Every port's lifetime energy together; unknown while any port's is unconfirmed.

        Unknown rather than a smaller sum: a total-increasing sensor must not go backwards.
        """
        if not all(port.lifetime_confirmed for port in self.ports.values()):
            return None
        return round(sum(port.lifetime_energy_kwh for port in self.ports.values()), 2)

    def port(self, number: int) -> PortState:
        """The port with this 1-based number, created on first use."""
        state = self.ports.get(number)
        if state is None:
            state = self.ports[number] = PortState(number)
        return state

    def diagnostics(self) -> dict[str, Any]:
        """A summary for the diagnostics download (redacted by diagnostics.py)."""
        return {
            "online": self.online,
            "model": self.model,
            "firmware": self.firmware_version,
            "device_type": self.device_type,
            "work_mode": self.work_mode,
            "port_count": self.port_count,
            "host_device_id": self.host_station_id,
            "remote_addr": self.remote_addr,
            "iccid": self.iccid,
            "offline_reason": self.offline_reason,
            "last_heartbeat": (
                None if self.last_heartbeat is None else self.last_heartbeat.isoformat()
            ),
            "ports": {
                number: {
                    "status": port.status,
                    "power_w": port.power_w,
                    "lifetime_energy_kwh": port.lifetime_energy_kwh,
                    "order": None if port.order is None else port.order.order_number,
                }
                for number, port in sorted(self.ports.items())
            },
        }
