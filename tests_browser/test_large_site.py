"""A large site in a real browser: 1,000 stations of 10 ports in the compact station list.

The demo runs at *Connectivity only* (docs/large-sites.md), so the ports have no entities: the
list's port cells come from the integration's station list (iot_zinx/station_list/subscribe).
Checked: the list replaces the per-station sections, pages through all 1,000 stations, filters
by text and by status, and a port's cell turns to charging when the station starts charging.
The tests run in order and share the large demo and the browser page of test_dashboard.py.
"""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import re
import shutil
import time
from typing import Any
import urllib.request

from playwright.sync_api import Locator, Page, expect

REPO = Path(__file__).resolve().parent.parent
LIST = "iot-zinx-station-list"
PAGE_SIZE = 50


def rows(page: Page) -> Locator:
    return page.locator(f"{LIST} .row")


def shown_ids(page: Page) -> list[str]:
    ids: list[str] = rows(page).evaluate_all("rows => rows.map(row => row.dataset.stationId)")
    return ids


def range_text(page: Page) -> Locator:
    return page.locator(f"{LIST} .range")


def filter_button(page: Page, status: str) -> Locator:
    return page.locator(f'{LIST} .filters button[data-status="{status}"]')


def cell(page: Page, station_id: str, port: int) -> Locator:
    return page.locator(f'{LIST} .row[data-station-id="{station_id}"] .cell[data-port="{port}"]')


def call_action(demo: dict[str, Any], action: str, data: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{demo['url']}/api/services/iot_zinx/{action}",
        data=json.dumps(data).encode(),
        headers={"Authorization": f"Bearer {demo['token']}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_large_demo_started(large_demo: dict[str, Any]) -> None:
    """1,000 stations online at Connectivity only, none charging."""
    assert large_demo["ready"]
    assert not large_demo["warnings"], large_demo["warnings"]
    assert len(large_demo["stations"]) == 1000
    if not large_demo["reused"]:
        print(f"\nlarge demo up in {large_demo['startup_seconds_measured']} s")


def test_login_shows_the_compact_list(
    page: Page, large_demo: dict[str, Any], log_in: Callable[..., None]
) -> None:
    """The site's totals and one page of 50 rows, 10 cells each, instead of 1,000 sections."""
    started = time.monotonic()
    log_in(page, large_demo, rows)
    print(f"\nstation list shown {time.monotonic() - started:.1f} s after the login page")
    expect(range_text(page)).to_have_text("1–50 of 1000")
    expect(rows(page)).to_have_count(PAGE_SIZE)
    kinds = page.locator(f"{LIST} .cell").evaluate_all("cells => cells.map(c => c.dataset.kind)")
    # Every simulated charger is plugged in (--autoplug) and none charges yet.
    assert kinds == ["plugged"] * PAGE_SIZE * 10
    assert set(shown_ids(page)) <= set(large_demo["stations"])
    expect(page.get_by_text("Stations online")).to_be_visible()  # the site's totals
    expect(page.locator("hui-section")).to_have_count(2)
    for status, label in (
        ("all", "All 1000"),
        ("offline", "Offline 0"),
        ("charging", "Charging 0"),
        ("fault", "Fault 0"),
    ):
        expect(filter_button(page, status)).to_have_text(label)


def test_pages_cover_every_station_once(page: Page, large_demo: dict[str, Any]) -> None:
    """Twenty pages of 50, each station on exactly one; the pager stops at both ends."""
    previous = page.locator(f"{LIST} .previous")
    following = page.locator(f"{LIST} .next")
    expect(previous).to_be_disabled()
    seen = shown_ids(page)
    for number in range(2, 21):
        following.click()
        last = number * PAGE_SIZE
        expect(range_text(page)).to_have_text(f"{last - PAGE_SIZE + 1}–{last} of 1000")
        expect(rows(page)).to_have_count(PAGE_SIZE)
        seen += shown_ids(page)
    expect(following).to_be_disabled()
    assert sorted(seen) == sorted(large_demo["stations"])
    previous.click()
    expect(range_text(page)).to_have_text("901–950 of 1000")


def test_text_filter(page: Page, large_demo: dict[str, Any]) -> None:
    """Part of a station id, in any case, from the first page; then one whole id."""
    text = page.locator(f"{LIST} input")
    part = "04a22ca"
    wanted = sorted(i for i in large_demo["stations"] if part in i.lower())
    assert 1 < len(wanted) < PAGE_SIZE
    text.fill(part)
    expect(range_text(page)).to_have_text(f"1–{len(wanted)} of {len(wanted)}")
    assert sorted(shown_ids(page)) == wanted
    expect(filter_button(page, "all")).to_have_text(f"All {len(wanted)}")
    text.fill(wanted[0])
    expect(range_text(page)).to_have_text("1–1 of 1")
    assert shown_ids(page) == [wanted[0]]


def test_port_cell_turns_to_charging(
    page: Page, large_demo: dict[str, Any], artifacts: Path, update_screenshots: bool
) -> None:
    """A start on a station's port 3 colours its cell, pushed to the page; hover and tap tell."""
    (station_id,) = shown_ids(page)
    port = cell(page, station_id, 3)
    expect(port).to_have_attribute("data-kind", "plugged")

    call_action(large_demo, "start_charging", {"station_id": station_id, "port": 3})

    expect(port).to_have_attribute("data-kind", "charging")
    expect(port).to_have_attribute("title", re.compile(r"^Port 3: Charging"))
    port.click()
    expect(page.locator(f'{LIST} .row[data-station-id="{station_id}"] .detail')).to_have_text(
        re.compile(r"^Port 3: Charging")
    )

    # The picture: that station among its neighbours, its tapped cell's detail beside it.
    page.locator(f"{LIST} input").fill("04a22ca")
    expect(rows(page)).to_have_count(16)
    page.screenshot(path=artifacts / "station_list.png")
    if update_screenshots:
        shutil.copy(
            artifacts / "station_list.png", REPO / "docs" / "screenshots" / "station_list.png"
        )

    # The status filter: only that station charges.
    page.locator(f"{LIST} input").fill("")
    expect(filter_button(page, "charging")).to_have_text("Charging 1")
    filter_button(page, "charging").click()
    expect(range_text(page)).to_have_text("1–1 of 1")
    assert shown_ids(page) == [station_id]
    filter_button(page, "fault").click()
    expect(page.get_by_text("No station matches the filter.")).to_be_visible()
    filter_button(page, "all").click()
    expect(range_text(page)).to_have_text("1–50 of 1000")


def test_no_script_errors_on_the_large_site(page: Page) -> None:
    """No uncaught error in the page while the large site's tests ran."""
    assert [str(error) for error in page.page_errors()] == []
