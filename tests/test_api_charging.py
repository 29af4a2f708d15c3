"""HTTP API: start, stop and update_power, as a platform written for the gateway calls them.

The station is the simulator; the assertions are the HTTP answers, the exact 0x82 payloads
the station received, and the order number the events carry.
"""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.core import Event, HomeAssistant, callback
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.iot_zinx.api.actions import check_port
from custom_components.iot_zinx.api.envelope import ApiError
from custom_components.iot_zinx.const import EVENT_IOT_ZINX
from custom_components.iot_zinx.models import StationState
from custom_components.iot_zinx.protocol.messages import ChargeControl
from custom_components.iot_zinx.protocol.simulator import SimulatedStation

from .api_support import HEX8, QR_DECIMAL, QR_HEX6, call, http_component
from .conftest import ORDER_NO, ORDER_NUMBER, STATION_ID, wait_for_station
from .protocol.harness import wait_until

__all__ = ["http_component"]

PLATFORM_ORDER = "PLAT20261207001"
PLATFORM_ORDER_NO = PLATFORM_ORDER.encode().ljust(16, b"\0")
START = {
    "deviceId": QR_DECIMAL,
    "port": 1,
    "mode": 0,
    "value": 3600,
    "orderNo": PLATFORM_ORDER,
    "balance": 500,
}


@pytest.fixture
def events(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Every envelope fired on the bus, in order."""
    captured: list[dict[str, Any]] = []

    @callback
    def capture(event: Event) -> None:
        captured.append(dict(event.data))

    hass.bus.async_listen(EVENT_IOT_ZINX, capture)
    return captured


async def test_start_stop_and_idempotent_stop(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    dual_socket: SimulatedStation,
    events: list[dict[str, Any]],
) -> None:
    """Start by the decimal QR number with the platform's order, stop, stop again."""
    client = await hass_client()
    status, body = await call(client, "POST", "/charging/start", START)
    assert status == 200
    assert (body["code"], body["message"]) == (0, "充电启动成功")
    data = body["data"]
    assert data.pop("timestamp") > 0
    assert data == {
        "deviceId": QR_DECIMAL,
        "standardId": STATION_ID,
        "port": 1,
        "orderNo": PLATFORM_ORDER,
        "value": 3600,
        "balance": 500,
        "action": "start",
    }
    (start,) = dual_socket.commands
    assert start == ChargeControl(0, 500, 0, 1, 3600, PLATFORM_ORDER_NO, 0, 0.0)
    # mode 0 (time), balance 500 fen, wire port 0, start, 3600 s, the order, no limits.
    assert start.encode().hex() == "00f40100000001100e" + PLATFORM_ORDER_NO.hex() + "00000000"
    (started,) = [event for event in events if event["event_type"] == "charging_start"]
    assert (started["port_number"], started["data"]["order_number"]) == (1, PLATFORM_ORDER)
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].is_charging)

    stop = {"deviceId": QR_HEX6, "port": 1, "orderNo": PLATFORM_ORDER}
    status, body = await call(client, "POST", "/charging/stop", stop)
    assert (status, body["code"], body["message"]) == (200, 0, "充电已停止")
    assert body["data"]["orderNo"] == PLATFORM_ORDER
    assert body["data"]["action"] == "stop"
    assert dual_socket.commands[-1].encode().hex() == (
        "00000000000000" + "0000" + PLATFORM_ORDER_NO.hex() + "00000000"
    )
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].order is None)
    ended = [event for event in events if event["event_type"] in ("charging_end", "settlement")]
    assert [event["data"]["order_id"] for event in ended] == [PLATFORM_ORDER] * 2

    # The platform retries its stop: 200, idempotent, nothing sent.
    sent = len(dual_socket.commands)
    status, body = await call(client, "POST", "/charging/stop", stop)
    assert (status, body["code"], body["message"]) == (200, 0, "充电已停止(幂等)")
    assert body["data"]["idempotent"] is True
    assert body["data"]["detail"]["orderNo"] == PLATFORM_ORDER
    assert body["data"]["detail"]["standardId"] == STATION_ID
    assert len(dual_socket.commands) == sent


async def test_start_by_energy(
    hass_client: ClientSessionGenerator, dual_socket: SimulatedStation
) -> None:
    """mode 1: ``value`` in 0.1 kWh goes to the station in 0.01 kWh, rate mode 2 (energy)."""
    body = {**START, "deviceId": HEX8, "mode": 1, "value": 15}
    status, answer = await call(await hass_client(), "POST", "/charging/start", body)
    assert (status, answer["data"]["mode"], answer["data"]["value"]) == (200, 1, 15)
    (start,) = dual_socket.commands
    assert (start.rate_mode, start.value) == (2, 150)


