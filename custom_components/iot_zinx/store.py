"""What the hub keeps across restarts: the order book and the stations it knows.

A station stores a settlement until the gateway acknowledges it and sends it again after a
power cut (docs/protocol.md 3, 0x03), so a settlement can arrive after Home Assistant restarted.
To still attribute it to its order (the start time of ``charging_end``), to count its energy
once, and to recognise a resend, the open orders, the settled energy per port and the ids
already processed are saved with a ``Store`` (``iot_zinx.<entry_id>``), together with the
stations' identity so that their entities exist, unavailable, before they reconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sized
import logging
from typing import Any, Final, NotRequired, TypedDict, cast

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.json import json_bytes, json_fragment
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .models import Order, StationState

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION: Final = 1
# Seconds the store waits for more changes before writing: a busy station sends a 0x06 per
# port every few minutes, which need not each cost a disk write.
SAVE_DELAY: Final = 10
# How many settlement ids and ended orders are remembered to recognise a resent settlement
# (resent every 30 min until acknowledged, kept across power cuts): far more than a station
# can have outstanding.
MAX_RECENT: Final = 1000
# Open orders whose settlement never came (a station replaced, its memory cleared) are
# forgotten, oldest first, beyond this many.
MAX_OPEN_ORDERS: Final = 2000
# Both bounds grow with the fleet: 3,000 stations run 10,000 orders at once and settle more
# than a thousand in the half hour a station waits before resending an unacknowledged
# settlement. A fixed bound forgot running orders and let a late resend count twice.
RECENT_PER_STATION: Final = 32
OPEN_ORDERS_PER_STATION: Final = 32
# At most one settlement write starts per this many seconds; settlements arriving meanwhile
# wait for the next write and share it. A write serializes the whole store (3.8 MB at 3,000
# stations; its parts are kept serialized, see dump_changed), and a big site settles several
# orders a second: one write each took a third of the loop (py-spy, scripts/bench_scale).
# A settlement after a quiet second is written at once; the station resends an
# unacknowledged one only after 30 minutes, so waiting up to a second costs nothing.
COMMIT_INTERVAL: Final = 1.0


class _StoredOrder(TypedDict):
    device_id: str
    order_number: str
    order_no: str  # hex
    port: int
    started_at: float
    start_mode: int
    charging_end_sent: bool
    energy_kwh: float


class _StoredPort(TypedDict):
    finished_kwh: float
    lifetime_kwh: float


class _StoredStation(TypedDict):
    physical_id: int
    port_count: int
    firmware: int | None
    device_type: int | None
    work_mode: int | None
    iccid: str | None
    host_device_id: str | None
    ports: dict[str, _StoredPort]


class StoredData(TypedDict):
    """The JSON document of one config entry."""

    stations: dict[str, _StoredStation]
    orders: list[_StoredOrder]
    settlement_ids: list[str]
    ended_orders: list[str]
    # The lifetime energy of deleted stations (the site's total keeps it); absent in
    # documents written before it existed.
    removed_kwh: NotRequired[float]


def order_key(station_id: str, order_no: bytes) -> str:
    """How the book names an order: order numbers are unique per station only."""
    return f"{station_id}:{order_no.hex()}"


def _remember(recent: dict[str, None], key: str, limit: int) -> None:
    """Add to an insertion-ordered set, forgetting the oldest beyond ``limit``."""
    recent[key] = None
    while len(recent) > limit:
        del recent[next(iter(recent))]


class OrderBook:
    """Open orders, the settled energy of each port, and what was already settled."""

    def __init__(self, fleet: Sized = ()) -> None:
        """Start empty; ``HubStore.async_load`` fills it. ``fleet``: the known stations."""
        self._fleet = fleet
        # By order_key. A port's ``order`` is the one it runs now; an older one stays here
        # until its settlement arrives.
        self.orders: dict[str, Order] = {}
        # (station_id, port) -> kWh of the settled orders.
        self.settled_kwh: dict[tuple[str, int], float] = {}
        self._settlement_ids: dict[str, None] = {}
        self._ended: dict[str, None] = {}
        # What deleted stations had delivered, so that the site's lifetime energy
        # (site_totals.py) does not drop when one is deleted.
        self.removed_kwh = 0.0

    def open(self, key: str, order: Order) -> None:
        """Add (or keep) an open order."""
        self.orders[key] = order
        limit = max(MAX_OPEN_ORDERS, OPEN_ORDERS_PER_STATION * len(self._fleet))
        while len(self.orders) > limit:
            oldest = next(iter(self.orders))
            _LOGGER.debug("Forgetting order %s, never settled", oldest)
            del self.orders[oldest]

    def is_ended(self, key: str) -> bool:
        """Whether the order's charging_end was sent."""
        return key in self._ended

    def end(self, key: str) -> None:
        """Record that the order's charging_end was sent."""
        _remember(self._ended, key, self._recent_limit())

    def first_settlement(self, settlement_id: str) -> bool:
        """True the first time a settlement id is seen, then False (a resend)."""
        if settlement_id in self._settlement_ids:
            return False
        _remember(self._settlement_ids, settlement_id, self._recent_limit())
        return True

    def _recent_limit(self) -> int:
        return max(MAX_RECENT, RECENT_PER_STATION * len(self._fleet))

    @property
    def recent_settlements(self) -> int:
        """How many settlement ids are remembered."""
        return len(self._settlement_ids)

    def add_settled(self, station_id: str, port: int, energy_kwh: float) -> None:
        """Count a settled order's energy in its port's total."""
        key = (station_id, port)
        self.settled_kwh[key] = self.settled_kwh.get(key, 0.0) + energy_kwh

    def forget_station(self, station_id: str, lifetime_kwh: float) -> None:
        """Drop a removed station's open orders and energy; ``lifetime_kwh``: all it delivered."""
        self.removed_kwh = round(self.removed_kwh + lifetime_kwh, 2)
        prefix = f"{station_id}:"
        for key in [key for key in self.orders if key.startswith(prefix)]:
            del self.orders[key]
        for energy_key in [key for key in self.settled_kwh if key[0] == station_id]:
            del self.settled_kwh[energy_key]

    def station_doc(self, station: StationState) -> _StoredStation:
        """The stored form of one station and its ports' energy."""
        station_id = station.station_id
        settled = self.settled_kwh
        return {
            "physical_id": station.physical_id,
            "port_count": station.port_count,
            "firmware": station.firmware,
            "device_type": station.device_type,
            "work_mode": station.work_mode,
            "iccid": station.iccid,
            "host_device_id": station.host_station_id,
            "ports": {
                str(number): {
                    "finished_kwh": settled.get((station_id, number), 0.0),
                    "lifetime_kwh": port.lifetime_energy_kwh,
                }
                for number, port in station.ports.items()
            },
        }

    @staticmethod
    def order_doc(key: str, order: Order) -> _StoredOrder:
        """The stored form of one open order."""
        return {
            "device_id": key.partition(":")[0],
            "order_number": order.order_number,
            "order_no": order.order_no.hex(),
            "port": order.port,
            "started_at": order.started_at,
            "start_mode": order.start_mode,
            "charging_end_sent": order.charging_end_sent,
            "energy_kwh": order.energy_kwh,
        }

    def dump(self, stations: dict[str, StationState]) -> StoredData:
        """The JSON document of the book and the stations, every part built afresh.

        Its parts are pre-serialized (``dump_changed``): compare dumps as JSON.
        """
        return self.dump_changed(stations, set(stations), {}, {})

    def dump_changed(
        self,
        stations: dict[str, StationState],
        changed: set[str],
        station_docs: dict[str, json_fragment],
        order_docs: dict[str, json_fragment],
    ) -> StoredData:
        """Like ``dump``, rebuilding only the ``changed`` stations' parts of the last one.

        ``station_docs`` and ``order_docs`` hold the parts of the previous dump, already
        serialized, and are updated in place. Home Assistant's Store serializes the whole
        document in the event loop at every write; pre-serialized parts (as its registries
        keep theirs) are copied, not encoded again: at 3,000 stations the document is 3.8 MB,
        and encoding all of it took ~100 ms of the loop per write, a third of its busy time
        while orders end (py-spy, scripts/bench_scale). The JSON written is the same.
        """
        for station_id in changed:
            if (station := stations.get(station_id)) is None:
                station_docs.pop(station_id, None)
            else:
                station_docs[station_id] = json_fragment(json_bytes(self.station_doc(station)))
        orders = self.orders
        for key in [key for key in order_docs if key not in orders]:
            del order_docs[key]
        for key, order in orders.items():
            if key not in order_docs or key.partition(":")[0] in changed:
                order_docs[key] = json_fragment(json_bytes(self.order_doc(key, order)))
        # Typed as what it serializes to (and loads back as).
        document: dict[str, Any] = {
            "stations": dict(station_docs),
            "orders": list(order_docs.values()),
            "settlement_ids": list(self._settlement_ids),
            "ended_orders": list(self._ended),
            "removed_kwh": self.removed_kwh,
        }
        return cast(StoredData, document)

    def restore(self, stored: StoredData, stations: dict[str, StationState]) -> None:
        """Stations come back offline, with their ports, lifetime energy and open orders."""
        for station_id, saved in stored["stations"].items():
            station = stations.setdefault(
                station_id, StationState(station_id, saved["physical_id"])
            )
            station.firmware = saved["firmware"]
            station.device_type = saved["device_type"]
            station.work_mode = saved["work_mode"]
            station.iccid = saved["iccid"]
            station.host_station_id = saved["host_device_id"]
            station.port_count = saved["port_count"]
            for number in range(1, saved["port_count"] + 1):
                station.port(number)
            for number_text, energy in saved["ports"].items():
                number = int(number_text)
                station.port(number).lifetime_energy_kwh = energy["lifetime_kwh"]
                self.settled_kwh[(station_id, number)] = energy["finished_kwh"]
        for item in stored["orders"]:
            order = Order(
                order_number=item["order_number"],
                order_no=bytes.fromhex(item["order_no"]),
                port=item["port"],
                started_at=item["started_at"],
                start_mode=item["start_mode"],
                charging_end_sent=item["charging_end_sent"],
                energy_kwh=item["energy_kwh"],
            )
            station_id = item["device_id"]
            self.orders[order_key(station_id, order.order_no)] = order
            if (owner := stations.get(station_id)) is not None:
                port = owner.port(order.port)
                # The latest order of a port is the one it runs.
                if port.order is None or port.order.started_at <= order.started_at:
                    port.order = order
                    # Its energy here may be older than what was shown before a crash;
                    # the station's next report says how far it really got.
                    port.lifetime_confirmed = False
        self._settlement_ids = dict.fromkeys(stored["settlement_ids"])
        self._ended = dict.fromkeys(stored["ended_orders"])
        self.removed_kwh = stored.get("removed_kwh", 0.0)


