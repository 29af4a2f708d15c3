"""The tracker on its own: what a station says -> state and effects, without Home Assistant.

No ``hass`` here: the tracker is fed StationLinks and decoded messages directly, and its
effects (events, device refreshes, entity notifications, store writes) are asserted in order.
The hub carrying them out is tested in test_hub.py.
"""

from __future__ import annotations

import dataclasses
import uuid

from custom_components.iot_zinx.effects import Effect, Fire, NewStation, Notify, RefreshDevice, Save
from custom_components.iot_zinx.events import fees
from custom_components.iot_zinx.models import Order, StationState
from custom_components.iot_zinx.protocol.messages import Heartbeat, Register, Settlement
from custom_components.iot_zinx.protocol.server import OfflineReason, StationLink
from custom_components.iot_zinx.store import OrderBook, order_key
from custom_components.iot_zinx.tracker import StationTracker

from .conftest import ORDER_NO, POWER_REPORT

STATION = 0x04A228CD
HOST = 0x09A00002


def link(physical_id: int, conn_id: int = 7, last_seen: float = 1.7e9) -> StationLink:
    return StationLink(
        physical_id, f"{physical_id:08X}", conn_id, "10.0.0.1:5000", 1.7e9, None, last_seen
    )


def tracker(pending: dict[str, Order] | None = None) -> StationTracker:
    stations: dict[str, StationState] = {}
    return StationTracker(
        stations,
        OrderBook(stations),
        {} if pending is None else pending,
        electricity_price=1.2,
        service_price=0.3,
    )


def kinds(effects: list[Effect]) -> list[str]:
    """Effects in order, events by type: ["RefreshDevice", "device_online", ...]."""
    return [
        effect.event["event_type"] if isinstance(effect, Fire) else type(effect).__name__
        for effect in effects
    ]


def test_a_new_station_comes_online() -> None:
    """Its device first, then the platforms, its entities, and device_online last."""
    stations = tracker()
    effects = stations.online(link(STATION))
    station = stations.stations["04A228CD"]
    assert kinds(effects) == ["RefreshDevice", "NewStation", "Notify", "device_online"]
    assert effects[1] == NewStation(station)
    assert effects[2] == Notify(station)  # every port, and the station itself
    assert station.online
    assert station.conn_id == 7
    # Known the second time: no NewStation.
    assert kinds(stations.online(link(STATION))) == ["RefreshDevice", "Notify", "device_online"]


def test_a_host_gateway_adopts_the_sub_stations_on_its_connection() -> None:
    stations = tracker()
    stations.online(link(STATION, conn_id=9))
    effects = stations.online(link(HOST, conn_id=9))
    sub = stations.stations["04A228CD"]
    assert sub.host_station_id == "09A00002"
    # The sub-station's device gets its via device, is saved and its entities told.
    assert effects[1:4] == [RefreshDevice(sub), Save(), Notify(sub)]
    # Another station on another connection stays on its own.
    stations.online(link(0x04A228CE, conn_id=10))
    assert stations.stations["04A228CE"].host_station_id is None


def test_heartbeats_tell_only_the_ports_that_changed() -> None:
    stations = tracker()
    stations.online(link(STATION))
    station = stations.stations["04A228CD"]
    register = stations.message(link(STATION), Register(126, 2, 0, 0x21, 0, 0))
    assert kinds(register) == ["RefreshDevice", "Save", "device_register", "Notify"]
    first = stations.message(link(STATION), Heartbeat(220.0, 2, (0, 0), 20, 30))
    # The first status of a port is no change: no port_heartbeat.
    assert kinds(first) == ["device_heartbeat", "Notify"]
    assert first[-1] == Notify(station, (1, 2), True)
    second = stations.message(link(STATION), Heartbeat(221.0, 2, (2, 0), 20, 30))
    assert kinds(second) == ["device_heartbeat", "port_heartbeat", "Notify"]
    assert second[-1] == Notify(station, (1,), True)
    assert (station.voltage_v, station.ports[1].status) == (221.0, 2)


