"""Device routes: ``GET /devices``, ``GET /device/{deviceId}/status`` and ``/query``,
``POST /device/locate`` (``internal/adapter/http/device_handlers.go``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from aiohttp import web
from homeassistant.components.http import KEY_HASS, HomeAssistantView

from custom_components.iot_zinx.protocol.errors import (
    CommandError,
    StationOfflineError,
    StationRefusedError,
)

from .envelope import (
    API_PREFIX,
    ApiError,
    int_field,
    offline,
    read_command_body,
    success,
    text_field,
)
from .stations import Located, device_detail, hubs, locate

_MAX_LOCATE_S: Final = 255


class DevicesView(HomeAssistantView):
    """The online stations of every server (the gateway lists online ones only)."""

    url = f"{API_PREFIX}/devices"
    name = "api:iot_zinx:devices"

    async def get(self, request: web.Request) -> web.Response:
        """``{devices, total, online, offline}``; ``page`` and ``limit`` are ignored, as there."""
        devices = []
        offline_count = 0
        for hub in hubs(request.app[KEY_HASS]):
            for station_id in sorted(hub.stations):
                station = hub.stations[station_id]
                if station.online:
                    devices.append(device_detail(hub, station))
                else:
                    offline_count += 1
        return success(
            "成功",
            {
                "devices": devices,
                "total": len(devices),
                "online": len(devices),
                "offline": offline_count,
            },
        )


class _StationView(HomeAssistantView):
    """The detail of one station named in the path."""

    found_message = "成功"
    missing_message = "设备不在线"

    async def get(self, request: web.Request, device_id: str) -> web.Response:
        """The detail of an online station; 404 when it is offline or unknown."""
        try:
            found = locate(request.app[KEY_HASS], device_id)
        except ApiError as err:
            return err.response()
        station = found.station
        if found.hub is None or station is None or not station.online:
            return ApiError(
                HTTPStatus.NOT_FOUND, self.missing_message, {**found.ids(), "isOnline": False}
            ).response()
        return success(self.found_message, device_detail(found.hub, station))


class DeviceStatusView(_StationView):
    """``GET /device/{deviceId}/status``."""

    url = f"{API_PREFIX}/device/{{device_id}}/status"
    name = "api:iot_zinx:device:status"


class DeviceQueryView(_StationView):
    """``GET /device/{deviceId}/query``: the same detail, with the gateway's other texts."""

    url = f"{API_PREFIX}/device/{{device_id}}/query"
    name = "api:iot_zinx:device:query"
    found_message = "获取设备状态成功"
    missing_message = "设备不存在或离线"


class DeviceLocateView(HomeAssistantView):
    """``POST /device/locate``: the station beeps and flashes (0x96) for ``locateTime`` s."""

    url = f"{API_PREFIX}/device/locate"
    name = "api:iot_zinx:device:locate"

    async def post(self, request: web.Request) -> web.Response:
        """Send 0x96 and wait for the station's result."""
        try:
            body = await read_command_body(request)
            device_id = text_field(body, "deviceId", required=True)
            seconds = int_field(body, "locateTime", maximum=_MAX_LOCATE_S, required=True)
            if seconds == 0:
                raise ApiError(HTTPStatus.BAD_REQUEST, "参数错误: locateTime 范围1-255")
            found = locate(request.app[KEY_HASS], device_id)
            await _async_locate(found, seconds)
        except ApiError as err:
            return err.response()
        return success(
            "定位命令发送成功", {**found.ids(), "action": "locate", "locateTime": seconds}
        )


async def _async_locate(found: Located, seconds: int) -> None:
    if found.hub is None or not found.online:
        raise offline()
    try:
        # The Identify button's command: 0x96, a non-zero result a StationRefusedError.
        await found.hub.commands.async_locate(found.station_id, seconds)
    except StationOfflineError as err:
        raise offline() from err
    except StationRefusedError as err:
        raise ApiError(
            HTTPStatus.INTERNAL_SERVER_ERROR, f"发送定位命令失败: 设备应答 {err.code}"
        ) from err
    except CommandError as err:
        raise ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, f"发送定位命令失败: {err}") from err
