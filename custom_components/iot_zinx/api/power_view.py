"""``POST /charging/update_power``: a running order's overload power and maximum duration.

The vendor's way (PROTOCOL 0x82, "最大充电时长、过载功率 ... 动态设置"): send the order's
0x82 start again, same order number and terms, with the new ``max_power`` and
``max_duration``. The terms (rate mode, value, balance) are those of the start, so only
orders started through this API can be updated, as in the gateway, whose order manager knew
only its own starts. Unlike the gateway, the power goes on the wire in the protocol's 0.1 W
(the gateway sent watts as 0.1 W, a tenth of the power asked for), the order must be the one
running on that port (409 otherwise), and the station's answer is checked.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from aiohttp import web
from homeassistant.components.http import KEY_HASS, HomeAssistantView

from custom_components.iot_zinx.protocol.errors import CommandError, StationOfflineError
from custom_components.iot_zinx.protocol.messages import (
    ChargeControl,
    ChargeControlReply,
    parse_order_no,
)

from .actions import Action, ApiOrders, bad, check_port, station_of
from .envelope import (
    API_PREFIX,
    MSG_EMPTY_ORDER_NO,
    MSG_PORT_ZERO,
    ApiError,
    int_field,
    offline,
    read_command_body,
    success,
    text_field,
)
from .stations import Located, locate

_U16: Final = 0xFFFF
_ACTION_START: Final = 1


class ChargingUpdatePowerView(HomeAssistantView):
    """Change the overload power (and maximum duration) of a running order."""

    url = f"{API_PREFIX}/charging/update_power"
    name = "api:iot_zinx:charging:update_power"

    def __init__(self, orders: ApiOrders) -> None:
        """Read the start terms from ``orders``."""
        self._orders = orders

    async def post(self, request: web.Request) -> web.Response:
        """200 ``更新成功`` once the station accepted the new limits."""
        try:
            body = await read_command_body(request)
            device_id = text_field(body, "deviceId", required=True)
            port = int_field(body, "port", maximum=255, required=True)
            order_no = text_field(body, "orderNo", required=True)
            power_w = int_field(body, "overloadPowerW", maximum=_U16, required=True)
            max_s = int_field(body, "maxChargeDurationSeconds", maximum=_U16, required=False)
            if not order_no:
                raise bad(MSG_EMPTY_ORDER_NO)
            if port == 0:
                raise bad(MSG_PORT_ZERO)
            if power_w == 0 or power_w * 10 > _U16:
                raise bad(f"过载功率无效：{power_w}，范围1-{_U16 // 10}(瓦)")
            found = locate(request.app[KEY_HASS], device_id)
            station = station_of(found)
            check_port(station, port)
            state = station.ports.get(port)
            running = None if state is None else state.order
            terms = self._orders.terms(found.station_id, order_no)
            if running is None or running.order_number != order_no or terms is None:
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    "订单校验失败",
                    {"error": f"未找到端口 {found.station_id}:{port} 上由本接口启动的进行中订单"},
                )
            command = ChargeControl(
                rate_mode=terms.rate_mode,
                balance_or_expiry=terms.balance,
                port=port - 1,
                action=_ACTION_START,
                value=terms.value,
                order_no=parse_order_no(order_no),
                max_duration_s=max_s,
                max_power_w=float(power_w),
            )
            await _async_send(found, command)
            action = Action(
                found,
                port,
                "update_power",
                {
                    "orderNo": order_no,
                    "overloadPowerW": power_w,
                    "maxChargeDurationSeconds": max_s,
                },
            )
        except ApiError as err:
            return err.response()
        return success("更新成功", action.data())


async def _async_send(found: Located, command: ChargeControl) -> None:
    assert found.hub is not None
    try:
        reply = await found.hub.server.request(found.station_id, command)
    except StationOfflineError as err:
        raise offline() from err
    except CommandError as err:
        raise ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "更新失败", {"error": str(err)}) from err
    result = reply.result if isinstance(reply, ChargeControlReply) else None
    if result != 0:
        raise ApiError(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "更新失败",
            {"error": f"设备应答 {result}", "response_code": result},
        )