def test_a_power_report_adopts_its_order_and_counts_energy() -> None:
    stations = tracker()
    stations.online(link(STATION))
    station = stations.stations["04A228CD"]
    effects = stations.message(link(STATION), POWER_REPORT)
    # The order is stored at once (Save(0)), then the energy (Save()), events after state.
    assert kinds(effects) == ["Save", "Save", "power_heartbeat", "charging_power", "Notify"]
    assert effects[0] == Save(0)
    assert effects[-1] == Notify(station, (1,), False)
    port = station.ports[1]
    assert port.order is not None
    assert port.order.order_no == ORDER_NO
    assert (port.power_w, port.lifetime_energy_kwh) == (215.3, 0.12)
    assert order_key("04A228CD", ORDER_NO) in stations.book.orders


def test_a_pending_start_is_the_order_a_power_report_names() -> None:
    pending_order = Order("ORDER-0001", ORDER_NO, 1, 0.0, 1)
    stations = tracker({order_key("04A228CD", ORDER_NO): pending_order})
    stations.online(link(STATION))
    stations.message(link(STATION, last_seen=1.7e9 + 600), POWER_REPORT)
    assert stations.stations["04A228CD"].ports[1].order is pending_order
    assert pending_order.started_at == 1.7e9  # the report's duration back from its arrival


def test_a_settlement_ends_its_order_once() -> None:
    stations = tracker()
    stations.online(link(STATION))
    stations.message(link(STATION), POWER_REPORT)
    station = stations.stations["04A228CD"]
    settlement = Settlement(660, 230.0, 0.15, 0, 1, 0, 7, ORDER_NO, 225.0)
    effects = stations.message(link(STATION), settlement)
    assert kinds(effects) == ["Save", "charging_end", "settlement", "Notify"]
    bill = effects[2]
    assert isinstance(bill, Fire)
    total, charge, service = fees(0.15, 1.2, 0.3)
    assert (bill.event["data"]["total_fee"], bill.event["data"]["charge_fee"]) == (total, charge)
    assert bill.event["data"]["service_fee"] == service
    port = station.ports[1]
    assert (port.order, port.power_w, port.lifetime_energy_kwh) == (None, 0.0, 0.15)
    # The station resends it (no acknowledgement reached it): nothing happens again.
    assert stations.message(link(STATION), settlement) == []
    # A second settlement of the same order with other figures: a settlement, no end.
    other = dataclasses.replace(settlement, duration_s=661)
    assert kinds(stations.message(link(STATION), other)) == ["Save", "settlement", "Notify"]


def test_a_settlement_fired_again_after_a_crash_keeps_its_event_ids() -> None:
    """Home Assistant died after firing a settlement's events but before saving its store.

    The station resends the settlement (never acknowledged) to the restarted instance, which
    has no record of it: the events fire again, with the same ids, so a receiver drops them as
    a redelivery (found by scripts/soak: one settlement billed twice in an hour of kills).
    """
    settlement = Settlement(660, 230.0, 0.15, 0, 1, 0, 7, ORDER_NO, 225.0)

    def fired_ids() -> list[tuple[str, str]]:
        stations = tracker()  # a fresh process: nothing of the first one's book survived
        stations.online(link(STATION))
        effects = stations.message(link(STATION), settlement)
        return [
            (effect.event["event_type"], effect.event["event_id"])
            for effect in effects
            if isinstance(effect, Fire)
        ]

    first, second = fired_ids(), fired_ids()
    assert [event_type for event_type, _ in first] == ["charging_end", "settlement"]
    assert second == first
    # UUID4-shaped, as docs/events.md asks, and one per event type.
    assert all(uuid.UUID(event_id).version == 4 for _, event_id in first)
    assert first[0][1] != first[1][1]
    # Another settlement (other figures) has other ids.
    other = tracker()
    other.online(link(STATION))
    again = other.message(link(STATION), dataclasses.replace(settlement, duration_s=661))
    assert {e.event["event_id"] for e in again if isinstance(e, Fire)}.isdisjoint(
        event_id for _, event_id in first
    )


def test_offline() -> None:
    stations = tracker()
    stations.online(link(STATION))
    station = stations.stations["04A228CD"]
    effects = stations.offline(link(STATION), OfflineReason.HEARTBEAT_TIMEOUT)
    assert kinds(effects) == ["Notify", "device_offline"]
    assert not station.online
    assert station.offline_reason == str(OfflineReason.HEARTBEAT_TIMEOUT)
    # A station never seen still has its offline event.
    assert kinds(stations.offline(link(0x04A22800), OfflineReason.CONNECTION_LOST)) == [
        "device_offline"
    ]
