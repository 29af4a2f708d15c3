"""The hub end to end: simulated stations, the real listener, a real Home Assistant."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import async_get_platforms
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.iot_zinx import hub as hub_module, store as store_module
from custom_components.iot_zinx.const import (
    ADMISSION_ALLOW_LIST,
    CARD_POLICY_ALLOW_LIST,
    CARD_POLICY_REFUSE_ALL,
    CONF_ADMISSION,
    CONF_CARD_ALLOW_LIST,
    CONF_CARD_POLICY,
    CONF_CHARGE_ENERGY,
    CONF_CHARGE_MODE,
    CONF_ELECTRICITY_PRICE,
    CONF_HEARTBEAT_TIMEOUT,
    CONF_SERVICE_PRICE,
    CONF_STATION_ALLOW_LIST,
    DOMAIN,
    EVENT_IOT_ZINX,
)
from custom_components.iot_zinx.events import fees, local_time_text
from custom_components.iot_zinx.hub import (
    ChargeOutcome,
    IotZinxHub,
    NoActiveOrderError,
)
from custom_components.iot_zinx.models import ChargeMode, Order
from custom_components.iot_zinx.orders import Orders
from custom_components.iot_zinx.protocol.errors import (
    CommandTimeoutError,
    StationOfflineError,
    StationRefusedError,
)
from custom_components.iot_zinx.protocol.messages import (
    Alarm,
    ChargeControl,
    Heartbeat,
    HostHeartbeat,
    LegacyHeartbeat,
    Limits,
    ModifyCharge,
    PowerHeartbeat,
    QueryStatus,
    Reboot,
    Register,
    Settlement,
    SubStationVersion,
    SubStationVersions,
    TimeRequest,
    order_no_text,
    parse_order_no,
)
from custom_components.iot_zinx.protocol.server import OfflineReason, StationLink
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator
from custom_components.iot_zinx.signals import signal_new_station, signal_station_update

from .conftest import STATION_ID, device_by_identifier

# Simulated time runs 600 times faster: a 0x06 every 5 simulated minutes is one every 0.5 s,
# and the energy of those minutes is large enough to show in 0.01 kWh. Heartbeats and the
# idle "link" are pushed out of the test's way; the station answers within 2 real seconds.
FAST: dict[str, Any] = {
    "speed": 600.0,
    "power_interval": 300.0,
    "heartbeat_interval": 6e6,
    "link_interval": 6e6,
    "settlement_resend_interval": 6e6,
    "reply_timeout": 1200.0,
}
TARIFF = {
    CONF_HEARTBEAT_TIMEOUT: 420,
    CONF_ELECTRICITY_PRICE: 1.2,
    CONF_SERVICE_PRICE: 0.3,
}


def appender(items: list[str]) -> Callable[[str], None]:
    """A dispatcher target that appends to `items`, in the event loop.

    It is a @callback: Home Assistant runs a plain function (list.append among them) in an
    executor thread, which would race the test's assertions.
    """

    @callback
    def append(item: str) -> None:
        items.append(item)

    return append


@pytest.fixture
def command_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """No spacing between commands, and a reply wait of 0.5 s (docs/protocol.md 2: 15 s).

    Overrides the conftest's 2 s: the timeout tests wait for two of them.
    """
    monkeypatch.setattr(hub_module, "COMMAND_SPACING", 0.0)
    monkeypatch.setattr(hub_module, "REPLY_TIMEOUT", 0.5)


@pytest.fixture
def captured(hass: HomeAssistant) -> list[Event]:
    """Every ``iot_zinx_event`` from now on."""
    return async_capture_events(hass, EVENT_IOT_ZINX)


def hub_of(entry: MockConfigEntry) -> IotZinxHub:
    """The running hub of a loaded entry."""
    hub = entry.runtime_data
    assert isinstance(hub, IotZinxHub)
    return hub


async def wait_until(condition: Callable[[], bool]) -> None:
    """Wait (5 s at most) until ``condition()`` holds; frames travel between the checks."""
    async with asyncio.timeout(5):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def wait_event(
    captured: list[Event], predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first captured envelope that satisfies ``predicate``, waiting for it."""
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        found.extend(dict(e.data) for e in captured if predicate(e.data))
        return bool(found)

    await wait_until(seen)
    return found[0]


def of_type(captured: list[Event], event_type: str) -> list[dict[str, Any]]:
    """The captured envelopes of one type, in order."""
    return [dict(event.data) for event in captured if event.data["event_type"] == event_type]


def is_type(event_type: str, **data: Any) -> Callable[[dict[str, Any]], bool]:
    """Predicate: an envelope of this type whose data has these values."""

    def check(event: dict[str, Any]) -> bool:
        return event["event_type"] == event_type and all(
            event["data"].get(key) == value for key, value in data.items()
        )

    return check


async def connect(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station: SimulatedStation,
    captured: list[Event],
) -> None:
    """Connect a station and wait until the hub has seen its first heartbeat."""
    simulator.add_station(station)
    await simulator.start()
    await wait_event(
        captured,
        lambda event: (
            event["event_type"] == "device_heartbeat" and event["device_id"] == station.device_id
        ),
    )
    await hass.async_block_till_done()


async def sync(hass: HomeAssistant, station: SimulatedStation, captured: list[Event]) -> None:
    """Wait until the hub processed everything the station sent so far.

    Frames of one connection are processed in order, so once a heartbeat sent now has fired
    its event, so has everything before it.
    """
    count = len(of_type(captured, "device_heartbeat"))
    station.send_heartbeat()
    await wait_until(lambda: len(of_type(captured, "device_heartbeat")) > count)
    await hass.async_block_till_done()


def order_event_types(captured: list[Event], station_id: str) -> list[str]:
    """Event types of one station, with each run of 0x06 events folded into one pair."""
    types: list[str] = []
    for event in captured:
        if event.data["device_id"] != station_id:
            continue
        kind = event.data["event_type"]
        if kind in ("power_heartbeat", "charging_power") and types[-2:] == [
            "power_heartbeat",
            "charging_power",
        ]:
            continue
        types.append(kind)
    return types


