"""The dashboard strategy (custom:iot-zinx-ports) is served and loaded by the frontend."""

from __future__ import annotations

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.iot_zinx.frontend import STRATEGY_URL, async_register_frontend


async def test_strategy_is_served_and_loaded(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """Every frontend page imports the script, whose URL changes with its content."""
    assert await async_setup_component(hass, "frontend", {})
    await async_register_frontend(hass)

    (url,) = [u for u in hass.data[DATA_EXTRA_MODULE_URL].urls if u.startswith(STRATEGY_URL)]
    assert url.startswith(f"{STRATEGY_URL}?v=")
    client = await hass_client()
    response = await client.get(url)
    assert response.status == 200
    assert 'customElements.define("ll-strategy-dashboard-iot-zinx-ports"' in await response.text()


async def test_nothing_without_the_frontend(hass: HomeAssistant) -> None:
    """A configuration without the frontend (or without HTTP) gets no error."""
    await async_register_frontend(hass)
    assert DATA_EXTRA_MODULE_URL not in hass.data