async def test_start_conflicts(
    hass_client: ClientSessionGenerator, charging_dual_socket: SimulatedStation
) -> None:
    """Another order on a busy port is 409; the same order again is 200, idempotent."""
    client = await hass_client()
    sent = len(charging_dual_socket.commands)
    other = {**START, "orderNo": "ORDER-0002"}
    status, body = await call(client, "POST", "/charging/start", other)
    assert (status, body) == (
        409,
        {
            "code": 409,
            "message": "充电状态冲突",
            "data": {"error": f"端口已有进行中的订单: {ORDER_NUMBER} (状态: charging)"},
        },
    )
    status, body = await call(client, "POST", "/charging/start", {**START, "orderNo": ORDER_NUMBER})
    assert (status, body["data"]["idempotent"]) == (200, True)
    status, body = await call(
        client, "POST", "/charging/start", {**START, "orderNo": ORDER_NUMBER, "port": 2}
    )
    assert (status, body["data"]["error"]) == (
        409,
        f"订单号已在端口1使用: {ORDER_NUMBER} (状态: charging)",
    )
    assert len(charging_dual_socket.commands) == sent


async def test_stop_of_another_order_conflicts(
    hass_client: ClientSessionGenerator, charging_dual_socket: SimulatedStation
) -> None:
    """A stop naming another order than the running one: 409, the order keeps running."""
    sent = len(charging_dual_socket.commands)
    body = {"deviceId": HEX8, "port": 1, "orderNo": "NOT-MINE"}
    status, answer = await call(await hass_client(), "POST", "/charging/stop", body)
    assert (status, answer) == (
        409,
        {
            "code": 409,
            "message": "订单校验失败",
            "data": {"error": f"订单号不匹配，当前: {ORDER_NUMBER}，请求: NOT-MINE"},
        },
    )
    assert len(charging_dual_socket.commands) == sent


async def test_stop_without_order_number_and_port_255(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    charging_dual_socket: SimulatedStation,
) -> None:
    """Port 255 finds the port running the order; no order number stops what runs."""
    client = await hass_client()
    status, body = await call(client, "POST", "/charging/stop", {"deviceId": HEX8, "port": 255})
    assert (status, body["message"]) == (400, "端口号为255时必须提供订单号")
    body = {"deviceId": HEX8, "port": 255, "orderNo": ORDER_NUMBER}
    status, answer = await call(client, "POST", "/charging/stop", body)
    assert (status, answer["data"]["port"], answer["data"]["orderNo"]) == (200, 1, ORDER_NUMBER)
    assert charging_dual_socket.commands[-1] == ChargeControl(0, 0, 0, 0, 0, ORDER_NO, 0, 0.0)
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].order is None)
    status, answer = await call(client, "POST", "/charging/stop", {"deviceId": HEX8, "port": 1})
    assert (status, answer["data"]["idempotent"]) == (200, True)


START_ERRORS = [
    ({**START, "deviceId": None}, "参数错误"),
    ({**START, "deviceId": ""}, "设备ID不能为空"),
    ({**START, "deviceId": True}, "参数错误"),
    ({**START, "orderNo": ""}, "订单号不能为空"),
    ({**START, "orderNo": None}, "参数错误"),
    ({**START, "port": 0}, "端口号不能为0"),
    ({**START, "port": "1"}, "参数错误"),
    ({**START, "port": 1.5}, "参数错误"),
    ({**START, "port": 3}, "端口号无效：3，设备共有2个端口"),
    ({**START, "value": 0}, "按时间充电时，充电时长不能为0秒"),
    ({**START, "mode": 1, "value": 0}, "按电量充电时，充电电量不能为0"),
    ({**START, "mode": 1, "value": 6554}, "充电电量超出范围：6554，最大6553(0.1度)"),
    ({**START, "value": 65536}, "参数错误"),
    ({**START, "mode": 2}, "充电模式无效：2，有效值：0(按时间)或1(按电量)"),
    ({**START, "balance": -1}, "参数错误"),
    (
        {**START, "orderNo": "ORDER_20250619001"},
        "订单号长度超过限制：当前17字节，最大16字节，订单号：ORDER_20250619001",
    ),
    ({**START, "orderNo": "订单1"}, "订单号格式错误：订单1，仅支持可打印ASCII字符"),
    ({**START, "deviceId": "xyz"}, "DeviceID格式错误"),
]


