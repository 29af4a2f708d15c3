"""Shared by the HTTP API tests: Home Assistant's HTTP server, and calls in the gateway's shape.

Import ``http_component`` into a test module (``from .api_support import http_component``):
it sets up Home Assistant's ``http`` before the integration, which registers its views only
when the HTTP server exists. The clients are the plugin's ``hass_client`` (a Home Assistant
access token of an administrator) and ``hass_client_no_auth``: aiohttp against the test server.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from .conftest import STATION_PHYSICAL_ID

BASE = "/api/iot_zinx/v1"
# 04A228CD in the forms a platform may send: the decimal QR number, 6 and 8 hex digits.
QR_DECIMAL = str(STATION_PHYSICAL_ID & 0xFFFFFF)  # "10627277"
QR_HEX6 = "A228CD"
HEX8 = "04A228CD"


@pytest.fixture(autouse=True)
async def http_component(hass: HomeAssistant) -> None:
    """Home Assistant's HTTP server, set up before the integration (autouse: first)."""
    assert await async_setup_component(hass, "http", {})


async def call(
    client: TestClient, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    """``(HTTP status, JSON body)`` of one request to ``BASE + path``."""
    response = await client.request(method, BASE + path, json=body)
    return response.status, await response.json()
