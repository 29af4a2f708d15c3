"""Serve the dashboard strategy ``custom:iot-zinx-ports`` (frontend/iot-zinx-ports.js).

A dashboard that lists every port of every station cannot be a fixed YAML file, since the
stations are the user's; a dashboard *strategy* builds it in the browser from the registries.
The integration serves the strategy's one JavaScript file itself and asks the frontend to load
it on every page, so a dashboard made of ``strategy: {type: custom:iot-zinx-ports}`` works
right after installing the integration, with no HACS frontend resource to add.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant

from .const import DOMAIN

STRATEGY_PATH = Path(__file__).parent / "frontend" / "iot-zinx-ports.js"
STRATEGY_URL = f"/{DOMAIN}/frontend/iot-zinx-ports.js"


def _strategy_version() -> str:
    """A digest of the file, so browsers fetch it again once it changed (it is cached)."""
    return hashlib.sha256(STRATEGY_PATH.read_bytes()).hexdigest()[:12]


async def async_register_frontend(hass: HomeAssistant) -> None:
    """Serve the strategy and load it in the frontend; call once, from ``async_setup``.

    Does nothing without the frontend (``frontend`` is in every default installation, but not
    in a minimal configuration or in tests).
    """
    if hass.http is None or "frontend" not in hass.config.components:
        return
    version = await hass.async_add_executor_job(_strategy_version)
    await hass.http.async_register_static_paths(
        [StaticPathConfig(STRATEGY_URL, str(STRATEGY_PATH), cache_headers=True)]
    )
    add_extra_js_url(hass, f"{STRATEGY_URL}?v={version}")
