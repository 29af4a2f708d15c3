"""The compact station list of a large site: one row per station, paged and filtered.

Above some number of stations (the strategy's ``compact_above``, 50 by default) the dashboard
shows one row per station instead of a section per station: its name, whether it is online,
and its ports as small cells coloured by status. The browser subscribes to one page
(``iot_zinx/station_list/subscribe`` with page, page size, text and status filter) and is sent
that page again when what it shows changes: a station on the page, or a station entering or
leaving the filter (which moves the pages and the counts). It never subscribes to the states
of 10,000 x 10 entities, and nothing polls.

Rows are built from the hubs' station state, not from entities, so they show port cells at
every *Entities per port* level, *Connectivity only* included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
import math
from typing import Any, Final

from homeassistant.components import websocket_api
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_call_later
import probatio

from .const import DOMAIN
from .entries import station_entries
from .models import PortState, StationState
from .protocol import codes
from .sensor import PORT_STATUS_STATES, PORT_STATUS_UNKNOWN
from .signals import SIGNAL_STATION_CHANGED

COMMAND_STATION_LIST: Final = f"{DOMAIN}/station_list/subscribe"
STATUS_FILTERS: Final = ("all", "offline", "charging", "fault")
PAGE_SIZE_DEFAULT: Final = 50
PAGE_SIZE_MAX: Final = 200
# At most one page per subscription per interval: at 10,000 stations a station changes every
# few milliseconds. The first change after a quiet interval is sent at once, the rest at its
# end. A module constant so that tests can shorten it.
LIST_INTERVAL: Final = 1.0

type StationKey = tuple[str, str]  # (entry_id, station_id)
# What decides a station's place in the counts and the status filter.
type StationFlags = tuple[bool, bool, bool]  # online, charging, fault


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What one subscription shows."""

    page: int = 0  # from 0; past the last page means the last page
    page_size: int = PAGE_SIZE_DEFAULT
    text: str = ""  # lower case; a part of the name or of the station id
    status: str = "all"  # one of STATUS_FILTERS


@dataclass(slots=True)
class ListPage:
    """One computed page, and what the subscription compares later changes with."""

    message: dict[str, Any]
    shown: dict[StationKey, dict[str, Any]]  # the rows on the page
    flags: dict[StationKey, StationFlags]  # of every station


def port_kind(port: PortState) -> str:
    """The cell's colour: charging, fault, plugged, idle or unknown (docs/protocol.md 7.1)."""
    if port.is_charging:
        return "charging"
    if port.is_fault:
        return "fault"
    if port.is_plugged:
        return "plugged"
    return "unknown" if port.status is None else "idle"


def station_row(station: StationState) -> dict[str, Any]:
    """A station's row without its name: online and a cell per port."""
    return {
        "station_id": station.station_id,
        "online": station.online,
        "ports": [
            {
                "number": number,
                # The port status sensor's state key, so the browser shows its translation.
                "status": (
                    None
                    if port.status is None
                    else PORT_STATUS_STATES.get(port.status, PORT_STATUS_UNKNOWN)
                ),
                "kind": port_kind(port),
                "power_w": port.power_w,
            }
            for number, port in sorted(station.ports.items())
        ],
    }


# The codes of docs/protocol.md 7.1 as plain ints: the flags of every station are computed for
# each page sent, and comparing with the enum's members costs five times as much.
_CHARGING_CODES: Final = frozenset(
    {int(codes.PortStatus.CHARGING), int(codes.PortStatus.FLOAT_CHARGING)}
)
_CANNOT_METER: Final = int(codes.PortStatus.CANNOT_METER)
_FAULTS_FROM: Final = int(codes.PortStatus.MEMORY_DAMAGED)


def station_flags(station: StationState) -> StationFlags:
    """Online, any port charging, any port in fault (codes.is_charging_status, is_fault_status)."""
    charging = fault = False
    for port in station.ports.values():
        status = port.status
        if status is None:
            continue
        if status in _CHARGING_CODES:
            charging = True
        elif status == _CANNOT_METER or status >= _FAULTS_FROM:
            fault = True
    return station.online, charging, fault


@dataclass(frozen=True, slots=True)
class ListedStation:
    """A station's place in the list: its name (the device's) and how it sorts."""

    entry_id: str
    station_id: str
    name: str
    device_id: str | None
    search: str  # name and id, case-folded: what the text filter looks in


def sort_key(name: str) -> list[tuple[int, int, str]]:
    """By words, a word of digits by its number: "Shed 9" before "Shed 10".

    Not by every run of digits, as the strategy's small view sorts: a station id is hex, and
    "04A22A0A" would come before "04A22A01".
    """
    return [
        (0, int(word), "") if word.isdigit() else (1, 0, word) for word in name.casefold().split()
    ]


@callback
def async_directory(hass: HomeAssistant) -> list[ListedStation]:
    """Every station of the loaded servers, sorted by name (then by server and id).

    Kept by a subscription until a device changes (names) or the number of stations does:
    sorting 10,000 names for every page sent would cost more than the rest of the page.
    """
    listed = []
    for entry in station_entries(hass, loaded=True):
        devices = entry.runtime_data.devices
        for station_id in entry.runtime_data.stations:
            device = devices.device(station_id)
            name = (
                (device.name_by_user or device.name) if device is not None else None
            ) or f"AP3000 {station_id}"
            listed.append(
                ListedStation(
                    entry.entry_id,
                    station_id,
                    name,
                    None if device is None else device.id,
                    f"{name}\n{station_id}".casefold(),
                )
            )
    listed.sort(key=lambda item: (sort_key(item.name), item.entry_id, item.station_id))
    return listed


_NO_STATIONS: Final[Mapping[str, StationState]] = {}
_NAMES: Final = frozenset({"name", "name_by_user"})


def _status_matches(status: str, flags: StationFlags) -> bool:
    online, charging, fault = flags
    return (
        status == "all"
        or (status == "offline" and not online)
        or (status == "charging" and charging)
        or (status == "fault" and fault)
    )


type Fleets = Mapping[str, Mapping[str, StationState]]  # entry_id -> station_id -> state


@callback
def async_fleets(hass: HomeAssistant) -> Fleets:
    """The stations of every loaded server, by entry id."""
    return {
        entry.entry_id: entry.runtime_data.stations for entry in station_entries(hass, loaded=True)
    }


def station_page(fleets: Fleets, query: ListQuery, directory: list[ListedStation]) -> ListPage:
    """One page of ``directory`` (async_directory), filtered, with the stations' state now.

    ``counts`` are over the stations the text matches (whatever the status filter), so the
    status filter's buttons say how many each would show.
    """
    counts = {"stations": 0, "online": 0, "offline": 0, "charging": 0, "fault": 0}
    flags: dict[StationKey, StationFlags] = {}
    matching: list[tuple[ListedStation, StationState]] = []
    for listed in directory:
        station = fleets.get(listed.entry_id, _NO_STATIONS).get(listed.station_id)
        if station is None:  # removed since the directory was made
            continue
        flags[listed.entry_id, listed.station_id] = station_flag = station_flags(station)
        if query.text and query.text not in listed.search:
            continue
        online, charging, fault = station_flag
        counts["stations"] += 1
        counts["online" if online else "offline"] += 1
        counts["charging"] += charging
        counts["fault"] += fault
        if _status_matches(query.status, station_flag):
            matching.append((listed, station))
    pages = max(1, math.ceil(len(matching) / query.page_size))
    page = min(query.page, pages - 1)
    shown: dict[StationKey, dict[str, Any]] = {}
    rows = []
    for listed, station in matching[page * query.page_size : (page + 1) * query.page_size]:
        shown[listed.entry_id, listed.station_id] = row = station_row(station)
        rows.append({"device_id": listed.device_id, "name": listed.name, **row})
    message = {
        "page": page,
        "pages": pages,
        "page_size": query.page_size,
        "matched": len(matching),
        "counts": counts,
        "stations": rows,
    }
    return ListPage(message, shown, flags)


