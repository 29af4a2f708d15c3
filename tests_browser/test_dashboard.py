"""The demo in a real browser: log in, see every port, start charging from the dashboard.

Drives headless Chromium through Home Assistant's frontend (shadow DOM everywhere: Playwright's
text and role selectors pierce open shadow roots; tile cards are told apart by the entity of
their configuration). The tests run in order and share one demo and one browser page.
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
TRANSLATIONS = REPO / "custom_components" / "iot_zinx" / "translations" / "en.json"
BRAND = REPO / "custom_components" / "iot_zinx" / "brand"

# Every element's text, shadow roots included, in document order, whitespace collapsed.
DEEP_TEXT = """element => {
  const walk = (node) => {
    let text = "";
    if (node.shadowRoot) text += walk(node.shadowRoot);
    for (const child of node.childNodes) {
      text += child.nodeType === Node.TEXT_NODE ? child.textContent + " " : walk(child);
    }
    return text;
  };
  return walk(element).replace(/\\s+/g, " ").trim();
}"""


def status_labels() -> dict[str, str]:
    """The English names of the port status states (sensor.port_status)."""
    translations = json.loads(TRANSLATIONS.read_text())
    states: dict[str, str] = translations["entity"]["sensor"]["port_status"]["state"]
    return states


def rest_state(demo: dict[str, Any], entity_id: str) -> str:
    request = urllib.request.Request(
        f"{demo['url']}/api/states/{entity_id}",
        headers={"Authorization": f"Bearer {demo['token']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        state: str = json.load(response)["state"]
    return state


def wait_rest_state(demo: dict[str, Any], entity_id: str, wanted: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (state := rest_state(demo, entity_id)) != wanted and time.monotonic() < deadline:
        time.sleep(0.25)
    return state


def tile(page: Page, entity_id: str) -> Locator:
    """The tile card showing ``entity_id``."""
    entities = page.locator("hui-tile-card").evaluate_all(
        "cards => cards.map(card => card._config && card._config.entity)"
    )
    assert entity_id in entities, f"no tile shows {entity_id}; tiles: {entities}"
    return page.locator("hui-tile-card").nth(entities.index(entity_id))


def deep_text(locator: Locator) -> str:
    text: str = locator.evaluate(DEEP_TEXT)
    return text


def station_section(page: Page, name: str) -> Locator:
    return page.locator("hui-section").filter(has=page.get_by_text(name, exact=True))


def port_heading(section: Locator, number: int) -> Locator:
    """The "Port N" heading card (with the power badge) of a station's section."""
    headings = section.locator("hui-heading-card").evaluate_all(
        "cards => cards.map(card => card._config && card._config.heading)"
    )
    return section.locator("hui-heading-card").nth(headings.index(f"Port {number}"))


def test_demo_started(demo: dict[str, Any]) -> None:
    """scripts/develop --background brought up every simulated port and started charging."""
    assert demo["ready"]
    assert not demo["warnings"], demo["warnings"]
    if demo["reused"]:
        return
    assert len(demo["stations"]) == 3
    assert len(demo["ports"]) == 6
    assert sum(port["charging_started"] for port in demo["ports"]) == 3
    print(f"\ndemo up in {demo['startup_seconds_measured']} s (scripts/develop included)")


def test_login_opens_the_charging_dashboard(
    page: Page, demo: dict[str, Any], log_in: Callable[..., None]
) -> None:
    """The owner logs in on the login page and lands on the Charging dashboard (the default)."""
    log_in(page, demo, lambda page: page.get_by_text("Energy today"))
    expect(page.get_by_text("Energy today").first).to_be_visible()
    assert page.url.endswith("/iot-zinx/ports")


def test_every_station_and_port_is_shown(page: Page, demo: dict[str, Any]) -> None:
    """One section per station; per port its status, charging switch, power and energy."""
    labels = status_labels()
    assert page.locator("hui-section").count() == len(demo["stations"])
    for station_id in demo["stations"]:
        section = station_section(page, f"AP3000 {station_id}")
        expect(section).to_have_count(1)
        section_text = deep_text(section)
        for port in (p for p in demo["ports"] if p["station_id"] == station_id):
            entities = port["entities"]
            assert f"Port {port['port']} today" in section_text
            status = rest_state(demo, entities["sensor.status"])
            assert deep_text(tile(page, entities["sensor.status"])) == f"Status {labels[status]}"
            switch = rest_state(demo, entities["switch.charging"])
            expect(tile(page, entities["switch.charging"]).get_by_role("switch")).to_have_attribute(
                "aria-checked", "true" if switch == "on" else "false"
            )
            energy = deep_text(tile(page, entities["sensor.session_energy"]))
            assert energy.startswith("Session energy"), energy
            # The power is a badge beside "Port N": "Port 1 226.6 W".
            power = port_heading(section, port["port"])
            if status == "charging":
                assert re.search(r"Session energy \d+\.\d\d kWh", energy), energy
                # Newer frontends put a narrow no-break space between the number and its unit.
                expect(power).to_contain_text(re.compile(r"\d+(\.\d)?\s?W"), timeout=30_000)
            else:
                expect(power).to_contain_text(f"Port {port['port']}")


