"""A platform client written from the gateway's models, against Home Assistant's HTTP API.

The client knows only the gateway's request models (``ChargingStartParams``,
``ChargingStopParams``, ``DeviceLocateRequest``) and its envelope (``APIResponse``); the station
is an emulator written from docs/protocol.md alone (``api_station_emulator``). The platform
moves from ``http://gateway:8080/api/v1`` to Home Assistant by base URL and token.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import asdict, dataclass
import struct
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .api_station_emulator import EmulatedStation
from .api_support import http_component
from .conftest import wait_for_station

__all__ = ["http_component"]

PHYSICAL_ID = 0x04A26CF3
DEVICE_NUMBER = "10644723"  # the gateway's own example: its QR number in decimal


@dataclass
class ChargingStartParams:
    """models.go ``ChargingStartParams``."""

    deviceId: str  # noqa: N815 - the gateway's JSON names
    port: int
    mode: int
    value: int
    orderNo: str  # noqa: N815
    balance: int


@dataclass
class ChargingStopParams:
    """models.go ``ChargingStopParams``."""

    deviceId: str  # noqa: N815
    port: int
    orderNo: str  # noqa: N815


class GatewayClient:
    """What a platform calls, with a base URL (here Home Assistant's test server)."""

    def __init__(self, http: TestClient, base: str = "/api/iot_zinx/v1") -> None:
        self.http = http
        self.base = base

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        response = await self.http.request(method, self.base + path, json=body)
        envelope = await response.json()
        assert set(envelope) <= {"code", "message", "data"}
        assert envelope["code"] == (0 if response.status == 200 else response.status)
        return response.status, envelope


@pytest.fixture
async def station(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> AsyncGenerator[EmulatedStation]:
    """The emulated station, connected and registered."""
    emulated = EmulatedStation(PHYSICAL_ID)
    await emulated.connect(init_integration.runtime_data.server.port)
    await wait_for_station(hass, "04A26CF3", lambda state: state.last_heartbeat is not None)
    yield emulated
    await emulated.close()


async def test_a_platform_moves_to_home_assistant(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    station: EmulatedStation,
) -> None:
    """List, status, start by QR number, stop, retry, 400, 401, locate, recent, health, 503."""
    platform = GatewayClient(await hass_client())
    status, body = await platform.call("GET", "/devices")
    assert (status, [d["deviceId"] for d in body["data"]["devices"]]) == (200, ["04A26CF3"])
    status, body = await platform.call("GET", f"/device/{DEVICE_NUMBER}/status")
    assert (status, body["data"]["isOnline"], body["data"]["deviceNumber"]) == (
        200,
        True,
        DEVICE_NUMBER,
    )

    start = ChargingStartParams(DEVICE_NUMBER, 1, 0, 600, "P-20261207-0001", 1000)
    status, body = await platform.call("POST", "/charging/start", asdict(start))
    assert (status, body["message"], body["data"]["orderNo"]) == (
        200,
        "充电启动成功",
        "P-20261207-0001",
    )
    command, payload = station.received[-1]
    assert command == 0x82
    assert payload == (
        struct.pack("<BIBBH", 0, 1000, 0, 1, 600) + b"P-20261207-0001\0" + b"\0\0\0\0"
    )

    stop = ChargingStopParams(DEVICE_NUMBER, 1, "P-20261207-0001")
    status, body = await platform.call("POST", "/charging/stop", asdict(stop))
    assert (status, body["message"]) == (200, "充电已停止")
    assert station.received[-1] == (
        0x82,
        struct.pack("<BIBBH", 0, 0, 0, 0, 0) + b"P-20261207-0001\0" + b"\0\0\0\0",
    )
    sent = len(station.received)
    status, body = await platform.call("POST", "/charging/stop", asdict(stop))
    assert (status, body["data"]["idempotent"]) == (200, True)
    assert len(station.received) == sent

    status, body = await platform.call("POST", "/charging/start", {**asdict(start), "port": 0})
    assert (status, body["message"]) == (400, "端口号不能为0")

    anonymous = GatewayClient(await hass_client_no_auth())
    response = await anonymous.http.get(anonymous.base + "/devices")
    assert response.status == 401

    status, body = await platform.call(
        "POST", "/device/locate", {"deviceId": "A26CF3", "locateTime": 10}
    )
    assert (status, body["message"]) == (200, "定位命令发送成功")
    assert station.received[-1] == (0x96, b"\x0a")

    status, body = await platform.call("GET", "/notifications/recent?limit=100")
    started = [e for e in body["data"] if e["event_type"] == "charging_start"]
    assert [e["data"]["order_number"] for e in started] == ["P-20261207-0001"]
    status, body = await platform.call("GET", "/health")
    assert (status, body["data"]["status"]) == (200, "ok")

    await station.close()
    await wait_for_station(hass, "04A26CF3", lambda state: not state.online)
    status, body = await platform.call("POST", "/charging/start", asdict(start))
    assert (status, body) == (503, {"code": 503, "message": "设备不在线"})
