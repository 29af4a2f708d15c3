"""Charging routes: ``POST /charging/start``, ``/charging/stop``, ``/charging/update_power``
(``internal/adapter/http/charging_handlers.go``).

The gateway's ``mode`` 0 is by time (``value`` in seconds), 1 by energy (``value`` in 0.1 kWh);
``balance`` (fen) is only read out by the station. The start carries the platform's
``orderNo``, which the station echoes and every event of the order names.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from aiohttp import web
from homeassistant.components.http import KEY_HASS, HomeAssistantView

from custom_components.iot_zinx.const import MAX_ORDER_NUMBER_LENGTH as ORDER_NO_SIZE
from custom_components.iot_zinx.models import ChargeMode, StationState
from custom_components.iot_zinx.orders import NoActiveOrderError
from custom_components.iot_zinx.protocol import codes
from custom_components.iot_zinx.protocol.errors import (
    CommandError,
    CommandTimeoutError,
    StationOfflineError,
    StationRefusedError,
)

from .actions import Action, ApiOrders, StartTerms, bad, check_port, station_of
from .envelope import (
    API_PREFIX,
    MSG_EMPTY_DEVICE_ID,
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

_MODE_TIME: Final = 0
_MODE_ENERGY: Final = 1
_PORT_ANY: Final = 255  # the gateway's "station picks the port" (stop only)
_U16: Final = 0xFFFF
# Energy goes on the wire in 0.01 kWh (a u16): at most 6553 of the gateway's 0.1 kWh.
_MAX_ENERGY_DECI_KWH: Final = _U16 // 10


def _order_no(text: str) -> str:
    """The platform's order number: 1 to 16 bytes (the wire's), printable ASCII.

    The same text comes back in every event of the order (``order_number``, ``order_id``).
    """
    if not text:
        raise bad(MSG_EMPTY_ORDER_NO)
    if len(text.encode()) > ORDER_NO_SIZE:
        raise bad(f"订单号长度超过限制：当前{len(text.encode())}字节，最大16字节，订单号：{text}")
    if not (text.isascii() and text.isprintable()):
        raise bad(f"订单号格式错误：{text}，仅支持可打印ASCII字符")
    return text


def _conflict(error: str) -> ApiError:
    return ApiError(HTTPStatus.CONFLICT, "充电状态冲突", {"error": error})


def _started_already(found: Located, station: StationState, port: int, order_no: str) -> bool:
    """True when this order already runs (or starts) on the port; 409 for another order."""
    assert found.hub is not None
    prefix = f"{found.station_id}:"
    pending = [order for key, order in found.hub.orders.pending.items() if key.startswith(prefix)]
    running = [state.order for state in station.ports.values() if state.order is not None]
    for order, status in [(o, "pending") for o in pending] + [(o, "charging") for o in running]:
        if order.port == port:
            if order.order_number == order_no:
                return True
            raise _conflict(f"端口已有进行中的订单: {order.order_number} (状态: {status})")
        if order.order_number == order_no:
            raise _conflict(f"订单号已在端口{order.port}使用: {order_no} (状态: {status})")
    state = station.ports.get(port)
    if state is not None and state.is_charging:
        raise _conflict(f"端口状态不允许开始充电，当前状态: {state.status_desc}")
    return False


class ChargingStartView(HomeAssistantView):
    """Start charging a port for the platform's order."""

    url = f"{API_PREFIX}/charging/start"
    name = "api:iot_zinx:charging:start"

    def __init__(self, orders: ApiOrders) -> None:
        """Remember each start's terms in ``orders`` (``update_power`` repeats them)."""
        self._orders = orders

    async def post(self, request: web.Request) -> web.Response:
        """200 once the station accepted (or the same order already runs: idempotent)."""
        try:
            body = await read_command_body(request)
            device_id = text_field(body, "deviceId", required=True)
            port = int_field(body, "port", maximum=255, required=True)
            mode = int_field(body, "mode", maximum=255, required=False)
            value = int_field(body, "value", maximum=_U16, required=True)
            order_no = text_field(body, "orderNo", required=True)
            balance = int_field(body, "balance", maximum=0xFFFFFFFF, required=False)
            if not device_id:
                raise bad(MSG_EMPTY_DEVICE_ID)
            if not order_no:
                raise bad(MSG_EMPTY_ORDER_NO)
            if port == 0:
                raise bad(MSG_PORT_ZERO)
            found = locate(request.app[KEY_HASS], device_id)
            _order_no(order_no)
            _check_start_value(mode, value)
            station = station_of(found)
            check_port(station, port)
            action = Action(
                found,
                port,
                "start",
                {"orderNo": order_no, "mode": mode, "value": value, "balance": balance},
            )
            if _started_already(found, station, port, order_no):
                return success("充电启动成功", {**action.data(), "idempotent": True})
            await _async_start(
                found, port, mode=mode, value=value, order_no=order_no, balance=balance
            )
            self._orders.started(found.station_id, order_no, _terms(mode, value, balance))
        except ApiError as err:
            return err.response()
        return success("充电启动成功", action.data())