@pytest.mark.parametrize(("body", "message"), START_ERRORS)
async def test_start_bad_input(
    hass_client: ClientSessionGenerator,
    dual_socket: SimulatedStation,
    body: dict[str, Any],
    message: str,
) -> None:
    """400 with the gateway's message, before anything reaches the station."""
    status, answer = await call(await hass_client(), "POST", "/charging/start", body)
    assert (status, answer["code"]) == (400, 400)
    assert answer["message"].startswith(message)
    assert dual_socket.commands == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"port": 1}, "参数错误"),
        ({"deviceId": HEX8}, "端口号不能为0"),
        ({"deviceId": HEX8, "port": 0}, "端口号不能为0"),
        ({"deviceId": " ", "port": 1}, "设备ID不能为空"),
        ({"deviceId": HEX8, "port": 9}, "端口号无效"),
    ],
)
async def test_stop_bad_input(
    hass_client: ClientSessionGenerator,
    dual_socket: SimulatedStation,
    body: dict[str, Any],
    message: str,
) -> None:
    """400 with the gateway's message; nothing sent."""
    status, answer = await call(await hass_client(), "POST", "/charging/stop", body)
    assert (status, answer["code"]) == (400, 400)
    assert answer["message"].startswith(message)
    assert dual_socket.commands == []


async def test_offline_station_is_503(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    dual_socket: SimulatedStation,
) -> None:
    """Start, stop and update_power of an offline (or unknown) station: 503 设备不在线."""
    await dual_socket.disconnect()
    await wait_for_station(hass, STATION_ID, lambda station: not station.online)
    client = await hass_client()
    update = {"deviceId": HEX8, "port": 1, "orderNo": "X", "overloadPowerW": 100}
    for path, body in (
        ("/charging/start", START),
        ("/charging/start", {**START, "deviceId": "04ABCDEF"}),
        ("/charging/stop", {"deviceId": QR_DECIMAL, "port": 1}),
        ("/charging/update_power", update),
    ):
        status, answer = await call(client, "POST", path, body)
        assert (status, answer) == (503, {"code": 503, "message": "设备不在线"})
    assert dual_socket.commands == []


async def test_refused_start_is_500_with_the_station_answer(
    hass_client: ClientSessionGenerator,
    dual_socket: SimulatedStation,
    events: list[dict[str, Any]],
) -> None:
    """The station refuses (port 2 has no charger): 500, its code, charging_failed fired."""
    status, body = await call(await hass_client(), "POST", "/charging/start", {**START, "port": 2})
    assert (status, body["message"]) == (500, "充电启动失败")
    assert body["data"]["response_code"] == 1
    (failed,) = [event for event in events if event["event_type"] == "charging_failed"]
    assert failed["data"]["order_number"] == PLATFORM_ORDER


async def test_unanswered_start_and_refused_stop(
    hass_client: ClientSessionGenerator, charging_dual_socket: SimulatedStation
) -> None:
    """No answer: 500 设备未应答; a stop the station refuses: 500 with its code."""
    client = await hass_client()
    charging_dual_socket.forced_results[0x82] = 3
    status, body = await call(client, "POST", "/charging/stop", {"deviceId": HEX8, "port": 1})
    assert (status, body["message"], body["data"]["response_code"]) == (500, "停止充电失败", 3)
    del charging_dual_socket.forced_results[0x82]
    charging_dual_socket.ignore_commands = True
    status, body = await call(client, "POST", "/charging/start", {**START, "port": 2})
    assert (status, body) == (
        500,
        {"code": 500, "message": "充电启动失败", "data": {"error": "设备未应答"}},
    )


async def test_update_power(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    dual_socket: SimulatedStation,
) -> None:
    """The running order's start again with the new limits, power in 0.1 W on the wire."""
    client = await hass_client()
    status, _ = await call(client, "POST", "/charging/start", START)
    assert status == 200
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].is_charging)
    update = {
        "deviceId": QR_DECIMAL,
        "port": 1,
        "orderNo": PLATFORM_ORDER,
        "overloadPowerW": 120,
        "maxChargeDurationSeconds": 600,
    }
    status, body = await call(client, "POST", "/charging/update_power", update)
    assert (status, body["message"]) == (200, "更新成功")
    assert body["data"]["overloadPowerW"] == 120
    assert body["data"]["action"] == "update_power"
    command = dual_socket.commands[-1]
    assert command == ChargeControl(0, 500, 0, 1, 3600, PLATFORM_ORDER_NO, 600, 120.0)
    # max_duration 600 s = 58 02, max_power 1200 x 0.1 W = b0 04.
    assert command.encode().hex().endswith(PLATFORM_ORDER_NO.hex() + "5802b004")
    order = dual_socket.ports[0].order
    assert order is not None
    assert order.plateau_power_w == 120.0