class StationListSubscription:
    """One browser's page, sent again when what it shows changes (throttled)."""

    def __init__(
        self, hass: HomeAssistant, send: Callable[[dict[str, Any]], None], query: ListQuery
    ) -> None:
        """Nothing is sent until ``start``."""
        self._hass = hass
        self._send = send
        self._query = query
        self._page: ListPage | None = None
        self._directory: list[ListedStation] | None = None
        self._sent: dict[str, Any] | None = None
        self._dirty = False
        self._cancel_timer: CALLBACK_TYPE | None = None
        self._unsubs: list[CALLBACK_TYPE] = []

    @callback
    def start(self) -> None:
        """Send the first page and follow the stations and their devices (names)."""
        self._unsubs = [
            async_dispatcher_connect(self._hass, SIGNAL_STATION_CHANGED, self._station_changed),
            self._hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, self._device_changed),
        ]
        self._refresh()

    @callback
    def stop(self) -> None:
        """The browser unsubscribed or went away."""
        for unsub in self._unsubs:
            unsub()
        self._unsubs = []
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None

    @callback
    def _station_changed(self, entry_id: str, station: StationState) -> None:
        """Cheap for the many changes that change nothing shown: one station's ports."""
        if self._dirty or self._page is None:
            return
        key = (entry_id, station.station_id)
        if key in self._page.shown:
            if station_row(station) == self._page.shown[key]:
                return
        elif station_flags(station) == self._page.flags.get(key):
            return
        self._changed()

    @callback
    def _device_changed(self, event: Event[dr.EventDeviceRegistryUpdatedData]) -> None:
        # A new, renamed or removed device: names sort the list, and a removed station goes.
        # (Any integration's device: another's rename costs one sorting, which is rare.)
        if event.data["action"] == "update" and not _NAMES & event.data["changes"].keys():
            return
        self._directory = None
        self._changed()

    @callback
    def _changed(self) -> None:
        if self._cancel_timer is not None:
            self._dirty = True  # the interval's end sends
            return
        self._refresh()

    @callback
    def _refresh(self) -> None:
        self._dirty = False
        fleets = async_fleets(self._hass)
        if self._directory is None or len(self._directory) != sum(map(len, fleets.values())):
            self._directory = async_directory(self._hass)
        self._page = station_page(fleets, self._query, self._directory)
        if self._page.message != self._sent:
            self._sent = self._page.message
            self._send(self._page.message)
        self._cancel_timer = async_call_later(self._hass, LIST_INTERVAL, self._interval_end)

    @callback
    def _interval_end(self, _now: object) -> None:
        self._cancel_timer = None
        if self._dirty:
            self._refresh()


@websocket_api.websocket_command(
    {
        probatio.Required("type"): COMMAND_STATION_LIST,
        probatio.Optional("page", default=0): probatio.All(int, probatio.Range(min=0)),
        probatio.Optional("page_size", default=PAGE_SIZE_DEFAULT): probatio.All(
            int, probatio.Range(min=1, max=PAGE_SIZE_MAX)
        ),
        probatio.Optional("text", default=""): str,
        probatio.Optional("status", default="all"): probatio.In(STATUS_FILTERS),
    }
)
@callback
def ws_station_list(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Subscribe to one page of the station list; an event carries each new version."""
    query = ListQuery(
        page=msg["page"],
        page_size=msg["page_size"],
        text=msg["text"].strip().casefold(),
        status=msg["status"],
    )
    msg_id = msg["id"]

    @callback
    def send(page: dict[str, Any]) -> None:
        connection.send_message(websocket_api.event_message(msg_id, page))

    subscription = StationListSubscription(hass, send, query)
    connection.subscriptions[msg_id] = subscription.stop
    connection.send_result(msg_id)
    subscription.start()
