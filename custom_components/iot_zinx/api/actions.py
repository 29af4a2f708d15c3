"""What the charging routes share: the gateway's action answer, station and port checks, and
the terms of the starts made through the API (``update_power`` repeats them).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from http import HTTPStatus
import time
from typing import Any, Final

from custom_components.iot_zinx.models import StationState

from .envelope import ApiError, offline
from .stations import Located

# Start terms remembered (orders started through the API); the oldest are forgotten first.
_MAX_TERMS: Final = 4096


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
    """``400`` for a port beyond the station's (once it told how many it has)."""
    if station.port_count and port > station.port_count:
        raise bad(f"端口号无效：{port}，设备共有{station.port_count}个端口")


@dataclass(frozen=True, slots=True)
class StartTerms:
    """What a start sent on the wire: the update repeats it."""

    rate_mode: int
    value: int
    balance: int


class StartTermsBook:
    """The terms of the orders started through the API, by station and order number."""

    def __init__(self) -> None:
        """Empty; bounded to ``_MAX_TERMS`` orders."""
        self._terms: OrderedDict[tuple[str, str], StartTerms] = OrderedDict()

    def remember(self, station_id: str, order_no: str, terms: StartTerms) -> None:
        """Keep a started order's terms."""
        self._terms[station_id, order_no] = terms
        self._terms.move_to_end((station_id, order_no))
        while len(self._terms) > _MAX_TERMS:
            self._terms.popitem(last=False)

    def get(self, station_id: str, order_no: str) -> StartTerms | None:
        """A started order's terms, if it was started here."""
        return self._terms.get((station_id, order_no))