@pytest.mark.parametrize("entry_options", [TARIFF])
async def test_charging_session(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """A whole session fires the documented events in the documented order, once each."""
    await hass.config.async_set_time_zone("Asia/Shanghai")
    hub = hub_of(init_integration)
    lifetimes: list[float] = []

    @callback
    def record_lifetime(event: Event) -> None:
        if event.data["event_type"] in ("charging_power", "settlement"):
            lifetimes.append(hub.stations[STATION_ID].ports[1].lifetime_energy_kwh)

    hass.bus.async_listen(EVENT_IOT_ZINX, record_lifetime)
    station = station_factory(plugged=(0,), **FAST)
    await connect(hass, simulator, station, captured)

    outcome = await hub.orders.async_start_charging(
        STATION_ID, 1, mode=ChargeMode.FULL, order_number="ORD20231221001"
    )
    assert outcome == ChargeOutcome("ORD20231221001", 0, "执行成功")
    assert station.commands == [
        ChargeControl(
            rate_mode=0,
            balance_or_expiry=0,
            port=0,
            action=1,
            value=0,
            order_no=b"ORD20231221001\0\0",
            max_duration_s=0,
            max_power_w=0.0,
        )
    ]
    await wait_until(lambda: len(of_type(captured, "charging_power")) >= 2)
    stop = await hub.orders.async_stop_charging(STATION_ID, 1)
    assert stop == ChargeOutcome("ORD20231221001", 0, "执行成功")
    assert station.commands[-1] == ChargeControl(0, 0, 0, 0, 0, b"ORD20231221001\0\0", 0, 0.0)
    await wait_event(captured, is_type("port_heartbeat", previous_status=1))
    await hass.async_block_till_done()

    assert order_event_types(captured, STATION_ID) == [
        "device_online",
        "device_register",
        "device_heartbeat",
        "charging_start",
        "device_heartbeat",
        "port_heartbeat",
        "power_heartbeat",
        "charging_power",
        "charging_end",
        "settlement",
        "device_heartbeat",
        "port_heartbeat",
    ]
    link = hub.server.link(STATION_ID)
    assert link is not None
    start = of_type(captured, "charging_start")[0]
    assert start["port_number"] == 1
    assert start["data"] == {
        "order_number": "ORD20231221001",
        "response_code": 0,
        "status_desc": "执行成功",
        "start_time": start["timestamp"],
        "command": "0x82",
        "message_id": "0x0001",
        "conn_id": link.conn_id,
        "remote_addr": link.remote_addr,
    }
    changes = of_type(captured, "port_heartbeat")
    assert [
        (c["port_number"], c["data"]["previous_status"], c["data"]["port_status"]) for c in changes
    ] == [
        (1, 2, 1),
        (1, 1, 2),
    ]
    assert changes[0]["data"]["is_charging"] is True
    assert changes[0]["data"]["voltage"] == 220.0
    assert changes[0]["data"]["temperature"] == 30

    powers = of_type(captured, "charging_power")
    assert all(p["data"]["order_id"] == "ORD20231221001" for p in powers)
    assert all(p["data"]["voltage"] == 220.0 for p in powers)
    assert len(of_type(captured, "power_heartbeat")) == len(powers)
    energies = [p["data"]["cumulative_energy"] for p in powers]
    assert energies == sorted(energies)

    (settled,) = station.settlements
    assert settled.stop_reason == 7
    end = of_type(captured, "charging_end")
    assert len(end) == 1
    assert end[0]["port_number"] == 1
    assert end[0]["data"] == {
        "order_id": "ORD20231221001",
        "total_energy": settled.energy_kwh,
        "charge_duration": settled.duration_s,
        "start_time": local_time_text(start["data"]["start_time"]),
        "end_time": local_time_text(start["data"]["start_time"] + settled.duration_s),
        "stop_reason": 7,
        "stop_reason_desc": "服务器控制停止",
        "settlement_triggered": True,
        "command": "0x03",
    }
    (bill,) = of_type(captured, "settlement")
    total, charge, service = fees(settled.energy_kwh, 1.2, 0.3)
    assert settled.energy_kwh > 0
    assert bill["data"]["order_id"] == "ORD20231221001"
    assert bill["data"]["card_number"] == "00000000"
    assert bill["data"]["total_energy"] == settled.energy_kwh
    assert (bill["data"]["total_fee"], bill["data"]["charge_fee"]) == (total, charge)
    assert bill["data"]["service_fee"] == service
    assert bill["data"]["start_time"] == start["data"]["start_time"]
    assert bill["data"]["end_time"] == start["data"]["start_time"] + settled.duration_s

    port = hub.stations[STATION_ID].ports[1]
    assert port.order is None
    assert port.status == 2
    assert port.power_w == 0.0
    assert port.session_energy_kwh == settled.energy_kwh
    assert lifetimes == sorted(lifetimes)
    assert lifetimes[-1] == port.lifetime_energy_kwh == settled.energy_kwh

    # The station resends the settlement (after a lost acknowledgement): nothing new.
    station.send(settled)
    await sync(hass, station, captured)
    assert len(of_type(captured, "charging_end")) == 1
    assert len(of_type(captured, "settlement")) == 1
    assert port.lifetime_energy_kwh == settled.energy_kwh


async def test_port_heartbeat_only_on_change(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """Repeated statuses fire nothing; a fault fires one port_heartbeat."""
    station = station_factory(plugged=(0,))
    await connect(hass, simulator, station, captured)
    await sync(hass, station, captured)
    await sync(hass, station, captured)
    assert of_type(captured, "port_heartbeat") == []

    station.set_port_status(1, 7)
    change = await wait_event(captured, is_type("port_heartbeat"))
    await sync(hass, station, captured)
    assert len(of_type(captured, "port_heartbeat")) == 1
    assert change["port_number"] == 2
    assert change["data"] == {
        "port_status": 7,
        "port_status_desc": "插座弹片卡住故障",
        "previous_status": 0,
        "previous_status_desc": "空闲",
        "is_charging": False,
        "fault_detected": True,
        "status_change_time": change["timestamp"],
        "voltage": 220.0,
        "temperature": 30,
    }


async def test_refused_start(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """No charger plugged in: refused with code 1, charging_failed with the code."""
    hub = hub_of(init_integration)
    station = station_factory()
    await connect(hass, simulator, station, captured)
    with pytest.raises(StationRefusedError) as refused:
        await hub.orders.async_start_charging(STATION_ID, 1, mode=ChargeMode.TIME, minutes=30)
    assert (refused.value.code, refused.value.description) == (1, "端口未插充电器")
    (command,) = station.commands
    assert isinstance(command, ChargeControl)
    assert (command.rate_mode, command.value, command.port, command.action) == (0, 1800, 0, 1)
    (failed,) = of_type(captured, "charging_failed")
    assert failed["port_number"] == 1
    assert failed["data"] == {
        "order_number": command.order_no.hex().upper(),
        "response_code": 1,
        "status_desc": "端口未插充电器",
        "failure_reason": "端口未插充电器",
        "error_code": 1,
        "failed_time": failed["timestamp"],
        "command": "0x82",
        "message_id": "0x0001",
    }
    assert of_type(captured, "charging_start") == []
    assert hub.stations[STATION_ID].ports[1].order is None


async def test_start_timeout(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """No answer to the command nor its resend: charging_failed 0x0E 未响应, then the error."""
    hub = hub_of(init_integration)
    station = station_factory(plugged=(0,))
    await connect(hass, simulator, station, captured)
    station.ignore_commands = True
    with pytest.raises(CommandTimeoutError):
        await hub.orders.async_start_charging(STATION_ID, 1, mode=ChargeMode.ENERGY, energy_kwh=1.5)
    first, resent = station.commands
    assert first == resent
    assert isinstance(first, ChargeControl)
    assert (first.rate_mode, first.value) == (2, 150)
    (failed,) = of_type(captured, "charging_failed")
    assert failed["data"]["response_code"] == 14
    assert failed["data"]["error_code"] == 14
    assert failed["data"]["status_desc"] == "未响应"
    assert failed["data"]["message_id"] == "0x0001"
    assert failed["data"]["order_number"] == first.order_no.hex().upper()


async def test_start_arguments(hass: HomeAssistant, dual_socket: SimulatedStation) -> None:
    """Bad ports and missing limits never reach the station; max power goes on the wire."""
    hub = hub_of(hass.config_entries.async_entries(DOMAIN)[0])
    with pytest.raises(ValueError, match="no port 3"):
        await hub.orders.async_start_charging(STATION_ID, 3, mode=ChargeMode.FULL)
    with pytest.raises(ValueError, match="minutes"):
        await hub.orders.async_start_charging(STATION_ID, 1, mode=ChargeMode.TIME)
    with pytest.raises(ValueError, match="energy_kwh"):
        await hub.orders.async_start_charging(STATION_ID, 1, mode=ChargeMode.ENERGY)
    with pytest.raises(ValueError, match="nor 1 to 16 printable ASCII"):
        await hub.orders.async_start_charging(
            STATION_ID, 1, mode=ChargeMode.FULL, order_number="X" * 17
        )
    with pytest.raises(NoActiveOrderError):
        await hub.orders.async_stop_charging(STATION_ID, 1)
    with pytest.raises(StationOfflineError):
        await hub.orders.async_start_charging("04A228FF", 1, mode=ChargeMode.FULL)
    assert dual_socket.commands == []
    await hub.orders.async_start_charging(STATION_ID, 1, mode=ChargeMode.FULL, max_power_w=150.0)
    (command,) = dual_socket.commands
    assert isinstance(command, ChargeControl)
    assert command.max_power_w == 150.0


@pytest.mark.parametrize(
    ("entry_options", "case"),
    [
        ({}, (0x7A8D05DD, 0, True)),
        ({CONF_CARD_POLICY: CARD_POLICY_REFUSE_ALL}, (0x7A8D05DD, 1, False)),
        (
            {CONF_CARD_POLICY: CARD_POLICY_ALLOW_LIST, CONF_CARD_ALLOW_LIST: ["7a8d05dd"]},
            (0x7A8D05DD, 0, True),
        ),
        (
            {CONF_CARD_POLICY: CARD_POLICY_ALLOW_LIST, CONF_CARD_ALLOW_LIST: ["7A8D05DD"]},
            (0x12345678, 1, False),
        ),
    ],
    ids=["accept_all", "refuse_all", "allow_listed", "not_listed"],
)
async def test_card_policy(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
    case: tuple[int, int, bool],
) -> None:
    """The policy decides; an accepted card on a port starts it after the reply."""
    card, status, starts = case
    station = station_factory(plugged=(0,))
    await connect(hass, simulator, station, captured)
    reply = await station.swipe_card(0, card)
    assert (reply.card_id, reply.account_status, reply.rate_mode, reply.port) == (
        card,
        status,
        0,
        0,
    )
    swipe = await wait_event(captured, is_type("card_swipe"))
    assert swipe["port_number"] == 1
    assert swipe["data"]["card_number"] == f"{card:08X}"
    assert swipe["data"]["accepted"] is starts
    if starts:
        start = await wait_event(captured, is_type("charging_start"))
        assert start["port_number"] == 1
        (command,) = station.commands
        assert isinstance(command, ChargeControl)
        assert (command.port, command.action, command.rate_mode, command.value) == (0, 1, 0, 0)
        assert start["data"]["order_number"] == command.order_no.hex().upper()
        kinds = [e.data["event_type"] for e in captured]
        assert kinds.index("card_swipe") < kinds.index("charging_start")
    else:
        await sync(hass, station, captured)
        assert station.commands == []


@pytest.mark.parametrize("entry_options", [{CONF_CHARGE_MODE: "energy", CONF_CHARGE_ENERGY: 1.5}])
async def test_card_start_in_energy_mode_and_balance_query(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """The configured mode goes into the reply and the start; 0xFF only asks the balance."""
    station = station_factory()
    await connect(hass, simulator, station, captured)
    query = await station.swipe_card(0xFF, 0x11223344)
    assert (query.account_status, query.rate_mode, query.port) == (0, 2, 0xFF)
    await sync(hass, station, captured)
    assert station.commands == []
    (swipe,) = of_type(captured, "card_swipe")
    assert "port_number" not in swipe
    assert swipe["data"]["balance_query"] is True

    # Port 1 has no charger: the start is refused; the card was still accepted.
    reply = await station.swipe_card(0, 0x11223344)
    assert reply.account_status == 0
    failed = await wait_event(captured, is_type("charging_failed"))
    assert failed["data"]["response_code"] == 1
    (command,) = station.commands
    assert isinstance(command, ChargeControl)
    assert (command.rate_mode, command.value) == (2, 150)


@pytest.mark.parametrize("entry_options", [TARIFF])
async def test_restart_with_an_open_order(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """An order open across a restart still gets its right charging_end and settlement."""
    await hass.config.async_set_time_zone("Asia/Shanghai")
    entry = init_integration
    hub = hub_of(entry)
    station = station_factory(plugged=(0,), **FAST)
    await station.connect("127.0.0.1", hub.server.port)
    try:
        await wait_event(captured, is_type("device_heartbeat"))
        await hub.orders.async_start_charging(
            STATION_ID, 1, mode=ChargeMode.FULL, order_number="R1"
        )
        start = await wait_event(captured, is_type("charging_start"))
        power = await wait_event(captured, is_type("charging_power"))
        assert power["data"]["order_id"] == "R1"

        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        offline = await wait_event(captured, is_type("device_offline"))
        assert offline["data"]["offline_reason"] == "system_shutdown"
        await station.wait_for(lambda: not station.is_connected)
        # The order ends while Home Assistant is away: the station keeps the settlement.
        station.unplug(0)
        (settled,) = station.settlements
        assert settled.stop_reason == 5

        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        hub = hub_of(entry)
        restored = hub.stations[STATION_ID]
        assert not restored.online
        assert restored.port_count == 2
        assert restored.ports[1].order is not None
        assert restored.ports[1].order.order_number == "R1"
        assert restored.ports[1].lifetime_energy_kwh > 0
        # The stored energy of the running order may be older than the last figure shown
        # before a crash: the lifetime sensor stays unknown until the station reports again.
        assert restored.ports[1].lifetime_confirmed is False

        await station.connect("127.0.0.1", hub.server.port)
        end = await wait_event(captured, is_type("charging_end"))
        bill = await wait_event(captured, is_type("settlement"))
    finally:
        await station.close()
    started = start["data"]["start_time"]
    assert end["data"]["order_id"] == "R1"
    assert end["data"]["start_time"] == local_time_text(started)
    assert end["data"]["end_time"] == local_time_text(started + settled.duration_s)
    assert end["data"]["stop_reason"] == 5
    assert end["data"]["stop_reason_desc"] == "用户拔出"
    assert bill["data"]["start_time"] == started
    assert bill["data"]["end_time"] == started + settled.duration_s
    assert bill["data"]["total_energy"] == settled.energy_kwh
    port = hub.stations[STATION_ID].ports[1]
    assert port.order is None
    assert port.lifetime_energy_kwh == settled.energy_kwh
    assert port.lifetime_confirmed is True
    assert len(of_type(captured, "charging_end")) == 1


async def test_station_started_order_and_lifetime_energy(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """An offline-card order is adopted from 0x06; the lifetime energy never goes back."""
    hub = hub_of(init_integration)
    station = station_factory(plugged=(0,), **FAST)
    await connect(hass, simulator, station, captured)
    order_no = station.start_offline_charge(0, card_id=0x1234)
    power = await wait_event(captured, is_type("charging_power"))
    order_number = order_no_text(order_no)
    assert power["data"]["order_id"] == order_number
    port = hub.stations[STATION_ID].ports[1]
    assert port.order is not None
    assert port.order.start_mode == 0
    assert int(port.order.started_at) == power["timestamp"] - power["data"]["charging_duration"]
    assert power["data"]["cumulative_energy"] > 0

    # A report below the last one (a station's rounding, a reset meter): no step back.
    station.send(PowerHeartbeat(0, 1, 1, 0.0, 0, 1.0, 1.0, 1.0, 1.0, order_no))
    await sync(hass, station, captured)
    reported = [p["data"]["cumulative_energy"] for p in of_type(captured, "charging_power")]
    assert reported[-1] == 0.0
    assert port.lifetime_energy_kwh == max(reported)
    assert port.session_energy_kwh == 0.0

    stop = await hub.orders.async_stop_charging(STATION_ID, 1)
    assert stop.order_number == order_number
    end = await wait_event(captured, is_type("charging_end"))
    (settled,) = station.settlements
    assert end["data"]["order_id"] == order_number
    assert port.lifetime_energy_kwh == settled.energy_kwh

    # A late 0x06 of the settled order is not adopted again.
    station.send(PowerHeartbeat(0, 1, 1, 0.5, 0, 1.0, 1.0, 1.0, 1.0, order_no))
    await sync(hass, station, captured)
    assert port.order is None
    assert len(of_type(captured, "charging_power")) == len(of_type(captured, "power_heartbeat")) - 1

    # A second order adds to the first.
    first = port.lifetime_energy_kwh
    reports = len(of_type(captured, "charging_power"))
    await hub.orders.async_start_charging(STATION_ID, 1, mode=ChargeMode.FULL)
    await wait_until(lambda: len(of_type(captured, "charging_power")) > reports)
    station.unplug(0)
    await wait_until(lambda: len(of_type(captured, "settlement")) == 2)
    second = station.settlements[1].energy_kwh
    assert port.lifetime_energy_kwh == round(first + second, 2)
    # A frame without an order number is a power report only.
    station.send(PowerHeartbeat(1, 9, 0, 0.0, 1, 0.0, 0.0, 0.0, 0.0, bytes(16)))
    await sync(hass, station, captured)
    assert hub.stations[STATION_ID].ports[2].order is None
    assert hub.stations[STATION_ID].ports[2].status == 0


@pytest.mark.parametrize("entry_options", [{CONF_HEARTBEAT_TIMEOUT: 0.3}])
async def test_offline_heartbeat_timeout(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """No frame within the configured timeout: device_offline heartbeat_timeout."""
    station = station_factory()
    await connect(hass, simulator, station, captured)
    # On a loaded machine the start-up frames can straddle the 0.3 s timeout (the station
    # then comes back with its next frame); what counts is the timeout after the heartbeat,
    # its last frame.
    after_heartbeat = len(captured)
    await wait_until(
        lambda: any(
            event.data["event_type"] == "device_offline" for event in captured[after_heartbeat:]
        )
    )
    offline = next(
        event.data
        for event in captured[after_heartbeat:]
        if event.data["event_type"] == "device_offline"
    )
    assert offline["data"]["offline_reason"] == "heartbeat_timeout"
    assert offline["data"]["offline_duration"] in (0, 1)
    assert offline["data"]["connection_duration"] in (0, 1)
    assert "port_number" not in offline
    state = hub_of(init_integration).stations[STATION_ID]
    assert not state.online
    assert state.offline_reason == "heartbeat_timeout"


async def test_offline_reasons(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """Lost connection, a disconnect by the server, and the unload's shutdown."""
    hub = hub_of(init_integration)
    station = station_factory()
    await connect(hass, simulator, station, captured)
    online = of_type(captured, "device_online")[0]
    await station.disconnect()
    lost = await wait_event(captured, is_type("device_offline"))
    assert lost["data"]["offline_reason"] == "connection_lost"
    assert lost["data"]["conn_id"] == online["data"]["conn_id"]
    assert lost["data"]["last_heartbeat_time"] >= online["data"]["connect_time"]

    await station.reconnect()
    await wait_until(lambda: len(of_type(captured, "device_online")) == 2)
    assert hub.server.disconnect(STATION_ID)
    await wait_event(captured, is_type("device_offline", offline_reason="manual_disconnect"))

    await station.reconnect()
    await wait_until(lambda: len(of_type(captured, "device_online")) == 3)
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await wait_event(captured, is_type("device_offline", offline_reason="system_shutdown"))
    assert [e["data"]["offline_reason"] for e in of_type(captured, "device_offline")] == [
        "connection_lost",
        "manual_disconnect",
        "system_shutdown",
    ]


async def test_home_assistant_stop(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """Home Assistant stopping takes the stations offline (system_shutdown) and saves."""
    captured = async_capture_events(hass, EVENT_IOT_ZINX)
    hub = hub_of(init_integration)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert [e.data["data"]["offline_reason"] for e in captured] == ["system_shutdown"]
    assert not hub.server.running
    assert not hub.stations[STATION_ID].online
    # The unload at the end of the test finds the hub stopped already.
    await hub.async_stop()


async def test_device_registry_and_signals(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """The station's device, one new-station signal, updates on every change."""
    hub = hub_of(init_integration)
    entry_id = init_integration.entry_id
    new: list[str] = []
    updates: list[None] = []
    # @callback targets run in the event loop; a plain function would run in an executor
    # thread and race the assertions below.
    async_dispatcher_connect(hass, signal_new_station(entry_id), appender(new))
    async_dispatcher_connect(
        hass, signal_station_update(entry_id, STATION_ID), callback(lambda: updates.append(None))
    )
    station = station_factory(firmware=126)
    await connect(hass, simulator, station, captured)
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert device is not None
    assert device.config_entry_id == entry_id
    assert (device.manufacturer, device.model, device.name) == (
        "AP3000",
        "AP3000 dual socket (RS-485 dual-mode)",
        "AP3000 04A228CD",
    )
    assert (device.sw_version, device.serial_number) == ("V1.26", "10627277")
    assert new == [STATION_ID]
    # online, register, heartbeat: one update each.
    assert len(updates) == 3
    state = hub.stations[STATION_ID]
    assert (state.online, state.port_count, state.firmware_version) == (True, 2, "V1.26")
    assert (state.voltage_v, state.temperature_c, state.signal) == (220.0, 30, 0)
    assert state.iccid == station.iccid
    assert state.last_heartbeat is not None
    assert state.model == device.model

    # A new firmware re-registers: the device follows; the station is not new again.
    await station.disconnect()
    station.firmware = 127
    await station.reconnect()
    await wait_until(lambda: len(of_type(captured, "device_register")) == 2)
    await hass.async_block_till_done()
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert device is not None
    assert device.sw_version == "V1.27"
    assert new == [STATION_ID]

    (online, *_) = of_type(captured, "device_online")
    assert online["data"]["device_type"] == 1
    assert "firmware_version" not in online["data"]
    second = of_type(captured, "device_online")[1]
    assert second["data"]["firmware_version"] == "V1.26"
    assert second["data"]["iccid"] == station.iccid


async def test_host_gateway(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """Sub-stations behind a host gateway get it as their via device."""
    hub = hub_of(init_integration)
    sub = station_factory(0x04A228CE)
    host = simulator.add_host(0x09A00001, [sub], host_heartbeat_interval=6e6)
    await simulator.start()
    await wait_event(captured, is_type("host_heartbeat"))
    await wait_event(captured, lambda e: e["event_type"] == "device_heartbeat")
    await hass.async_block_till_done()
    host_device = device_by_identifier(hass, (DOMAIN, "09A00001"))
    sub_device = device_by_identifier(hass, (DOMAIN, "04A228CE"))
    assert host_device is not None
    assert sub_device is not None
    assert sub_device.via_device_id == host_device.id
    assert host_device.model == "AP3000 host gateway"
    assert host_device.sw_version == "V1.01"
    assert hub.stations["04A228CE"].host_station_id == "09A00001"
    assert hub.stations["09A00001"].is_host
    online = {e["device_id"]: e["data"]["device_type"] for e in of_type(captured, "device_online")}
    assert online == {"09A00001": 2, "04A228CE": 1}
    (beat,) = of_type(captured, "host_heartbeat")
    assert beat["data"]["signal_strength"] == 31
    assert beat["data"]["iccid"] == host.iccid
    assert hub.stations["09A00001"].signal == 31

    # A host's reboot is 0x31, not 0x87.
    await hub.orders.async_reboot("09A00001")
    await host.wait_for(lambda: bool(host.commands))
    assert [type(c).__name__ for c in host.commands] == ["HostReboot"]


async def test_sub_station_versions_link_the_host(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """A host's 0x35 names its sub-stations: they get it as their gateway."""
    hub = hub_of(init_integration)
    station = station_factory()
    host = simulator.add_host(0x09A00001, [], host_heartbeat_interval=6e6)
    await connect(hass, simulator, station, captured)
    await wait_event(captured, is_type("host_heartbeat"))
    assert hub.stations[STATION_ID].host_station_id is None
    host.send(SubStationVersions((SubStationVersion(0x21, 0, 126, 0x04A228CD),)))
    await wait_until(lambda: hub.stations[STATION_ID].host_station_id is not None)
    await hass.async_block_till_done()
    host_device = device_by_identifier(hass, (DOMAIN, "09A00001"))
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert host_device is not None
    assert device is not None
    assert device.via_device_id == host_device.id


async def test_legacy_heartbeat_and_alarm(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """An old station's 0x01 fills the same state; a 0x42 alarm fires device_alarm."""
    hub = hub_of(init_integration)
    station = station_factory(legacy_heartbeat=True, firmware=118, device_type=0x06)
    await connect(hass, simulator, station, captured)
    (beat,) = of_type(captured, "device_heartbeat")
    assert beat["data"]["command"] == "0x01"
    state = hub.stations[STATION_ID]
    assert (state.firmware_version, state.device_type, state.voltage_v) == ("V1.18", 6, 220.0)
    assert state.ports[1].power_w == 0.0
    station.send(Alarm(4, 0, 1))
    alarm = await wait_event(captured, is_type("device_alarm"))
    assert alarm["data"]["alarm_type_desc"] == "烟感报警"
    # The firmware changes under the same connection: the device follows.
    station.firmware = 119
    await sync(hass, station, captured)
    assert state.firmware_version == "V1.19"
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert device is not None
    assert device.sw_version == "V1.19"


async def test_commands(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """Modify, limits, query, reboot: what goes on the wire, and refusals."""
    hub = hub_of(init_integration)
    station = station_factory(plugged=(0,), reboot_delay=0.05)
    await connect(hass, simulator, station, captured)
    with pytest.raises(StationRefusedError) as refused:
        await hub.orders.async_modify_charging(STATION_ID, 1, mode=0, value=3600)
    assert (refused.value.code, refused.value.description) == (1, "port not charging")
    await hub.orders.async_start_charging(STATION_ID, 1, mode=ChargeMode.FULL)
    assert await hub.orders.async_modify_charging(STATION_ID, 1, mode=0, value=3600) == 0
    assert station.commands[-1] == ModifyCharge(0, 0, 3600)

    assert (
        await hub.orders.async_set_limits(
            STATION_ID,
            max_duration_s=36000,
            overload_power_w=1800.0,
            over_voltage_v=270.0,
            under_voltage_v=100.0,
        )
        == 0
    )
    assert station.commands[-1] == Limits(36000, 1800.0, 270.0, 100.0)
    with pytest.raises(StationRefusedError) as refused:
        await hub.orders.async_set_limits(
            STATION_ID,
            max_duration_s=36000,
            overload_power_w=2500.0,
            over_voltage_v=270.0,
            under_voltage_v=100.0,
        )
    assert (refused.value.code, refused.value.description) == (1, "beyond the station's maximum")

    await hub.orders.async_query_status(STATION_ID)
    await wait_until(lambda: len(of_type(captured, "device_register")) == 2)
    assert isinstance(station.commands[-1], QueryStatus)

    await hub.orders.async_reboot(STATION_ID)
    await wait_until(lambda: len(of_type(captured, "device_online")) == 2)
    assert isinstance(station.commands[-1], Reboot)
    assert station.reboots == 1

    # The order survived the reboot of the communication module; a refusal is an error.
    station.forced_results[0x82] = 2
    with pytest.raises(StationRefusedError) as refused:
        await hub.orders.async_stop_charging(STATION_ID, 1)
    assert (refused.value.code, refused.value.description) == (2, "端口状态和充电命令相同")
    del station.forced_results[0x82]
    stop = await hub.orders.async_stop_charging(STATION_ID, 1)
    assert stop.response_code == 0
    # A station answering 0x82 with an undecodable reply (here: after the settlement,
    # nothing left to stop) is a refusal.
    await wait_event(captured, is_type("settlement"))
    with pytest.raises(NoActiveOrderError):
        await hub.orders.async_stop_charging(STATION_ID, 1)


async def test_remove_station_and_diagnostics(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """Only an offline station can be forgotten; diagnostics summarise the stations."""
    hub = hub_of(init_integration)
    station = station_factory(plugged=(0,))
    await connect(hass, simulator, station, captured)
    # Every entity of the station shares the hub's one DeviceInfo of it.
    await hass.async_block_till_done()
    station_entities = [
        entity
        for platform in async_get_platforms(hass, DOMAIN)
        for entity in platform.entities.values()
        if (entity.unique_id or "").startswith(STATION_ID)
    ]
    assert len(station_entities) > 10
    assert all(entity.device_info is hub.device_infos[STATION_ID] for entity in station_entities)
    assert hub.device_infos[STATION_ID] == {"identifiers": {(DOMAIN, STATION_ID)}}
    await hub.orders.async_start_charging(STATION_ID, 1, mode=ChargeMode.FULL, order_number="D1")
    diagnostics = hub.diagnostics()
    assert diagnostics["server"]["port"] == hub.server.port
    assert diagnostics["server"]["running"] is True
    assert diagnostics["server"]["stats"]["connections_open"] == 1
    assert diagnostics["open_orders"] == 1
    summary = diagnostics["stations"][STATION_ID]
    assert summary["online"] is True
    assert summary["model"] == "AP3000 dual socket (RS-485 dual-mode)"
    assert summary["ports"][1]["order"] == "D1"
    assert summary["ports"][2] == {
        "status": 0,
        "power_w": None,
        "lifetime_energy_kwh": 0.0,
        "order": None,
    }

    assert hub.async_remove_station(STATION_ID) is False
    await hub.orders.async_stop_charging(STATION_ID, 1)
    await wait_event(captured, is_type("settlement"))
    station.send(power_report(1, "D2", 10, 0.0))
    await sync(hass, station, captured)
    assert hub.diagnostics()["open_orders"] == 1
    await station.disconnect()
    await wait_event(captured, is_type("device_offline"))
    assert hub.async_remove_station(STATION_ID) is True
    assert STATION_ID not in hub.stations
    assert STATION_ID not in hub.device_infos
    assert hub.diagnostics()["stations"] == {}

    # It comes back: a new station for the platforms.
    new: list[str] = []
    async_dispatcher_connect(hass, signal_new_station(init_integration.entry_id), appender(new))
    await station.reconnect()
    await wait_until(lambda: len(of_type(captured, "device_online")) == 2)
    assert new == [STATION_ID]
    # Nothing of the removed station survives: no order, no lifetime energy.
    assert hub.stations[STATION_ID].ports[1].order is None
    assert hub.stations[STATION_ID].ports[1].lifetime_energy_kwh == 0.0


@pytest.mark.parametrize(
    "entry_options",
    [{CONF_ADMISSION: ADMISSION_ALLOW_LIST, CONF_STATION_ALLOW_LIST: ["04a228ce"]}],
)
async def test_admission_allow_list(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """Only listed stations are admitted; the others are ignored by the server."""
    hub = hub_of(init_integration)
    simulator.add_station(station_factory())
    await connect(hass, simulator, station_factory(0x04A228CE), captured)
    await wait_until(lambda: hub.server.stats.rejected_stations == 1)
    assert set(hub.stations) == {"04A228CE"}
    assert {e.data["device_id"] for e in captured} == {"04A228CE"}


def padded(text: str) -> bytes:
    """A user's order number as it goes on the wire."""
    return parse_order_no(text)


def power_report(port: int, order: str, duration_s: int, energy_kwh: float) -> PowerHeartbeat:
    """A 0x06 of wire port ``port`` for the order ``order`` (100 W at 220 V)."""
    return PowerHeartbeat(
        port,
        1,
        duration_s,
        energy_kwh,
        1,
        100.0,
        100.0,
        100.0,
        100.0,
        padded(order),
        0,
        100.0,
        220.0,
        0.455,
    )


def settlement_of(port: int, order: bytes, energy_kwh: float, duration_s: int = 600) -> Settlement:
    """A 0x03 of an online order stopped by the server."""
    return Settlement(duration_s, 120.0, energy_kwh, port, 1, 0, 7, order, 110.0)


async def test_reports_before_the_start_reply(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """A 0x06 of an order whose start reply is late (or lost) waits for the start's outcome."""
    hub = hub_of(init_integration)
    station = station_factory(plugged=(0,))
    await connect(hass, simulator, station, captured)

    # The first command is lost; the resend is answered. Meanwhile the station reports.
    station.drop_commands = 1
    start = asyncio.ensure_future(
        hub.orders.async_start_charging(STATION_ID, 1, mode=ChargeMode.FULL, order_number="P1")
    )
    await station.wait_for(lambda: len(station.commands) == 1)
    station.send(power_report(0, "P1", 30, 0.01))
    await wait_until(lambda: hub.stations[STATION_ID].ports[1].order is not None)
    assert of_type(captured, "power_heartbeat") == []
    assert (await start).response_code == 0
    kinds = [e.data["event_type"] for e in captured if e.data["event_type"] != "device_heartbeat"]
    assert kinds[-4:] == ["charging_start", "port_heartbeat", "power_heartbeat", "charging_power"]
    started = of_type(captured, "charging_start")[0]
    power = of_type(captured, "charging_power")[0]
    # The order started when the station says, 30 s before its report.
    assert started["data"]["start_time"] == power["timestamp"] - 30
    assert started["data"]["message_id"] == "0x0001"

    # Port 2: the station starts but its reply never comes; the report adopts the order.
    station.ignore_commands = True
    start = asyncio.ensure_future(
        hub.orders.async_start_charging(STATION_ID, 2, mode=ChargeMode.FULL, order_number="P2")
    )
    await station.wait_for(lambda: len(station.commands) == 3)
    station.send(power_report(1, "P2", 5, 0.0))
    with pytest.raises(CommandTimeoutError):
        await start
    kinds = [e.data["event_type"] for e in captured if e.data["event_type"] != "device_heartbeat"]
    assert kinds[-4:] == [
        "charging_failed",
        "port_heartbeat",
        "power_heartbeat",
        "charging_power",
    ]
    order = hub.stations[STATION_ID].ports[2].order
    assert order is not None
    assert order.order_number == "P2"
    assert order.start_mode == 1


@pytest.fixture
def one_open_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub keeps a single open order: older ones are forgotten."""
    monkeypatch.setattr(store_module, "MAX_OPEN_ORDERS", 1)
    monkeypatch.setattr(store_module, "OPEN_ORDERS_PER_STATION", 1)


@pytest.mark.usefixtures("one_open_order")
async def test_settlements_of_unknown_and_ended_orders(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    captured: list[Event],
) -> None:
    """charging_end once per order; an order forgotten or never seen still settles."""
    await hass.config.async_set_time_zone("UTC")
    hub = hub_of(init_integration)
    station = station_factory()
    await connect(hass, simulator, station, captured)
    station.send(power_report(0, "A1", 60, 0.02))
    station.send(power_report(1, "B1", 60, 0.03))
    await sync(hass, station, captured)
    # Only one open order is kept: A1 was forgotten when B1 came.
    assert hub.diagnostics()["open_orders"] == 1
    ports = hub.stations[STATION_ID].ports
    assert ports[1].lifetime_energy_kwh == 0.02

    station.send(settlement_of(0, padded("A1"), 0.05, duration_s=600))
    await sync(hass, station, captured)
    (end,) = of_type(captured, "charging_end")
    (bill,) = of_type(captured, "settlement")
    # Unknown order: it ended when the settlement arrived, 600 s after its start.
    assert bill["data"]["end_time"] == bill["timestamp"]
    assert bill["data"]["start_time"] == bill["timestamp"] - 600
    assert end["data"]["order_id"] == "A1"
    assert ports[1].order is None
    assert ports[1].lifetime_energy_kwh == 0.05

    # The same order settled again with other figures: a settlement, no second end, and
    # its energy is not counted twice.
    station.send(settlement_of(0, padded("A1"), 0.06, duration_s=660))
    await sync(hass, station, captured)
    assert len(of_type(captured, "charging_end")) == 1
    assert len(of_type(captured, "settlement")) == 2
    assert ports[1].lifetime_energy_kwh == 0.05

    # Settlements without an order number are each their own order.
    for energy in (0.01, 0.02):
        station.send(settlement_of(1, bytes(16), energy))
    await sync(hass, station, captured)
    assert len(of_type(captured, "charging_end")) == 3
    assert ports[2].order is not None  # B1 still runs: those settlements were not its own
    assert ports[2].lifetime_energy_kwh == 0.06


async def test_observer_edge_cases(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Links the server makes in rarer orders: a host after its sub-station, no ICCID."""
    hub = hub_of(init_integration)
    captured = async_capture_events(hass, EVENT_IOT_ZINX)

    def link(physical_id: int, conn_id: int = 900) -> StationLink:
        return StationLink(
            physical_id, f"{physical_id:08X}", conn_id, "10.0.0.1:5000", 1.7e9, None, 1.7e9
        )

    sub, host = link(0x04A228CE), link(0x09A00002)
    hub.station_online(sub)
    assert hub.stations["04A228CE"].host_station_id is None
    hub.station_online(host)
    assert hub.stations["04A228CE"].host_station_id == "09A00002"
    host_device = device_by_identifier(hass, (DOMAIN, "09A00002"))
    sub_device = device_by_identifier(hass, (DOMAIN, "04A228CE"))
    assert host_device is not None
    assert sub_device is not None
    assert sub_device.via_device_id == host_device.id
    assert sub_device.sw_version is None
    assert hub.stations["04A228CE"].iccid is None

    hub.message_received(host, HostHeartbeat(101, 0, 0, 99, 6, "", 0x50, 0))
    assert hub.stations["09A00002"].iccid is None
    assert hub.stations["09A00002"].signal == 99
    hub.message_received(host, SubStationVersions((SubStationVersion(0x21, 0, 126, 0x04FFFFFF),)))
    hub.message_received(sub, TimeRequest())
    hub.message_received(
        sub, LegacyHeartbeat(126, 221.0, 1, (1,), (150.0,), (150.0,), 0, 5, 0x06, None)
    )
    state = hub.stations["04A228CE"]
    assert (state.work_mode, state.temperature_c, state.ports[1].power_w) == (None, None, 150.0)
    assert state.ports[1].is_charging
    assert state.ports[1].status_desc == "充电中"
    assert not state.ports[1].is_fault

    # A frame of a station the hub does not know (its online callback failed): it is added.
    stray = link(0x04A228CF, conn_id=901)
    hub.message_received(stray, Register(126, 2, 0, 0x21))
    assert hub.stations["04A228CF"].online
    assert hub.stations["04A228CF"].port_count == 2
    # An offline report of a station already forgotten still fires its event.
    hub.station_offline(link(0x04A22800), OfflineReason.CONNECTION_LOST)
    assert captured[-1].data["device_id"] == "04A22800"
    assert captured[-1].data["event_type"] == "device_offline"
    # A charger's power drops to nothing when its port stops charging.
    hub.message_received(sub, Heartbeat(221.0, 1, (2,), 5, 25))
    assert (state.ports[1].power_w, state.ports[1].current_a) == (0.0, None)

    assert Orders._charge_result(None) == 14


def test_recent_sets_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settlement ids and ended orders are remembered up to MAX_RECENT, oldest out first."""
    monkeypatch.setattr(store_module, "MAX_RECENT", 2)
    book = store_module.OrderBook()
    assert [book.first_settlement(key) for key in ("a", "b", "c", "c", "a")] == [
        True,
        True,
        True,
        False,
        True,  # forgotten: "a" was the oldest of three
    ]
    assert book.recent_settlements == 2
    for key in ("x", "y", "z"):
        book.end(key)
    assert [book.is_ended(key) for key in ("x", "y", "z")] == [False, True, True]


def test_bounds_grow_with_the_fleet() -> None:
    """3,000 stations run 10,000 orders at once: none is forgotten while it runs."""
    fleet = {f"{0x04A00000 + n:08X}": None for n in range(3000)}
    book = store_module.OrderBook(fleet)
    for n in range(10_000):
        book.open(f"{0x04A00000 + n % 3000:08X}:{n:032x}", Order(str(n), b"", 1, 0.0, 0))
    assert len(book.orders) == 10_000 > store_module.MAX_OPEN_ORDERS
    for n in range(5_000):
        assert book.first_settlement(f"settlement-{n}")
    # A resend of the first one, 5,000 settlements later, is still recognised.
    assert not book.first_settlement("settlement-0")
    assert book.recent_settlements == 5_000


async def test_removed_entry_forgets_its_storage(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_storage: dict[str, Any],
    dual_socket: SimulatedStation,
) -> None:
    """Unloading saves the orders and energy; removing the entry deletes them."""
    key = f"{DOMAIN}.{init_integration.entry_id}"
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    saved = hass_storage[key]["data"]
    assert saved["stations"][STATION_ID]["port_count"] == 2
    assert saved["orders"] == []
    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage
