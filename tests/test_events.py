"""The docs/events.md envelopes: documented keys, value types and exact values of vendor frames."""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import time
from typing import Any
import uuid

from homeassistant.core import HomeAssistant
import pytest

from custom_components.iot_zinx import events
from custom_components.iot_zinx.events import EventType
from custom_components.iot_zinx.models import Order, StationState
from custom_components.iot_zinx.protocol.frame import decode_frame
from custom_components.iot_zinx.protocol.messages import (
    Alarm,
    CardReply,
    CardSwipe,
    Heartbeat,
    HostHeartbeat,
    LegacyHeartbeat,
    PowerHeartbeat,
    Register,
    Settlement,
    UpstreamMessage,
    decode_upstream,
)
from custom_components.iot_zinx.protocol.server import OfflineReason, StationLink

# `../shared/events/sample_session.json` from the repository root (the documentation's example
# bodies, whose field names and value types are binding); a copy under tests/fixtures wins so
# that the suite can run without the shared tree.
_SAMPLE_PATHS = (
    Path(__file__).parent / "fixtures" / "sample_session.json",
    Path(__file__).parents[2] / "shared" / "events" / "sample_session.json",
)

# The vendor's example frames (device-server protocol v8.6, vectors.json).
REGISTER_FRAME = "44 4E 59 13 00 3B 37 AB 04 B9 00 20 7E 00 02 14 21 00 00 00 E4 00 91 04"
HEARTBEAT_FRAME = "44 4E 59 10 00 3B 37 AB 04 01 00 21 98 08 02 00 00 09 05 EE 02"
LEGACY_HEARTBEAT_FRAME = (
    "44 4E 59 1D 00 3B 37 AB 04 B9 00 01 7E 00 8C 08 02 00 03 00 00 E4 00 00 00 3B 02 29 07 "
    "02 20 00 6D 05"
)
CARD_FRAME = "44 4E 59 11 00 3B 37 AB 04 01 00 02 7A 8D 05 DD 00 01 00 00 0A 04"
SETTLEMENT_FRAME = (
    "44 4E 59 28 00 3B 37 AB 04 01 00 03 10 0E E8 03 30 00 01 01 00 00 00 00 01 20 19 09 01 "
    "18 00 00 13 00 30 38 01 02 03 04 05 E8 03 44 05"
)
POWER_FRAME = (
    "44 4E 59 32 00 3B 37 AB 04 0A 00 06 01 01 10 0E 30 00 01 E8 03 B0 04 20 03 E8 03 20 19 "
    "09 01 18 00 00 13 00 30 38 01 02 03 04 05 01 00 E8 03 98 08 C7 01 55 00 DA 08"
)
HOST_HEARTBEAT_FRAME = (
    "44 4E 59 29 00 84 26 D6 09 04 00 11 65 00 01 5C 5C A9 5F 1F 06 38 39 38 36 30 34 31 33 "
    "31 36 31 38 39 32 30 30 39 32 37 35 50 D8 01 3F 0A"
)
ORDER_NO = bytes.fromhex("20190901180000130030380102030405")
ORDER_NUMBER = "20190901180000130030380102030405"
ICCID = "89860413161892009275"

CONNECTED_AT = 1703120000.0
NOW = 1703123600.0
START = 1703123500.0


def decode[M: UpstreamMessage](hex_frame: str, cls: type[M]) -> M:
    """A vendor frame's message, checked to be of the expected class."""
    frame = decode_frame(bytes.fromhex(hex_frame))
    message = decode_upstream(frame.command, frame.payload)
    assert isinstance(message, cls)
    return message


def make_link(physical_id: int = 0x04AB373B, **changes: Any) -> StationLink:
    """The link of station 04AB373B as the server would hold it."""
    values: dict[str, Any] = {
        "physical_id": physical_id,
        "device_id": f"{physical_id:08X}",
        "conn_id": 12345,
        "remote_addr": "192.168.1.100:54321",
        "connected_at": CONNECTED_AT,
        "iccid": ICCID,
        "last_seen": NOW,
        "last_heartbeat": 1703123540.0,
    }
    values.update(changes)
    return StationLink(**values)


def make_order(**changes: Any) -> Order:
    """An online order of port 2 accepted at START."""
    values: dict[str, Any] = {
        "order_number": ORDER_NUMBER,
        "order_no": ORDER_NO,
        "port": 2,
        "started_at": START,
        "start_mode": 1,
    }
    values.update(changes)
    return Order(**values)


@pytest.fixture
async def shanghai(hass: HomeAssistant) -> None:
    """Home Assistant set to the stations' time zone (Beijing time)."""
    await hass.config.async_set_time_zone("Asia/Shanghai")


def _station() -> StationState:
    return StationState("04AB373B", 0x04AB373B, firmware=126)


# Every type, built from the vendor's frames; the table below says which keys it must have.
BUILDERS: dict[EventType, Callable[[], events.Envelope]] = {
    EventType.DEVICE_ONLINE: lambda: events.device_online(make_link(), _station(), timestamp=NOW),
    EventType.DEVICE_REGISTER: lambda: events.device_register(
        make_link(), decode(REGISTER_FRAME, Register), timestamp=NOW
    ),
    EventType.DEVICE_HEARTBEAT: lambda: events.device_heartbeat(
        make_link(), decode(HEARTBEAT_FRAME, Heartbeat), timestamp=NOW
    ),
    EventType.PORT_HEARTBEAT: lambda: events.port_heartbeat(
        "04AB373B", 1, 1, 0, voltage_v=220.5, temperature_c=25, timestamp=NOW
    ),
    EventType.CHARGING_START: lambda: events.charging_start(
        make_link(), make_order(), message_id=0x42, timestamp=START
    ),
    EventType.CHARGING_FAILED: lambda: events.charging_failed(
        "04AB373B",
        2,
        order_number=ORDER_NUMBER,
        response_code=7,
        message_id=0x42,
        timestamp=START,
    ),
    EventType.POWER_HEARTBEAT: lambda: events.power_heartbeat(
        "04AB373B", decode(POWER_FRAME, PowerHeartbeat), timestamp=NOW
    ),
    EventType.CHARGING_POWER: lambda: events.charging_power(
        "04AB373B", decode(POWER_FRAME, PowerHeartbeat), make_order(), timestamp=NOW
    ),
    EventType.CHARGING_END: lambda: events.charging_end(
        "04AB373B", decode(SETTLEMENT_FRAME, Settlement), make_order(), timestamp=NOW
    ),
    EventType.SETTLEMENT: lambda: events.settlement(
        "04AB373B",
        decode(SETTLEMENT_FRAME, Settlement),
        make_order(),
        electricity_price=1.2,
        service_price=0.3,
        timestamp=NOW,
    ),
    EventType.DEVICE_OFFLINE: lambda: events.device_offline(
        make_link(), OfflineReason.HEARTBEAT_TIMEOUT, timestamp=NOW
    ),
    EventType.CARD_SWIPE: lambda: events.card_swipe(
        "04AB373B",
        decode(CARD_FRAME, CardSwipe),
        CardReply(0x7A8D05DD, 0, 0, 0, 1),
        timestamp=NOW,
    ),
    EventType.DEVICE_ALARM: lambda: events.device_alarm("04AB373B", Alarm(4, 1, 1), timestamp=NOW),
    EventType.HOST_HEARTBEAT: lambda: events.host_heartbeat(
        make_link(0x09D62684), decode(HOST_HEARTBEAT_FRAME, HostHeartbeat), timestamp=NOW
    ),
}

# docs/events.md, "The eleven documented types": the data keys of each, then the documented extras;
# the extensions' keys are this integration's (docs/events.md, "Extensions"). Exactly these.
DOCUMENTED_KEYS: dict[EventType, set[str]] = {
    EventType.DEVICE_ONLINE: {
        "conn_id",
        "remote_addr",
        "connect_time",
        "device_type",
        "firmware_version",
        "iccid",
    },
    EventType.DEVICE_REGISTER: {
        "physical_id",
        "physical_id_decimal",
        "iccid",
        "device_version",
        "device_type",
        "heartbeat_period",
        "register_time",
        "command",
        "conn_id",
        "remote_addr",
        "port_count",
        "virtual_id",
        "work_mode",
        "power_board_version",
    },
    EventType.DEVICE_HEARTBEAT: {
        "voltage",
        "port_count",
        "port_statuses",
        "signal_strength",
        "temperature",
        "command",
        "conn_id",
        "remote_addr",
    },
    EventType.PORT_HEARTBEAT: {
        "port_status",
        "port_status_desc",
        "previous_status",
        "previous_status_desc",
        "is_charging",
        "fault_detected",
        "status_change_time",
        "voltage",
        "temperature",
    },
    EventType.CHARGING_START: {
        "order_number",
        "response_code",
        "status_desc",
        "start_time",
        "command",
        "message_id",
        "conn_id",
        "remote_addr",
    },
    EventType.CHARGING_FAILED: {
        "order_number",
        "response_code",
        "status_desc",
        "failure_reason",
        "error_code",
        "failed_time",
        "command",
        "message_id",
    },
    EventType.POWER_HEARTBEAT: {
        "current_power",
        "max_power",
        "min_power",
        "avg_power",
        "cumulative_energy",
        "voltage",
        "current",
        "charging_status",
        "charging_status_desc",
        "command",
        "order_id",
        "charge_duration",
        "peak_power",
        "port_temperature",
    },
    EventType.CHARGING_POWER: {
        "instant_power",
        "cumulative_energy",
        "charging_duration",
        "voltage",
        "current",
        "order_id",
        "power_factor",
    },
    EventType.CHARGING_END: {
        "order_id",
        "total_energy",
        "charge_duration",
        "start_time",
        "end_time",
        "stop_reason",
        "stop_reason_desc",
        "settlement_triggered",
        "command",
    },
    EventType.SETTLEMENT: {
        "order_id",
        "card_number",
        "total_energy",
        "total_fee",
        "charge_fee",
        "service_fee",
        "start_time",
        "end_time",
        "charge_duration",
        "settlement_id",
        "settlement_type",
        "command",
        "stop_reason",
        "max_power",
        "start_mode",
    },
    EventType.DEVICE_OFFLINE: {
        "conn_id",
        "offline_reason",
        "last_heartbeat_time",
        "offline_duration",
        "connection_duration",
    },
    EventType.CARD_SWIPE: {
        "card_number",
        "card_type",
        "balance_query",
        "account_status",
        "account_status_desc",
        "accepted",
        "rate_mode",
        "swipe_time",
        "command",
    },
    EventType.DEVICE_ALARM: {
        "alarm_type",
        "alarm_type_desc",
        "port",
        "trigger_bits",
        "alarm_time",
        "command",
    },
    EventType.HOST_HEARTBEAT: {
        "firmware_version",
        "signal_strength",
        "module_type",
        "module_type_desc",
        "host_type",
        "host_type_desc",
        "iccid",
        "imei",
        "module_version",
        "frequency",
        "rtc",
        "host_time",
        "command",
        "conn_id",
        "remote_addr",
    },
}


def _load_samples() -> list[dict[str, Any]]:
    for path in _SAMPLE_PATHS:
        if path.is_file():
            samples: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
            return samples
    # The sample bodies are the binding contract: never skip their test silently.
    raise FileNotFoundError(f"sample_session.json not found in {[str(p) for p in _SAMPLE_PATHS]}")


def _json_kind(value: object) -> str:
    """The JSON type a receiver sees (bool before int: a bool is an int in Python)."""
    for kind, types in (
        ("boolean", bool),
        ("integer", int),
        ("number", float),
        ("string", str),
        ("array", list),
        ("object", dict),
    ):
        if isinstance(value, types):
            return kind
    return "null"


def test_every_type_has_a_builder() -> None:
    """Eleven documented types and three extensions, each with its table entry."""
    assert {str(kind) for kind in EventType} == {
        "device_online",
        "device_offline",
        "device_register",
        "device_heartbeat",
        "port_heartbeat",
        "charging_start",
        "charging_end",
        "charging_failed",
        "power_heartbeat",
        "charging_power",
        "settlement",
        "card_swipe",
        "device_alarm",
        "host_heartbeat",
    }
    assert set(BUILDERS) == set(EventType) == set(DOCUMENTED_KEYS)


@pytest.mark.usefixtures("shanghai")
@pytest.mark.parametrize("event_type", list(EventType), ids=str)
def test_envelope_and_documented_keys(event_type: EventType) -> None:
    """The envelope's fields and exactly the documented data keys."""
    event = BUILDERS[event_type]()
    is_port_event = event_type in events.PORT_EVENT_TYPES
    expected = {"event_id", "event_type", "device_id", "timestamp", "data"}
    assert set(event) == (expected | {"port_number"} if is_port_event else expected)
    assert str(uuid.UUID(event["event_id"], version=4)) == event["event_id"]
    assert event["event_type"] == str(event_type)
    assert type(event["event_type"]) is str
    assert event["device_id"] == (
        "09D62684" if event_type is EventType.HOST_HEARTBEAT else "04AB373B"
    )
    assert type(event["timestamp"]) is int
    assert set(event["data"]) == DOCUMENTED_KEYS[event_type]
    # The bus and the webhooks carry JSON: the envelope must survive a round trip unchanged.
    assert json.loads(json.dumps(event, ensure_ascii=False)) == event