class HubStore:
    """Loads and saves one entry's order book and stations."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        book: OrderBook,
        stations: dict[str, StationState],
    ) -> None:
        """Bind the book and the stations' dict to the entry's store."""
        self._store: Store[StoredData] = Store(hass, STORAGE_VERSION, _key(entry_id))
        self._book = book
        self._stations = stations
        self._save_pending = False
        # A write rebuilds only the stations changed since the last one (the hub marks them,
        # mark_changed); a full dump of 3,000 stations takes the event loop ~100 ms.
        # None: rebuild everything (the first write after loading).
        self._changed: set[str] | None = None
        self._station_docs: dict[str, json_fragment] = {}
        self._order_docs: dict[str, json_fragment] = {}
        # async_save: requests counted, one write at a time, each covering every request
        # made before it started.
        self._write_lock = asyncio.Lock()
        self._requested = 0
        self._covered = 0
        self.commit_interval = COMMIT_INTERVAL
        self._last_write_start: float | None = None

    async def async_load(self) -> None:
        """Fill the book and the stations from the store (nothing on a first start)."""
        if (stored := await self._store.async_load()) is not None:
            self._book.restore(stored, self._stations)

    @callback
    def mark_changed(self, station_id: str) -> None:
        """The station (its ports, energy or orders) changed: the next write includes it."""
        if self._changed is not None:
            self._changed.add(station_id)

    def _dump(self) -> StoredData:
        changed, self._changed = self._changed, set()
        if changed is None:
            self._station_docs.clear()
            self._order_docs.clear()
            changed = set(self._stations)
        return self._book.dump_changed(
            self._stations, changed, self._station_docs, self._order_docs
        )

    @callback
    def schedule_save(self, delay: float = SAVE_DELAY) -> None:
        """Save ``delay`` seconds after the first unsaved change, once for a burst of changes.

        ``Store.async_delay_save`` alone moves the write later on every call, so a steady
        trickle of changes (a busy site sends several a second) would never be written
        before Home Assistant stops, and a crash would lose every open order and the
        lifetime energy (scripts/fault_restart). A shorter delay (an order opened) brings a
        pending write forward, but not closer than ``commit_interval`` after the last write
        started: orders opening steadily share writes as settlements do. Also written at
        Home Assistant's final write.
        """
        if self._save_pending and delay >= SAVE_DELAY:
            return
        delay = max(delay, self._until_next_write())
        self._save_pending = True
        self._store.async_delay_save(self._dump_pending, delay)

    def _until_next_write(self) -> float:
        """Seconds before another write may start (``commit_interval`` after the last)."""
        if self._last_write_start is None:
            return 0.0
        now = asyncio.get_running_loop().time()
        return max(0.0, self._last_write_start + self.commit_interval - now)

    def _dump_pending(self) -> StoredData:
        # Called by the Store as its delayed write starts.
        self._save_pending = False
        self._last_write_start = asyncio.get_running_loop().time()
        return self._dump()

    async def async_save(self, *, final: bool = False) -> None:
        """Save now; return once a write that started after this call has finished.

        Settlements wait for this before they are acknowledged. When a hundred arrive
        together (a tenth of a big site's orders ending at once), the calls that queue
        behind a running write share the next one instead of writing the whole store a
        hundred times in a row; and writes start at most once per ``commit_interval``.
        The ``final`` write (the hub stopping) does not wait for the interval: nothing
        could share it.
        """
        self._requested += 1
        wanted = self._requested
        async with self._write_lock:
            if self._covered >= wanted:
                return  # a write that started after this call has saved it
            if not final and (wait := self._until_next_write()) > 0:
                await asyncio.sleep(wait)  # the calls arriving meanwhile share this write
            self._last_write_start = asyncio.get_running_loop().time()
            self._covered = self._requested
            self._save_pending = False
            await self._store.async_save(self._dump())


def _key(entry_id: str) -> str:
    return f"{DOMAIN}.{entry_id}"


async def async_remove_storage(hass: HomeAssistant, entry_id: str) -> None:
    """Delete an entry's persisted orders and energy (``async_remove_entry``)."""
    await Store[StoredData](hass, STORAGE_VERSION, _key(entry_id)).async_remove()