def test_switch_starts_charging(
    page: Page, demo: dict[str, Any], artifacts: Path, update_screenshots: bool
) -> None:
    """Pressing an idle port's switch starts an order on the (simulated) station."""
    idle = next(
        (p for p in demo["ports"] if rest_state(demo, p["entities"]["sensor.status"]) == "plugged"),
        None,
    )
    assert idle is not None, "no port has a charger plugged in and idle"
    entities = idle["entities"]
    control = tile(page, entities["switch.charging"]).get_by_role("switch")
    expect(control).to_have_attribute("aria-checked", "false")

    control.click()

    # The switch follows what the station reports (the reply, then its status), not the click.
    assert wait_rest_state(demo, entities["switch.charging"], "on", 20) == "on"
    assert wait_rest_state(demo, entities["sensor.status"], "charging", 20) == "charging"
    expect(control).to_have_attribute("aria-checked", "true")
    expect(tile(page, entities["sensor.status"]).get_by_text("Charging")).to_be_visible()
    page.wait_for_timeout(500)  # let the toggle's animation end before the picture

    page.screenshot(path=artifacts / "dashboard.png", full_page=True)
    if update_screenshots:
        target = REPO / "docs" / "screenshots" / "dashboard.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(artifacts / "dashboard.png", target)


def test_energy_view(page: Page, artifacts: Path) -> None:
    """The second view charts the energy per day of every port.

    (Empty in a new demo: daily bars come from the hourly statistics, compiled on the hour.)
    """
    page.get_by_role("tab", name="Energy").click()
    page.wait_for_url(re.compile(r"/iot-zinx/energy$"))
    expect(page.locator("hui-statistics-graph-card")).to_have_count(1)
    expect(page.get_by_text("Energy per day, by port")).to_be_visible()
    page.screenshot(path=artifacts / "energy.png")


# What the station list's cells show for a port status sensor's state (station_list.py).
CELL_KINDS = {"charging": "charging", "float_charging": "charging", "plugged": "plugged"}
CELL_KINDS |= {"full": "plugged", "idle": "idle"}

# A second dashboard whose strategy shows the compact station list however few stations.
CREATE_LIST_DASHBOARD = """async () => {
  const hass = document.querySelector("home-assistant").hass;
  const boards = await hass.callWS({ type: "lovelace/dashboards/list" });
  if (!boards.some((board) => board.url_path === "iot-zinx-list")) {
    await hass.callWS({
      type: "lovelace/dashboards/create", url_path: "iot-zinx-list", title: "Station list",
      mode: "storage", show_in_sidebar: false, require_admin: false,
    });
  }
  await hass.callWS({
    type: "lovelace/config/save", url_path: "iot-zinx-list",
    config: { strategy: { type: "custom:iot-zinx-ports", compact_above: 0 } },
  });
}"""


def test_compact_station_list(page: Page, demo: dict[str, Any]) -> None:
    """With compact_above 0 the strategy shows the station list: a row per station, a cell per
    port, coloured and titled by the port's status (the integration's own wording)."""
    labels = status_labels()
    page.evaluate(CREATE_LIST_DASHBOARD)
    page.goto(f"{demo['url']}/iot-zinx-list/ports")
    rows = page.locator("iot-zinx-station-list .row")
    expect(rows).to_have_count(len(demo["stations"]))
    expect(page.locator("iot-zinx-station-list .range")).to_have_text(
        f"1–{len(demo['stations'])} of {len(demo['stations'])}"
    )
    ids = rows.evaluate_all("rows => rows.map(row => row.dataset.stationId)")
    assert sorted(ids) == sorted(demo["stations"])
    for port in demo["ports"]:
        status = rest_state(demo, port["entities"]["sensor.status"])
        cell = page.locator(
            f'iot-zinx-station-list .row[data-station-id="{port["station_id"]}"] '
            f'.cell[data-port="{port["port"]}"]'
        )
        expect(cell).to_have_attribute("data-kind", CELL_KINDS.get(status, "fault"))
        expect(cell).to_have_attribute(
            "title", re.compile(rf"^Port {port['port']}: {re.escape(labels[status])}")
        )


def test_integrations_page_shows_our_icon(
    page: Page, demo: dict[str, Any], artifacts: Path
) -> None:
    """The integrations page loads our brand icon, served from custom_components/iot_zinx/brand/.

    Since Home Assistant 2026.3 a custom integration ships its own brand images; the page asks
    for them at /api/brands/integration/iot_zinx/<image> (icon.png, or a dark_/@2x variant).
    """
    with page.expect_response(
        lambda response: "/api/brands/integration/iot_zinx/" in response.url
    ) as brand:
        page.goto(f"{demo['url']}/config/integrations/dashboard")
    response = brand.value
    image = response.url.split("/api/brands/integration/iot_zinx/", 1)[1].split("?", 1)[0]
    assert response.status == 200, response.url
    assert response.headers["content-type"] == "image/png"
    assert response.body() == (BRAND / image).read_bytes(), image
    expect(page.get_by_text("IoT-Zinx AP3000 charging stations").first).to_be_visible()
    page.screenshot(path=artifacts / "integrations.png")


def test_no_script_errors(page: Page) -> None:
    """No uncaught error in the page while all of the above ran."""
    assert [str(error) for error in page.page_errors()] == []