@pytest.mark.usefixtures("shanghai")
def test_value_types_match_the_sample_session() -> None:
    """Every key of the documentation's example bodies has the same JSON type in ours."""
    samples = _load_samples()
    assert len(samples) == 13
    for sample in samples:
        ours = BUILDERS[EventType(sample["event_type"])]()
        assert ("port_number" in ours) == ("port_number" in sample), sample["event_id"]
        for key, value in sample["data"].items():
            assert key in ours["data"], (sample["event_id"], key)
            assert _json_kind(ours["data"][key]) == _json_kind(value), (sample["event_id"], key)
            if isinstance(value, list):
                assert [set(item) for item in ours["data"][key]] == [
                    set(item) for item in value[: len(ours["data"][key])]
                ]


def test_device_online() -> None:
    """connect_time from the link; firmware and ICCID once known; 2 for a host gateway."""
    event = events.device_online(make_link(), _station(), timestamp=NOW)
    assert event["timestamp"] == 1703123600
    assert event["data"] == {
        "conn_id": 12345,
        "remote_addr": "192.168.1.100:54321",
        "connect_time": 1703120000,
        "device_type": 1,
        "firmware_version": "V1.26",
        "iccid": ICCID,
    }
    unknown = events.device_online(
        make_link(iccid=None), StationState("04AB373B", 0x04AB373B), timestamp=NOW
    )
    assert unknown["data"] == {
        "conn_id": 12345,
        "remote_addr": "192.168.1.100:54321",
        "connect_time": 1703120000,
        "device_type": 1,
    }
    host = events.device_online(
        make_link(0x09D62684, iccid=None), StationState("09D62684", 0x09D62684), timestamp=NOW
    )
    assert host["data"]["device_type"] == 2
    assert host["device_id"] == "09D62684"


def test_device_register_vendor_frame() -> None:
    """The vendor's 0x20 example."""
    event = events.device_register(make_link(), decode(REGISTER_FRAME, Register), timestamp=NOW)
    assert event["data"] == {
        "physical_id": "0x04AB373B",
        "physical_id_decimal": 78329659,
        "iccid": ICCID,
        "device_version": "V1.26",
        "device_type": 0x21,
        "heartbeat_period": 180,
        "register_time": 1703123600,
        "command": "0x20",
        "conn_id": 12345,
        "remote_addr": "192.168.1.100:54321",
        "port_count": 2,
        "virtual_id": 20,
        "work_mode": 0,
        "power_board_version": 0,
    }
    without_iccid = events.device_register(
        make_link(iccid=None), Register(126, 2, 0, 0x21), timestamp=NOW
    )
    assert without_iccid["data"]["iccid"] == ""
    assert without_iccid["data"]["work_mode"] is None


def test_device_heartbeat_vendor_frames() -> None:
    """0x21 and the old 0x01: ports numbered from 1, descriptions in the vendor's words."""
    event = events.device_heartbeat(make_link(), decode(HEARTBEAT_FRAME, Heartbeat))
    assert "port_number" not in event
    assert event["data"] == {
        "voltage": 220.0,
        "port_count": 2,
        "port_statuses": [
            {"port": 1, "status": 0, "status_desc": "空闲"},
            {"port": 2, "status": 0, "status_desc": "空闲"},
        ],
        "signal_strength": 9,
        "temperature": -60,
        "command": "0x21",
        "conn_id": 12345,
        "remote_addr": "192.168.1.100:54321",
    }
    legacy = events.device_heartbeat(make_link(), decode(LEGACY_HEARTBEAT_FRAME, LegacyHeartbeat))
    assert legacy["data"]["command"] == "0x01"
    assert legacy["data"]["voltage"] == 218.8
    assert legacy["data"]["port_statuses"][1] == {
        "port": 2,
        "status": 3,
        "status_desc": "有充电器但未充电（已充满电）",
    }
    assert legacy["data"]["temperature"] == -33


