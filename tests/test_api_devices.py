"""HTTP API: authentication, devices, status, query, locate, health and stats.

Real Home Assistant HTTP server and aiohttp clients (``hass_client``: an administrator's
access token), the integration's listener and a simulated station on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.iot_zinx.protocol.messages import Locate
from custom_components.iot_zinx.protocol.simulator import SimulatedStation

from .api_support import BASE, HEX8, QR_DECIMAL, QR_HEX6, call, http_component
from .conftest import STATION_ID, STATION_PHYSICAL_ID, wait_for_station

__all__ = ["http_component"]

ROUTES = [
    ("GET", "/devices"),
    ("GET", f"/device/{HEX8}/status"),
    ("GET", f"/device/{HEX8}/query"),
    ("POST", "/device/locate"),
    ("POST", "/charging/start"),
    ("POST", "/charging/stop"),
    ("POST", "/charging/update_power"),
    ("GET", "/health"),
    ("GET", "/stats"),
    ("GET", "/notifications/recent"),
    ("GET", "/notifications/stream"),
]


@pytest.mark.usefixtures("dual_socket")
@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_needs_a_token(
    hass_client_no_auth: ClientSessionGenerator,
    dual_socket: SimulatedStation,
    method: str,
    path: str,
) -> None:
    """Without a Home Assistant token: 401, and nothing reaches the station."""
    client = await hass_client_no_auth()
    sent = len(dual_socket.commands)
    body = {"deviceId": HEX8, "port": 1, "value": 60, "orderNo": "X", "locateTime": 5}
    response = await client.request(method, BASE + path, json=body)
    assert response.status == 401
    response = await client.request(
        method, BASE + path, json=body, headers={"Authorization": "Bearer not-a-token"}
    )
    assert response.status == 401
    assert len(dual_socket.commands) == sent


async def test_devices_lists_the_online_stations(
    hass_client: ClientSessionGenerator, dual_socket: SimulatedStation
) -> None:
    """The gateway's list: online stations with its detail keys, and the counts."""
    status, body = await call(await hass_client(), "GET", "/devices")
    assert status == 200
    assert (body["code"], body["message"]) == (0, "成功")
    (device,) = body["data"]["devices"]
    assert {key: body["data"][key] for key in ("total", "online", "offline")} == {
        "total": 1,
        "online": 1,
        "offline": 0,
    }
    assert device["deviceId"] == STATION_ID
    assert device["physicalId"] == STATION_PHYSICAL_ID
    assert device["deviceNumber"] == QR_DECIMAL
    assert device["isOnline"] is True
    assert device["status"] == "online"
    assert device["deviceVersion"] == "V1.26"
    assert device["iccid"] == dual_socket.iccid
    assert device["remoteAddr"].startswith("127.0.0.1:")
    assert device["connId"] == int(device["sessionId"])
    assert device["groupDeviceCount"] == 1
    assert device["lastHeartbeatTs"] > 0
    assert device["ports"][0] == {
        "port": 1,
        "status": 2,
        "statusDesc": device["ports"][0]["statusDesc"],
        "isCharging": False,
        "orderNo": None,
        "power": None,
    }


@pytest.mark.usefixtures("dual_socket")
@pytest.mark.parametrize("device_id", [QR_DECIMAL, QR_HEX6, HEX8, "04a228cd", " a228cd "])
async def test_status_by_every_device_id_form(
    hass_client: ClientSessionGenerator, device_id: str
) -> None:
    """Decimal QR number, 6-hex and 8-hex name the same station."""
    status, body = await call(await hass_client(), "GET", f"/device/{device_id}/status")
    assert status == 200
    assert body["message"] == "成功"
    assert body["data"]["deviceId"] == STATION_ID
    status, body = await call(await hass_client(), "GET", f"/device/{device_id}/query")
    assert (status, body["message"], body["data"]["deviceId"]) == (200, "获取设备状态成功", HEX8)


@pytest.mark.usefixtures("dual_socket")
async def test_status_errors(hass_client: ClientSessionGenerator) -> None:
    """A malformed id is 400 with the gateway's hint; an unknown station 404."""
    client = await hass_client()
    status, body = await call(client, "GET", "/device/XYZ/status")
    assert status == 400
    assert body["code"] == 400
    assert body["message"].startswith("DeviceID格式错误: 无法识别的DeviceID格式：XYZ")
    assert body["data"]["hint"].startswith("支持格式")
    status, body = await call(client, "GET", "/device/04abcdef/status")
    assert (status, body) == (
        404,
        {
            "code": 404,
            "message": "设备不在线",
            "data": {"deviceId": "04abcdef", "standardId": "04ABCDEF", "isOnline": False},
        },
    )
    status, body = await call(client, "GET", "/device/1/query")
    assert (status, body["message"], body["data"]["standardId"]) == (
        404,
        "设备不存在或离线",
        "04000001",
    )


async def test_offline_station_is_not_listed(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    dual_socket: SimulatedStation,
) -> None:
    """A station that went offline leaves the list and its status is 404."""
    await dual_socket.disconnect()
    await wait_for_station(hass, STATION_ID, lambda station: not station.online)
    client = await hass_client()
    status, body = await call(client, "GET", "/devices")
    assert (status, body["data"]) == (
        200,
        {"devices": [], "total": 0, "online": 0, "offline": 1},
    )
    status, body = await call(client, "GET", f"/device/{QR_DECIMAL}/status")
    assert (status, body["data"]["isOnline"]) == (404, False)


