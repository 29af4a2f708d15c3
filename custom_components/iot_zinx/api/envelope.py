"""The gateway's response envelope and the reading of its JSON request bodies.

Every answer is ``{"code", "message", "data"}`` with ``code`` 0 on success and the HTTP
status otherwise, as the IoT-Zinx gateway answers (``internal/adapter/http/models.go``,
``APIResponse``). The messages are the gateway's own Chinese texts: platforms written for it
show or match them, so they are part of the contract (like the events' ``*_desc``), not
translated user interface strings.

Request bodies are read the way the gateway's ``ShouldBindJSON`` reads them: a JSON object,
unknown keys ignored, a wrong type or a missing required key is ``400 参数错误`` with the
reason in ``data.error``.
"""

from __future__ import annotations

from http import HTTPStatus
import json
from typing import Any, Final

from aiohttp import web
from homeassistant.components.http import KEY_HASS_USER
from homeassistant.helpers.json import json_bytes

API_PREFIX: Final = "/api/iot_zinx/v1"
MSG_BAD_PARAMS: Final = "参数错误"
MSG_OFFLINE: Final = "设备不在线"
MSG_EMPTY_DEVICE_ID: Final = "设备ID不能为空"
MSG_EMPTY_ORDER_NO: Final = "订单号不能为空"
MSG_PORT_ZERO: Final = "端口号不能为0"


class ApiError(Exception):
    """An answer other than success: HTTP status (also the ``code``), message and data."""

    def __init__(self, status: HTTPStatus, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.data = data

    def response(self) -> web.Response:
        """The envelope of this error."""
        body: dict[str, Any] = {"code": int(self.status), "message": self.message}
        if self.data is not None:
            body["data"] = self.data
        return _json(body, self.status)


def bad_params(error: str) -> ApiError:
    """``400 参数错误`` with the reason, like a failed binding of the gateway."""
    return ApiError(HTTPStatus.BAD_REQUEST, MSG_BAD_PARAMS, {"error": error})


def offline() -> ApiError:
    """``503 设备不在线``: the station has no live connection (or was never seen)."""
    return ApiError(HTTPStatus.SERVICE_UNAVAILABLE, MSG_OFFLINE)


def success(message: str, data: Any) -> web.Response:
    """``200`` with ``code`` 0."""
    return _json({"code": 0, "message": message, "data": data}, HTTPStatus.OK)


def _json(body: dict[str, Any], status: HTTPStatus) -> web.Response:
    return web.Response(body=json_bytes(body), status=int(status), content_type="application/json")


async def read_command_body(request: web.Request) -> dict[str, Any]:
    """The JSON object of a command (start, stop, locate ...), from an administrator only.

    The gateway had no authentication at all; a Home Assistant user who is not an
    administrator may read (devices, notifications) but not command a station: ``403``.
    """
    if not request[KEY_HASS_USER].is_admin:
        raise ApiError(HTTPStatus.FORBIDDEN, "需要管理员权限")
    return await _read_body(request)


async def _read_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; ``400 参数错误`` for anything else."""
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError as err:
        raise bad_params(f"invalid JSON: {err}") from err
    if not isinstance(body, dict):
        raise bad_params("the body must be a JSON object")
    return body


def text_field(body: dict[str, Any], key: str, *, required: bool) -> str:
    """A string (a JSON number is taken as its decimal text: ``deviceId`` 10644723)."""
    value = body.get(key)
    if value is None:
        if required:
            raise bad_params(f"{key} is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad_params(f"{key} must be a string")
    return str(value).strip()


def int_field(
    body: dict[str, Any], key: str, *, maximum: int, required: bool, default: int = 0
) -> int:
    """A whole number within 0..``maximum`` (the width of the gateway's Go field)."""
    value = body.get(key)
    if value is None:
        if required:
            raise bad_params(f"{key} is required")
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise bad_params(f"{key} must be a whole number from 0 to {maximum}")
    return value