def test_port_heartbeat_fault_and_unknown_codes() -> None:
    """A fault (sample evt_err_002) and a code the table does not know."""
    event = events.port_heartbeat(
        "04A228CD", 1, 7, 0, voltage_v=220.54, temperature_c=None, timestamp=1703123501
    )
    assert event["port_number"] == 1
    assert event["data"] == {
        "port_status": 7,
        "port_status_desc": "插座弹片卡住故障",
        "previous_status": 0,
        "previous_status_desc": "空闲",
        "is_charging": False,
        "fault_detected": True,
        "status_change_time": 1703123501,
        "voltage": 220.5,
        "temperature": None,
    }
    unknown = events.port_heartbeat("04A228CD", 2, 0x1C, 5, voltage_v=None, temperature_c=25)
    assert unknown["data"]["port_status_desc"] == "未知(0x1C)"
    assert unknown["data"]["previous_status_desc"] == "浮充"
    assert unknown["data"]["voltage"] is None


def test_charging_start_and_failed() -> None:
    """Order number, the vendor's result wording, message id as 4 hex digits."""
    start = events.charging_start(make_link(), make_order(), message_id=0x42, timestamp=START)
    assert start["port_number"] == 2
    assert start["timestamp"] == 1703123500
    assert start["data"] == {
        "order_number": ORDER_NUMBER,
        "response_code": 0,
        "status_desc": "执行成功",
        "start_time": 1703123500,
        "command": "0x82",
        "message_id": "0x0042",
        "conn_id": 12345,
        "remote_addr": "192.168.1.100:54321",
    }
    failed = events.charging_failed(
        "04A228CD",
        1,
        order_number="ORD20231221002",
        response_code=7,
        message_id=0x1234,
        timestamp=1703123500,
    )
    assert failed["port_number"] == 1
    assert failed["data"] == {
        "order_number": "ORD20231221002",
        "response_code": 7,
        "status_desc": "存储器损坏",
        "failure_reason": "存储器损坏",
        "error_code": 7,
        "failed_time": 1703123500,
        "command": "0x82",
        "message_id": "0x1234",
    }


def test_power_heartbeat_and_charging_power_vendor_frame() -> None:
    """The vendor's 0x06 example: port 2 (wire 1), 100 W at 220 V and 0.455 A."""
    message = decode(POWER_FRAME, PowerHeartbeat)
    power = events.power_heartbeat("04AB373B", message, timestamp=NOW)
    assert power["port_number"] == 2
    assert power["data"] == {
        "current_power": 100.0,
        "max_power": 120.0,
        "min_power": 80.0,
        "avg_power": 100.0,
        "cumulative_energy": 0.48,
        "voltage": 220.0,
        "current": 0.455,
        "charging_status": 1,
        "charging_status_desc": "正常充电",
        "command": "0x06",
        "order_id": ORDER_NUMBER,
        "charge_duration": 3600,
        "peak_power": 100.0,
        # The frame stops before the port temperature byte.
        "port_temperature": None,
    }
    charging = events.charging_power("04AB373B", message, make_order(), timestamp=NOW)
    assert charging["port_number"] == 2
    assert charging["data"] == {
        "instant_power": 100.0,
        "cumulative_energy": 0.48,
        "charging_duration": 3600,
        "voltage": 220.0,
        "current": 0.455,
        "order_id": ORDER_NUMBER,
        "power_factor": 0.999,
    }


def test_charging_power_without_voltage_has_no_power_factor() -> None:
    """An old station's 0x06 without voltage and current: no power factor at all."""
    message = PowerHeartbeat(0, 1, 60, 0.01, 1, 150.0, 150.0, 150.0, 150.0, ORDER_NO)
    data = events.charging_power("04AB373B", message, make_order(port=1))["data"]
    assert "power_factor" not in data
    assert data["voltage"] is None
    assert data["current"] is None


@pytest.mark.parametrize(
    ("power", "voltage", "current", "expected"),
    [
        (100.0, 220.0, 0.455, 0.999),
        (2200.0, 220.0, 8.0, 1.0),  # clipped: rounding of the station's figures
        (0.0, 220.0, 1.0, 0.0),
        (100.0, 0.0, 1.0, None),
        (100.0, 220.0, 0.0, None),
        (100.0, None, 1.0, None),
    ],
)
def test_power_factor(
    power: float, voltage: float | None, current: float | None, expected: float | None
) -> None:
    """P / (V x I), clipped to 0..1, only when computable."""
    assert events.power_factor(power, voltage, current) == expected