def _check_start_value(mode: int, value: int) -> None:
    if mode not in (_MODE_TIME, _MODE_ENERGY):
        raise bad(f"充电模式无效：{mode}，有效值：0(按时间)或1(按电量)")
    if value == 0:
        if mode == _MODE_TIME:
            raise bad("按时间充电时，充电时长不能为0秒")
        raise bad("按电量充电时，充电电量不能为0")
    if mode == _MODE_ENERGY and value > _MAX_ENERGY_DECI_KWH:
        raise bad(f"充电电量超出范围：{value}，最大{_MAX_ENERGY_DECI_KWH}(0.1度)")


def _terms(mode: int, value: int, balance: int) -> StartTerms:
    """The wire terms of a start: energy in 0.01 kWh there (the platform's 0.1 kWh x 10)."""
    if mode == _MODE_ENERGY:
        return StartTerms(int(codes.RateMode.ENERGY), value * 10, balance)
    return StartTerms(int(codes.RateMode.TIME), value, balance)


async def _async_start(
    found: Located, port: int, *, mode: int, value: int, order_no: str, balance: int
) -> None:
    assert found.hub is not None
    energy = mode == _MODE_ENERGY
    try:
        await found.hub.orders.async_start_charging(
            found.station_id,
            port,
            mode=ChargeMode.ENERGY if energy else ChargeMode.TIME,
            seconds=None if energy else value,
            energy_kwh=value / 10 if energy else None,
            order_number=order_no,
            balance_fen=balance,
        )
    except StationOfflineError as err:
        raise offline() from err
    except StationRefusedError as err:
        raise ApiError(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "充电启动失败",
            {"error": err.description, "response_code": err.code},
        ) from err
    except CommandError as err:
        raise _failed("充电启动失败", err) from err


def _failed(message: str, err: CommandError) -> ApiError:
    detail = "设备未应答" if isinstance(err, CommandTimeoutError) else str(err)
    return ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, message, {"error": detail})


class ChargingStopView(HomeAssistantView):
    """Stop a port's order; idempotent when nothing runs there."""

    url = f"{API_PREFIX}/charging/stop"
    name = "api:iot_zinx:charging:stop"

    def __init__(self, orders: ApiOrders) -> None:
        """Remember the accepted stops in ``orders``: a retry before the settlement sends none."""
        self._orders = orders

    async def post(self, request: web.Request) -> web.Response:
        """200 ``充电已停止``, 200 ``idempotent`` when nothing runs, 409 for another order."""
        try:
            body = await read_command_body(request)
            device_id = text_field(body, "deviceId", required=True)
            port = int_field(body, "port", maximum=255, required=False)
            order_no = text_field(body, "orderNo", required=False)
            if not device_id:
                raise bad(MSG_EMPTY_DEVICE_ID)
            if port == 0:
                raise bad(MSG_PORT_ZERO)
            found = locate(request.app[KEY_HASS], device_id)
            station = station_of(found)
            if port == _PORT_ANY:
                port = _port_of_order(station, order_no)
            else:
                check_port(station, port)
            state = station.ports.get(port)
            running = None if state is None else state.order
            idempotent = Action(found, port, "stop", {"orderNo": order_no})
            if running is None or self._orders.was_stopped(found.station_id, running):
                return _idempotent_stop(idempotent)
            if order_no and order_no != running.order_number:
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    "订单校验失败",
                    {"error": f"订单号不匹配，当前: {running.order_number}，请求: {order_no}"},
                )
            if not await _async_stop(found, port):
                return _idempotent_stop(idempotent)
            self._orders.stopped(found.station_id, running)
        except ApiError as err:
            return err.response()
        done = Action(found, port, "stop", {"orderNo": running.order_number})
        return success("充电已停止", done.data())


def _port_of_order(station: StationState, order_no: str) -> int:
    """Port 255 (the gateway's "station picks"): the port running ``order_no``."""
    if not order_no:
        raise bad("端口号为255时必须提供订单号")
    return next(
        (
            number
            for number, state in station.ports.items()
            if state.order is not None and state.order.order_number == order_no
        ),
        _PORT_ANY,
    )


def _idempotent_stop(action: Action) -> web.Response:
    return success("充电已停止(幂等)", {"idempotent": True, "detail": action.data()})


async def _async_stop(found: Located, port: int) -> bool:
    """Stop the port's order; False when the station says nothing ran (idempotent)."""
    assert found.hub is not None
    try:
        await found.hub.orders.async_stop_charging(found.station_id, port)
    except NoActiveOrderError:
        return False
    except StationOfflineError as err:
        raise offline() from err
    except StationRefusedError as err:
        if err.code == codes.ChargeResult.ALREADY_IN_STATE:
            return False
        raise ApiError(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "停止充电失败",
            {"error": err.description, "response_code": err.code},
        ) from err
    except CommandError as err:
        raise _failed("停止充电失败", err) from err
    return True
