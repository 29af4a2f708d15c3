"""Serve the dashboard strategy ``custom:iot-zinx-ports`` and its station list card.

A dashboard that lists every port of every station cannot be a fixed YAML file, since the
stations are the user's; a dashboard *strategy* builds it in the browser from the registries
(frontend/iot-zinx-ports.js). On a large site it shows the card ``custom:iot-zinx-station-list``
(frontend/iot-zinx-station-list.js). The integration serves both files itself and asks the
frontend to load them on every page, so a dashboard made of ``strategy: {type:
custom:iot-zinx-ports}`` works right after installing the integration, with no HACS frontend
resource to add.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant

from .const import DOMAIN

FRONTEND_PATH = Path(__file__).parent / "frontend"
FRONTEND_URL = f"/{DOMAIN}/frontend"
MODULES = ("iot-zinx-ports.js", "iot-zinx-station-list.js")
STRATEGY_URL = f"{FRONTEND_URL}/iot-zinx-ports.js"
STATION_LIST_URL = f"{FRONTEND_URL}/iot-zinx-station-list.js"


def _module_versions() -> dict[str, str]:
    """A digest of each file, so browsers fetch it again once it changed (it is cached)."""
    return {
        name: hashlib.sha256((FRONTEND_PATH / name).read_bytes()).hexdigest()[:12]
        for name in MODULES
    }


async def async_register_frontend(hass: HomeAssistant) -> None:
    """Serve the files and load them in the frontend; call once, from ``async_setup``.

    Does nothing without the frontend (``frontend`` is in every default installation, but not
    in a minimal configuration or in tests).
    """
    if hass.http is None or "frontend" not in hass.config.components:
        return
    versions = await hass.async_add_executor_job(_module_versions)
    await hass.http.async_register_static_paths(
        [StaticPathConfig(FRONTEND_URL, str(FRONTEND_PATH), cache_headers=True)]
    )
    for name, version in versions.items():
        add_extra_js_url(hass, f"{FRONTEND_URL}/{name}?v={version}")