@pytest.mark.usefixtures("shanghai")
def test_charging_end_vendor_frame() -> None:
    """Station's stop reason code 1 is 充满自停; times as local strings of the order."""
    event = events.charging_end(
        "04AB373B", decode(SETTLEMENT_FRAME, Settlement), make_order(), timestamp=NOW
    )
    assert event["port_number"] == 2
    assert event["data"] == {
        "order_id": ORDER_NUMBER,
        "total_energy": 0.48,
        "charge_duration": 3600,
        "start_time": "2023-12-21 09:51:40",
        "end_time": "2023-12-21 10:51:40",
        "stop_reason": 1,
        "stop_reason_desc": "充满自停",
        "settlement_triggered": True,
        "command": "0x03",
    }


@pytest.mark.usefixtures("shanghai")
def test_charging_end_of_an_unknown_order() -> None:
    """Without the order, it ended when the settlement arrived, ``duration`` after its start."""
    event = events.charging_end(
        "04AB373B", decode(SETTLEMENT_FRAME, Settlement), None, timestamp=1703127100
    )
    assert event["data"]["order_id"] == ORDER_NUMBER
    assert event["data"]["start_time"] == "2023-12-21 09:51:40"
    assert event["data"]["end_time"] == "2023-12-21 10:51:40"


async def test_charging_end_follows_the_configured_time_zone(hass: HomeAssistant) -> None:
    """The strings are in Home Assistant's time zone, whichever it is."""
    await hass.config.async_set_time_zone("UTC")
    event = events.charging_end("04AB373B", decode(SETTLEMENT_FRAME, Settlement), make_order())
    assert event["data"]["start_time"] == "2023-12-21 01:51:40"


def test_settlement_vendor_frame() -> None:
    """Fees in fen from the tariff, Unix times, stable id, the station's extras."""
    message = decode(SETTLEMENT_FRAME, Settlement)
    event = events.settlement(
        "04AB373B",
        message,
        make_order(),
        electricity_price=1.2,
        service_price=0.3,
        timestamp=NOW,
    )
    assert event["port_number"] == 2
    settlement_id = events.settlement_id("04AB373B", message)
    assert event["data"] == {
        "order_id": ORDER_NUMBER,
        "card_number": "00000000",
        "total_energy": 0.48,
        "total_fee": 72,
        "charge_fee": 58,
        "service_fee": 14,
        "start_time": 1703123500,
        "end_time": 1703127100,
        "charge_duration": 3600,
        "settlement_id": settlement_id,
        "settlement_type": "normal",
        "command": "0x03",
        "stop_reason": 1,
        "max_power": 100.0,
        "start_mode": 1,
    }
    assert settlement_id.startswith("04AB373B-")
    assert len(settlement_id) == len("04AB373B-") + 16


def test_settlement_id_is_stable_per_settlement() -> None:
    """A resend (even with another message id or debug timestamp) keeps the id."""
    message = decode(SETTLEMENT_FRAME, Settlement)
    resent = Settlement(
        message.duration_s,
        message.max_power_w,
        message.energy_kwh,
        message.port,
        message.start_mode,
        message.card_id,
        message.stop_reason,
        message.order_no,
        message.second_max_power_w,
        timestamp=1703130000,
    )
    assert events.settlement_id("04AB373B", resent) == events.settlement_id("04AB373B", message)
    other = Settlement(3600, 100.0, 0.49, 1, 1, 0, 1, ORDER_NO)
    assert events.settlement_id("04AB373B", other) != events.settlement_id("04AB373B", message)
    assert events.settlement_id("04AB373C", message) != events.settlement_id("04AB373B", message)


@pytest.mark.parametrize(
    ("energy", "electricity", "service", "expected"),
    [
        (15.5, 0.9, 0.1, (1550, 1395, 155)),
        (0.48, 1.2, 0.3, (72, 58, 14)),
        # 0.35 x 0.5 x 100 is 17.499999999999996 in binary floating point: half up is 18.
        (0.35, 0.5, 0.0, (18, 18, 0)),
        (0.61, 1.2, 0.0, (73, 73, 0)),
        (0.01, 0.004, 0.004, (0, 0, 0)),
        (0.05, 0.1, 0.1, (1, 1, 0)),
        (1.0, 0.0, 0.0, (0, 0, 0)),
    ],
)
def test_fees(
    energy: float, electricity: float, service: float, expected: tuple[int, int, int]
) -> None:
    """Fen, rounded half up once; charge and service add up to the total."""
    assert events.fees(energy, electricity, service) == expected
    total, charge, service_fee = expected
    assert charge + service_fee == total


