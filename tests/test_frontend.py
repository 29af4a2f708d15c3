"""The dashboard strategy (custom:iot-zinx-ports): served, loaded, and its port map."""

from __future__ import annotations

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator, WebSocketGenerator

from custom_components.iot_zinx.const import DOMAIN
from custom_components.iot_zinx.entity_levels import (
    EntityKey,
    parse_unique_id,
    port_unique_id,
    station_unique_id,
)
from custom_components.iot_zinx.frontend import (
    STATION_LIST_URL,
    STRATEGY_URL,
    async_register_frontend,
)
from custom_components.iot_zinx.protocol.simulator import SimulatedStation

from .conftest import STATION_ID, device_by_identifier


async def test_strategy_is_served_and_loaded(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """Every frontend page imports the strategy and the station list card, by URLs that change
    with their content."""
    assert await async_setup_component(hass, "frontend", {})
    await async_register_frontend(hass)

    client = await hass_client()
    for base, element in (
        (STRATEGY_URL, "ll-strategy-dashboard-iot-zinx-ports"),
        (STATION_LIST_URL, "iot-zinx-station-list"),
    ):
        (url,) = [u for u in hass.data[DATA_EXTRA_MODULE_URL].urls if u.startswith(base)]
        assert url.startswith(f"{base}?v=")
        response = await client.get(url)
        assert response.status == 200
        assert f'customElements.define("{element}"' in await response.text()
    # Only the two files: the folder is served, not listed.
    assert (await client.get("/iot_zinx/frontend/")).status in (403, 404)


async def test_nothing_without_the_frontend(hass: HomeAssistant) -> None:
    """A configuration without the frontend (or without HTTP) gets no error."""
    await async_register_frontend(hass)
    assert DATA_EXTRA_MODULE_URL not in hass.data


async def test_port_map(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    init_integration: MockConfigEntry,
    dual_socket: SimulatedStation,
) -> None:
    """The strategy's port map: every station's and port's entities by description key."""
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "iot_zinx/port_map"})
    response = await client.receive_json()
    assert response["success"]
    (station,) = response["result"]["stations"]
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert device is not None
    assert (station["device_id"], station["station_id"], station["name"]) == (
        device.id,
        STATION_ID,
        "AP3000 04A228CD",
    )
    assert station["station"]["binary_sensor.connectivity"] == (
        "binary_sensor.ap3000_04a228cd_connectivity"
    )
    assert station["station"]["sensor.voltage"] == "sensor.ap3000_04a228cd_voltage"
    assert [port["number"] for port in station["ports"]] == [1, 2]
    port_2 = station["ports"][1]["entities"]
    assert port_2["sensor.status"] == "sensor.ap3000_04a228cd_port_2_status"
    assert port_2["switch.charging"] == "switch.ap3000_04a228cd_port_2_charging"
    # Disabled entities (current, by default) are left out, as in the frontend's own list.
    assert "sensor.current" not in port_2


def test_unique_ids_round_trip() -> None:
    """entity_levels owns the unique-id contract: what it builds, it reads back."""
    assert parse_unique_id(station_unique_id("04A228CD", "voltage")) == EntityKey(
        "04A228CD", None, "voltage"
    )
    assert parse_unique_id(port_unique_id("04A228CD", 12, "lifetime_energy")) == EntityKey(
        "04A228CD", 12, "lifetime_energy"
    )
    assert parse_unique_id("forwarding_1a2b_delivered") is None