async def test_locate_sends_0x96(
    hass_client: ClientSessionGenerator, dual_socket: SimulatedStation
) -> None:
    """``locateTime`` seconds go to the station as 0x96 with one byte."""
    status, body = await call(
        await hass_client(), "POST", "/device/locate", {"deviceId": QR_DECIMAL, "locateTime": 10}
    )
    assert (status, body) == (
        200,
        {
            "code": 0,
            "message": "定位命令发送成功",
            "data": {
                "deviceId": QR_DECIMAL,
                "standardId": STATION_ID,
                "action": "locate",
                "locateTime": 10,
            },
        },
    )
    command = dual_socket.commands[-1]
    assert command == Locate(10)
    assert (command.COMMAND, command.encode()) == (0x96, b"\x0a")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"locateTime": 10}, "参数错误"),
        ({"deviceId": HEX8}, "参数错误"),
        ({"deviceId": HEX8, "locateTime": 0}, "参数错误: locateTime 范围1-255"),
        ({"deviceId": HEX8, "locateTime": 256}, "参数错误"),
        ({"deviceId": HEX8, "locateTime": "10"}, "参数错误"),
        ({"deviceId": "", "locateTime": 10}, "设备ID不能为空"),
        ({"deviceId": "G1", "locateTime": 10}, "DeviceID格式错误"),
        ([1, 2], "参数错误"),
    ],
)
async def test_locate_bad_input(
    hass_client: ClientSessionGenerator,
    dual_socket: SimulatedStation,
    body: object,
    message: str,
) -> None:
    """400 with the gateway's message; the station gets nothing."""
    status, answer = await call(await hass_client(), "POST", "/device/locate", body)
    assert (status, answer["code"]) == (400, 400)
    assert answer["message"].startswith(message)
    assert dual_socket.commands == []


async def test_locate_invalid_json(
    hass_client: ClientSessionGenerator, dual_socket: SimulatedStation
) -> None:
    """A body that is not JSON: 400 参数错误 with the reason."""
    client = await hass_client()
    response = await client.post(f"{BASE}/device/locate", data=b"{not json")
    body = await response.json()
    assert (response.status, body["message"]) == (400, "参数错误")
    assert body["data"]["error"].startswith("invalid JSON")
    assert dual_socket.commands == []


async def test_locate_offline_and_refused(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    dual_socket: SimulatedStation,
) -> None:
    """A refusal is 500 with the station's answer; an offline station 503."""
    client = await hass_client()
    dual_socket.forced_results[0x96] = 1
    status, body = await call(client, "POST", "/device/locate", {"deviceId": HEX8, "locateTime": 3})
    assert (status, body) == (500, {"code": 500, "message": "发送定位命令失败: 设备应答 1"})
    await dual_socket.disconnect()
    await wait_for_station(hass, STATION_ID, lambda station: not station.online)
    status, body = await call(client, "POST", "/device/locate", {"deviceId": HEX8, "locateTime": 3})
    assert (status, body) == (503, {"code": 503, "message": "设备不在线"})


async def test_commands_need_an_administrator(
    hass_client: ClientSessionGenerator,
    hass_read_only_access_token: str,
    dual_socket: SimulatedStation,
) -> None:
    """A user who is not an administrator reads, but commands nothing: 403."""
    client = await hass_client(hass_read_only_access_token)
    status, _ = await call(client, "GET", "/devices")
    assert status == 200
    for path in ("/device/locate", "/charging/start", "/charging/stop", "/charging/update_power"):
        status, body = await call(client, "POST", path, {"deviceId": HEX8, "locateTime": 3})
        assert (status, body) == (403, {"code": 403, "message": "需要管理员权限"})
    assert dual_socket.commands == []


@pytest.mark.usefixtures("dual_socket")
async def test_health_and_stats(
    hass_client: ClientSessionGenerator, station_factory: Callable[..., SimulatedStation]
) -> None:
    """Health says ok while the servers listen; stats count stations and connections."""
    client = await hass_client()
    status, body = await call(client, "GET", "/health")
    assert (status, body["code"], body["message"]) == (200, 0, "IoT设备网关运行正常")
    health = body["data"]
    assert (health["status"], health["version"], health["gateway"]) == (
        "ok",
        "0.1.0",
        "Home Assistant iot_zinx",
    )
    assert health["uptime"].endswith("s")
    assert [server["running"] for server in health["servers"]] == [True]
    status, body = await call(client, "GET", "/stats")
    assert (status, body["message"]) == (200, "获取统计信息成功")
    stats = body["data"]
    assert stats["onlineDeviceCount"] == 1
    assert stats["onlineDevices"] == [STATION_ID]
    assert (stats["connectionCount"], stats["groupCount"], stats["totalDeviceCount"]) == (1, 1, 1)
    assert stats["server"]["frames_in"] >= 2
    assert stats["notification"]["recorded"] >= 3
    assert stats["notification"]["stream_clients"] == 0
