"""What the charging routes share: the gateway's action answer, station and port checks, and
the orders of the API (the terms of its starts, which ``update_power`` repeats, and the stops
the stations accepted, which a retried stop must not send again).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from http import HTTPStatus
import time
from typing import Any, Final

from custom_components.iot_zinx.models import Order, StationState

from .envelope import ApiError, offline
from .stations import Located

# Orders remembered (started or stopped through the API); the oldest are forgotten first.
_MAX_ORDERS: Final = 4096
# Stations have at most 16 ports (docs/protocol.md 2: wire ports 0x00-0x0F).
_MAX_PORT: Final = 16


@dataclass(frozen=True, slots=True)
class Action:
    """The gateway's ``ChargingActionResponse``; zero values are left out, as Go's omitempty."""

    located: Located
    port: int
    action: str
    values: dict[str, Any]

    def data(self) -> dict[str, Any]:
        """``{deviceId, standardId, port, orderNo, ..., action, timestamp}``."""
        return {
            **self.located.ids(),
            "port": self.port,
            **{key: value for key, value in self.values.items() if value},
            "action": self.action,
            "timestamp": int(time.time()),
        }


def bad(message: str) -> ApiError:
    """``400`` with one of the gateway's parameter messages."""
    return ApiError(HTTPStatus.BAD_REQUEST, message)


def station_of(found: Located) -> StationState:
    """The station, online; ``503 设备不在线`` otherwise."""
    station = found.station
    if found.hub is None or station is None or not station.online:
        raise offline()
    return station


def check_port(station: StationState, port: int) -> None:
    """``400`` for a port beyond the station's (16 until it told how many it has)."""
    count = station.port_count or _MAX_PORT
    if port > count:
        raise bad(f"端口号无效：{port}，设备共有{count}个端口")


@dataclass(frozen=True, slots=True)
class StartTerms:
    """What a start sent on the wire: the update repeats it."""

    rate_mode: int
    value: int
    balance: int


def _remember[T](book: OrderedDict[tuple[str, str], T], key: tuple[str, str], value: T) -> None:
    book[key] = value
    book.move_to_end(key)
    while len(book) > _MAX_ORDERS:
        book.popitem(last=False)


class ApiOrders:
    """The orders the API started (their terms) and stopped, by station and order number."""

    def __init__(self) -> None:
        """Empty; each half bounded to ``_MAX_ORDERS`` orders."""
        self._terms: OrderedDict[tuple[str, str], StartTerms] = OrderedDict()
        # An order is named by its start time too: its number may be started again later.
        self._stopped: OrderedDict[tuple[str, str], float] = OrderedDict()

    def started(self, station_id: str, order_no: str, terms: StartTerms) -> None:
        """Keep a started order's terms."""
        _remember(self._terms, (station_id, order_no), terms)

    def terms(self, station_id: str, order_no: str) -> StartTerms | None:
        """A started order's terms, if it was started here."""
        return self._terms.get((station_id, order_no))

    def stopped(self, station_id: str, order: Order) -> None:
        """The station accepted the stop of this order (its settlement follows)."""
        _remember(self._stopped, (station_id, order.order_number), order.started_at)

    def was_stopped(self, station_id: str, order: Order) -> bool:
        """Whether a stop of this order was accepted: a retry is idempotent, sends nothing."""
        return self._stopped.get((station_id, order.order_number)) == order.started_at
