"""Benchmark the dashboard's station list: one page of a whole fleet, in the event loop.

Every page ``iot_zinx/station_list/subscribe`` sends walks the fleet once (station_list.py
``station_page``: the flags of each station for the counts and the filter, then the rows of one
page); the names are sorted only when the directory is made (``async_directory``: again when a
device changes). Times, per fleet size (stations of 10 ports, a fifth of them charging, one in
fifty with a fault), best of ``--repeat`` rounds:

* baseline:  the site totals' one pass over the same fleet (site_totals.py
             ``compute_site_totals``, at most once per 5 s in the event loop today);
* page:      one page, no filter; ``text``: filtered by a part of the id; ``charging``: by
             status; ``last page``: the last page;
* directory: sorting the fleet's names (what the directory costs on a device change).

Prints a table, then the figures as one JSON object on the last line.

    scripts/bench_station_list [--stations 1000,3000,10000] [--repeat N]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
import json
from pathlib import Path
import sys
import time

REPO = Path(__file__).resolve().parents[1]
# The repository's root, for the integration's packages (Python puts only tools/ on sys.path).
sys.path.insert(0, str(REPO))

from custom_components.iot_zinx.models import StationState
from custom_components.iot_zinx.protocol.codes import PortStatus
from custom_components.iot_zinx.site_totals import compute_site_totals
from custom_components.iot_zinx.station_list import (
    ListedStation,
    ListQuery,
    sort_key,
    station_page,
)

ENTRY = "bench"
PORTS = 10
FIRST_ID = 0x04A228CD


def fleet(count: int) -> dict[str, StationState]:
    """``count`` online stations of 10 ports, chargers plugged in, some charging, a few faults."""
    stations = {}
    for index in range(count):
        station_id = f"{FIRST_ID + index:08X}"
        station = StationState(station_id, FIRST_ID + index, online=True)
        for number in range(1, PORTS + 1):
            port = station.port(number)
            port.status = PortStatus.PLUGGED_NOT_STARTED
            port.power_w = 0.0
        if index % 5 == 0:
            station.port(1).status = PortStatus.CHARGING
            station.port(1).power_w = 212.4
        if index % 50 == 0:
            station.port(2).status = PortStatus.RELAY_WELDED
        stations[station_id] = station
    return stations


def directory(stations: dict[str, StationState]) -> list[ListedStation]:
    """What async_directory makes, without the device registry (names as it names devices)."""
    listed = [
        ListedStation(
            ENTRY,
            station_id,
            f"AP3000 {station_id}",
            None,
            f"ap3000 {station_id}\n{station_id}".casefold(),
        )
        for station_id in stations
    ]
    listed.sort(key=lambda item: (sort_key(item.name), item.entry_id, item.station_id))
    return listed


def best_ms(function: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def measure(count: int, repeat: int) -> dict[str, float]:
    """The figures of one fleet size, in ms."""
    stations = fleet(count)
    fleets = {ENTRY: stations}
    listed = directory(stations)

    def page(query: ListQuery) -> float:
        return best_ms(lambda: station_page(fleets, query, listed), repeat)

    figures = {
        "stations": count,
        "baseline_ms": best_ms(lambda: compute_site_totals(stations, 0.0), repeat),
        "page_ms": page(ListQuery()),
        "text_ms": page(ListQuery(text="04a22c")),
        "charging_ms": page(ListQuery(status="charging")),
        "last_page_ms": page(ListQuery(page=count)),
        "directory_ms": best_ms(lambda: directory(stations), repeat),
    }
    figures = {key: round(value, 2) for key, value in figures.items()}
    figures["ratio"] = round(figures["page_ms"] / figures["baseline_ms"], 2)
    return figures


COLUMNS: tuple[str, ...] = ("stations", "baseline_ms", "page_ms", "ratio", "text_ms")
COLUMNS += ("charging_ms", "last_page_ms", "directory_ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_station_list", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--stations", default="1000,3000,10000", help="fleet sizes, with commas")
    parser.add_argument("--repeat", type=int, default=7, help="rounds; the best counts")
    args = parser.parse_args(argv)
    print("  ".join(f"{column.removesuffix('_ms'):>10}" for column in COLUMNS) + "   (ms)")
    results = []
    for count in (int(part) for part in args.stations.split(",")):
        figures = measure(count, args.repeat)
        results.append(figures)
        print("  ".join(f"{figures[column]:>10g}" for column in COLUMNS))
    print("ratio: page / baseline (the site totals' one pass over the same fleet)")
    print(json.dumps({"bench": "station_list", "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
