"""Diagnostics of a config entry: redacted options, stations, server counters."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.iot_zinx.const import (
    CONF_CARD_ALLOW_LIST,
    CONF_CARD_POLICY,
    CONF_HEARTBEAT_TIMEOUT,
)
from custom_components.iot_zinx.protocol.simulator import SimulatedStation

from .conftest import STATION_ID


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Options with a card allow-list, which must not leave the machine."""
    return {
        CONF_HEARTBEAT_TIMEOUT: 420,
        CONF_CARD_POLICY: "allow_list",
        CONF_CARD_ALLOW_LIST: ["0A1B2C3D"],
    }


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    charging_dual_socket: SimulatedStation,
    snapshot: SnapshotAssertion,
) -> None:
    """The summary of a charging dual socket; ICCID and cards redacted."""
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    server = diagnostics["hub"]["server"]
    station = diagnostics["hub"]["stations"][STATION_ID]
    # Values of this run (the OS's port, the station's source port, the clock).
    assert server["port"] == init_integration.runtime_data.server.port
    assert station["remote_addr"].startswith("127.0.0.1:")
    assert station["last_heartbeat"] is not None
    server["port"] = station["remote_addr"] = station["last_heartbeat"] = "<this run>"
    assert diagnostics == snapshot
    assert station["iccid"] == "**REDACTED**"
    assert diagnostics["entry"]["options"][CONF_CARD_ALLOW_LIST] == "**REDACTED**"


async def test_diagnostics_show_the_last_settings_read(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    dual_socket: SimulatedStation,
) -> None:
    """What set_settings last read back, with its time; card keys set meanwhile never show."""
    await hass.services.async_call(
        "iot_zinx",
        "set_card_keys",
        {
            "station_id": STATION_ID,
            "sector": 3,
            "user_key": "a1b2c3d4e5f6",
            "new_card_key": "0f1e2d3c4b5a",
        },
        blocking=True,
    )
    await hass.services.async_call(
        "iot_zinx",
        "set_settings",
        {"station_id": STATION_ID, "over_voltage_v": 255},
        blocking=True,
        return_response=True,
    )
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    read = diagnostics["hub"]["settings"][STATION_ID]
    assert read["values"] == {
        "max_duration_s": 36000,
        "overload_power_w": 2000.0,
        "over_voltage_v": 255.0,
        "under_voltage_v": 100.0,
    }
    assert read["read_at"].endswith("+00:00")
    text = str(diagnostics).lower()
    assert "a1b2c3d4e5f6" not in text
    assert "0f1e2d3c4b5a" not in text
    assert "sector" not in text