def test_device_offline() -> None:
    """Durations from the last heartbeat and from the connection's start (evt_offline_001)."""
    event = events.device_offline(make_link(), OfflineReason.HEARTBEAT_TIMEOUT, timestamp=NOW)
    assert "port_number" not in event
    assert event["data"] == {
        "conn_id": 12345,
        "offline_reason": "heartbeat_timeout",
        "last_heartbeat_time": 1703123540,
        "offline_duration": 60,
        "connection_duration": 3600,
    }
    silent = events.device_offline(
        make_link(last_heartbeat=None, last_seen=1703123580.0),
        OfflineReason.CONNECTION_LOST,
        timestamp=NOW,
    )
    assert silent["data"]["last_heartbeat_time"] == 1703123580
    assert silent["data"]["offline_duration"] == 20
    assert silent["data"]["offline_reason"] == "connection_lost"


def test_card_swipe() -> None:
    """The vendor's 0x02 example on port 2, accepted; a refused balance query on 0xFF."""
    event = events.card_swipe(
        "04AB373B",
        decode(CARD_FRAME, CardSwipe),
        CardReply(0x7A8D05DD, 0, 0, 0, 1),
        timestamp=NOW,
    )
    assert event["port_number"] == 2
    assert event["data"] == {
        "card_number": "7A8D05DD",
        "card_type": 0,
        "balance_query": False,
        "account_status": 0,
        "account_status_desc": "正常",
        "accepted": True,
        "rate_mode": 0,
        "swipe_time": 1703123600,
        "command": "0x02",
    }
    query = events.card_swipe(
        "04AB373B", CardSwipe(0x12345678, 1, 0xFF, 0), CardReply(0x12345678, 1, 2, 0, 0xFF)
    )
    assert "port_number" not in query
    assert query["data"]["balance_query"] is True
    assert query["data"]["accepted"] is False
    assert query["data"]["account_status_desc"] == "未注册"
    assert query["data"]["rate_mode"] == 2


def test_device_alarm_and_host_heartbeat() -> None:
    """The extensions: a smoke alarm, and the vendor's 0x11 host heartbeat."""
    alarm = events.device_alarm("04AB373B", Alarm(4, 1, 1), timestamp=NOW)
    assert "port_number" not in alarm
    assert alarm["data"] == {
        "alarm_type": 4,
        "alarm_type_desc": "烟感报警",
        "port": 1,
        "trigger_bits": 1,
        "alarm_time": 1703123600,
        "command": "0x42",
    }
    host = events.host_heartbeat(
        make_link(0x09D62684), decode(HOST_HEARTBEAT_FRAME, HostHeartbeat), timestamp=NOW
    )
    assert host["device_id"] == "09D62684"
    assert host["data"] == {
        "firmware_version": "V1.01",
        "signal_strength": 31,
        "module_type": 6,
        "module_type_desc": "4G-CAT1（GM5）",
        "host_type": 0x50,
        "host_type_desc": "AP262合装主机",
        "iccid": ICCID,
        "imei": None,
        "module_version": None,
        "frequency": 472,
        "rtc": 1,
        "host_time": 1604934748,
        "command": "0x11",
        "conn_id": 12345,
        "remote_addr": "192.168.1.100:54321",
    }


def test_envelope_defaults_to_now_and_unique_ids() -> None:
    """Without a timestamp the envelope takes the current time; every event a new id."""
    first = events.envelope(EventType.DEVICE_ALARM, "04AB373B", {})
    second = events.envelope(EventType.DEVICE_ALARM, "04AB373B", {}, port_number=3, timestamp=5.9)
    assert first["event_id"] != second["event_id"]
    assert abs(first["timestamp"] - time.time()) < 5
    assert second == {
        "event_id": second["event_id"],
        "event_type": "device_alarm",
        "device_id": "04AB373B",
        "port_number": 3,
        "timestamp": 5,
        "data": {},
    }