async def test_update_power_refusals(
    hass_client: ClientSessionGenerator, charging_dual_socket: SimulatedStation
) -> None:
    """An order not started through the API, or not running: 409; bad input: 400."""
    client = await hass_client()
    sent = len(charging_dual_socket.commands)
    update = {"deviceId": HEX8, "port": 1, "orderNo": ORDER_NUMBER, "overloadPowerW": 120}
    status, body = await call(client, "POST", "/charging/update_power", update)
    assert (status, body["message"]) == (409, "订单校验失败")
    for bad, message in (
        ({**update, "overloadPowerW": 0}, "过载功率无效"),
        ({**update, "overloadPowerW": 6554}, "过载功率无效"),
        ({**update, "port": 0}, "端口号不能为0"),
        ({**update, "orderNo": ""}, "订单号不能为空"),
        ({**update, "maxChargeDurationSeconds": -5}, "参数错误"),
    ):
        status, body = await call(client, "POST", "/charging/update_power", bad)
        assert (status, body["message"][: len(message)]) == (400, message)
    assert len(charging_dual_socket.commands) == sent


async def test_stop_retry_before_the_settlement_sends_nothing(
    hass_client: ClientSessionGenerator, charging_dual_socket: SimulatedStation
) -> None:
    """The station accepted the stop but its settlement has not come: a retry is idempotent.

    (The simulator answers "done" and does nothing, as a station whose 0x03 is late.)
    """
    client = await hass_client()
    charging_dual_socket.forced_results[0x82] = 0
    stop = {"deviceId": QR_DECIMAL, "port": 1, "orderNo": ORDER_NUMBER}
    status, body = await call(client, "POST", "/charging/stop", stop)
    assert (status, body["message"]) == (200, "充电已停止")
    sent = len(charging_dual_socket.commands)
    status, body = await call(client, "POST", "/charging/stop", stop)
    assert (status, body["message"], body["data"]["idempotent"]) == (200, "充电已停止(幂等)", True)
    assert len(charging_dual_socket.commands) == sent


def test_ports_beyond_16_before_the_station_told_its_count() -> None:
    """A station that has not told its port count has at most 16 (docs/protocol.md 2)."""
    station = StationState("04000001", 0x04000001)
    check_port(station, 16)
    with pytest.raises(ApiError) as err:
        check_port(station, 17)
    assert (err.value.status, err.value.message) == (400, "端口号无效：17，设备共有16个端口")


async def test_start_while_another_start_waits(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    dual_socket: SimulatedStation,
) -> None:
    """While a start waits for the station: another order is 409, the same one idempotent."""
    client = await hass_client()
    hub = hass.config_entries.async_loaded_entries("iot_zinx")[0].runtime_data
    dual_socket.drop_commands = 1  # the first 0x82 goes unanswered; its resend is answered
    first = asyncio.create_task(call(client, "POST", "/charging/start", START))
    await wait_until(lambda: bool(hub.orders.pending))
    status, body = await call(client, "POST", "/charging/start", {**START, "orderNo": "OTHER"})
    assert (status, body["data"]["error"]) == (
        409,
        f"端口已有进行中的订单: {PLATFORM_ORDER} (状态: pending)",
    )
    status, body = await call(client, "POST", "/charging/start", START)
    assert (status, body["data"]["idempotent"]) == (200, True)
    status, body = await first
    assert (status, body["message"]) == (200, "充电启动成功")
    assert len(dual_socket.commands) == 2  # the command and its resend, nothing else


async def test_update_power_refused_by_the_station(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    dual_socket: SimulatedStation,
) -> None:
    """The station refuses the repeated start: 500 更新失败 with its code."""
    client = await hass_client()
    status, _ = await call(client, "POST", "/charging/start", START)
    assert status == 200
    dual_socket.forced_results[0x82] = 3
    update = {"deviceId": HEX8, "port": 1, "orderNo": PLATFORM_ORDER, "overloadPowerW": 120}
    status, body = await call(client, "POST", "/charging/update_power", update)
    assert (status, body["message"], body["data"]["response_code"]) == (500, "更新失败", 3)
