"""Setting up, unloading and removing an entry; the repair issue; removing a station."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
from pathlib import Path
import re
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    EVENT_HOMEASSISTANT_STARTED,
    EVENT_HOMEASSISTANT_STOP,
    STATE_OFF,
    STATE_UNAVAILABLE,
)
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.typing import WebSocketGenerator
import yaml

import custom_components.iot_zinx
from custom_components.iot_zinx.const import (
    DOMAIN,
    EVENT_IOT_ZINX,
)
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator
from custom_components.iot_zinx.signals import signal_new_station, signal_station_update

from .conftest import STATION_ID, device_by_identifier, port_holder, wait_for_station

CONNECTIVITY = "binary_sensor.ap3000_04a228cd_connectivity"
PORT_1_STATUS = "sensor.ap3000_04a228cd_port_1_status"


async def test_setup_and_unload(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """A loaded entry serves stations; unloading closes the listener and the connections."""
    assert init_integration.state is ConfigEntryState.LOADED
    port = init_integration.runtime_data.server.port
    assert hass.states.get(CONNECTIVITY).state == "on"

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    await dual_socket.wait_for(lambda: not dual_socket.is_connected, timeout=5)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    # The actions stay registered: they belong to the integration, not to an entry.
    assert hass.services.has_service(DOMAIN, "start_charging")


async def test_cannot_bind_retries_with_repair_issue(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, command_timing: None
) -> None:
    """A port in use: setup is retried and a repair issue says why, until the port frees."""
    blocker = port_holder()
    port = int(blocker.getsockname()[1])
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=str(port), data={CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    entry.add_to_hass(hass)
    try:
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.SETUP_RETRY
        assert entry.error_reason_translation_key == "cannot_bind"
        issue = issue_registry.async_get_issue(DOMAIN, f"cannot_bind_{entry.entry_id}")
        assert issue is not None
        assert issue.translation_key == "cannot_bind"
        assert issue.severity is ir.IssueSeverity.ERROR
        assert not issue.is_fixable
        assert issue.translation_placeholders is not None
        assert issue.translation_placeholders["host"] == "127.0.0.1"
        assert issue.translation_placeholders["port"] == str(port)
        assert "address already in use" in issue.translation_placeholders["error"].lower()
    finally:
        blocker.close()

    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(DOMAIN, f"cannot_bind_{entry.entry_id}") is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_stations_refused_until_home_assistant_has_started(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    command_timing: None,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """Set up while Home Assistant starts: the port is taken, stations wait until it started.

    Automations (the webhook forwarding among them) are armed only when Home Assistant has
    started: a settlement a station resent earlier would fire its events to nobody.
    """
    hass.set_state(CoreState.starting)
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    port = mock_config_entry.runtime_data.server.port
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)

    events = async_capture_events(hass, EVENT_IOT_ZINX)
    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    async with StationSimulator("127.0.0.1", port) as simulator:
        simulator.add_station(station_factory())
        await simulator.start()
        await simulator.wait_registered(timeout=5)
        await wait_for_station(hass, STATION_ID, lambda state: state.online)
    assert [event.data["event_type"] for event in events][:2] == [
        "device_online",
        "device_register",
    ]
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_unloaded_while_starting_never_listens(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, command_timing: None
) -> None:
    """An entry unloaded before Home Assistant has started does not open its port then."""
    hass.set_state(CoreState.starting)
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    port = mock_config_entry.runtime_data.server.port
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_remove_entry_forgets_storage(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    dual_socket: SimulatedStation,
    hass_storage: dict[str, Any],
) -> None:
    """Deleting the entry deletes its persisted stations, orders and energy."""
    key = f"{DOMAIN}.{init_integration.entry_id}"
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert STATION_ID in hass_storage[key]["data"]["stations"]

    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_home_assistant_stop_takes_stations_offline(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """On shutdown the listener closes and every station is shown offline."""
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    assert hass.states.get(PORT_1_STATUS).state == STATE_UNAVAILABLE
    assert not init_integration.runtime_data.server.running


async def test_remove_station_device(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
    dual_socket: SimulatedStation,
) -> None:
    """An online station cannot be removed; an offline one can, and comes back fresh."""
    entity_registry = er.async_get(hass)
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert device is not None

    response = await client.remove_device(device.id)
    assert not response["success"]
    assert device_registry.async_get(device.id) is not None

    await dual_socket.disconnect()
    await wait_for_station(hass, STATION_ID, lambda station: not station.online)
    response = await client.remove_device(device.id)
    assert response["success"]
    await hass.async_block_till_done()
    assert device_registry.async_get(device.id) is None
    assert STATION_ID not in init_integration.runtime_data.stations
    assert hass.states.get(CONNECTIVITY) is None
    assert not er.async_entries_for_config_entry(entity_registry, init_integration.entry_id)

    # The same station connecting again is a new device with all its entities.
    await dual_socket.reconnect()
    await wait_for_station(hass, STATION_ID, lambda station: station.last_heartbeat is not None)
    assert device_by_identifier(hass, (DOMAIN, STATION_ID)) is not None
    assert hass.states.get(CONNECTIVITY).state == "on"
    assert hass.states.get(PORT_1_STATUS).state == "plugged"


async def test_remove_unknown_device(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """A device the hub does not know (left over) can always be removed."""
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    device = device_registry.async_get_or_create(
        config_entry_id=init_integration.entry_id, identifiers={(DOMAIN, "0400FFFF")}
    )
    response = await client.remove_device(device.id)
    assert response["success"]
    assert device_registry.async_get(device.id) is None


async def test_restart_keeps_known_stations(
    hass: HomeAssistant, init_integration: MockConfigEntry, dual_socket: SimulatedStation
) -> None:
    """After a reload the hub restores its stations: their entities exist, offline."""
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    assert hass.states.get(PORT_1_STATUS).state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.ap3000_04a228cd_port_2_status").state == STATE_UNAVAILABLE


async def test_repeated_signals_add_nothing_twice(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    dual_socket: SimulatedStation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A second new-station signal, or an update of a vanished station, is harmless."""
    entry_id = init_integration.entry_id
    count = len(er.async_entries_for_config_entry(entity_registry, entry_id))
    async_dispatcher_send(hass, signal_new_station(entry_id), STATION_ID)
    hub = init_integration.runtime_data
    station = hub.stations.pop(STATION_ID)
    async_dispatcher_send(hass, signal_station_update(entry_id, STATION_ID))
    hub.stations[STATION_ID] = station
    await hass.async_block_till_done()
    assert len(er.async_entries_for_config_entry(entity_registry, entry_id)) == count
    assert "already exists" not in caplog.text


def _keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    """Every leaf of a translation tree as a slash-separated path."""
    paths: set[str] = set()
    for key, value in tree.items():
        path = f"{prefix}/{key}"
        paths |= _keys(value, path) if isinstance(value, dict) else {path}
    return paths


def test_translations_complete() -> None:
    """en.json is strings.json; zh-Hans has every key; every key the code uses exists.

    Custom integrations get no translation check from Home Assistant's test harness, so a
    missing key would only show up as a raw key in the UI.
    """
    from custom_components.iot_zinx import (
        binary_sensor,
        button,
        sensor,
        services,
        station_actions,
        switch,
    )

    folder = Path(custom_components.iot_zinx.__file__).parent
    strings = json.loads((folder / "strings.json").read_text(encoding="utf-8"))
    english = json.loads((folder / "translations" / "en.json").read_text(encoding="utf-8"))
    chinese = json.loads((folder / "translations" / "zh-Hans.json").read_text(encoding="utf-8"))
    assert english == strings
    assert _keys(chinese) == _keys(strings)

    descriptions = {
        "sensor": (*sensor.STATION_SENSORS, *sensor.PORT_SENSORS),
        "binary_sensor": (
            *binary_sensor.STATION_BINARY_SENSORS,
            *binary_sensor.PORT_BINARY_SENSORS,
        ),
        "switch": (switch.CHARGING_SWITCH,),
        "button": button.BUTTONS,
    }
    icons = json.loads((folder / "icons.json").read_text(encoding="utf-8"))
    for platform, items in descriptions.items():
        for description in items:
            if description.translation_key is None:
                assert description.device_class is not None, description.key
                continue
            assert description.translation_key in strings["entity"][platform]
            # A device class brings its own icon; the others need one.
            if description.device_class is None:
                assert description.translation_key in icons["entity"][platform]
    status_states = strings["entity"]["sensor"]["port_status"]["state"]
    assert set(status_states) == set(sensor.PORT_SENSORS[0].options or [])

    sources = "".join(
        (folder / name).read_text(encoding="utf-8")
        for name in ("helpers.py", "services.py", "__init__.py", "station_actions.py")
    )
    raised = set(re.findall(r'(?:translation_key=|_invalid\()"([a-z_]+)"', sources))
    assert raised == {
        "settings_refused",
        "setting_unsupported",
        "settings_not_confirmed",
        "host_only",
        "not_for_host",
        "value_out_of_range",
        "no_settings",
        "invalid_text",
        "invalid_card_key",
        "confirmation_required",
        "invalid_server_address",
        "station_offline",
        "command_timeout",
        "station_refused",
        "no_active_order",
        "command_failed",
        "unknown_station",
        "invalid_port",
        "missing_duration",
        "missing_energy",
    }
    assert raised <= set(strings["exceptions"])
    assert "cannot_bind" in strings["exceptions"]
    assert "cannot_bind" in strings["issues"]

    actions = yaml.safe_load((folder / "services.yaml").read_text(encoding="utf-8"))
    assert set(actions) == set(strings["services"]) == set(icons["services"])
    # Other modules (forwarding) may register actions of their own in the same files.
    assert {name for name, *_ in services._SERVICES} <= set(actions)
    assert {name for name, *_ in station_actions.STATION_ACTIONS} <= set(actions)
    for name, action in actions.items():
        assert set(action["fields"]) == set(strings["services"][name]["fields"])
        for field in action["fields"].values():
            select = field["selector"].get("select")
            if select is not None:
                options = strings["selector"][select["translation_key"]]["options"]
                assert set(select["options"]) == set(options)

    triggers = {
        "device_online",
        "device_register",
        "device_heartbeat",
        "port_heartbeat",
        "charging_start",
        "charging_failed",
        "power_heartbeat",
        "charging_power",
        "charging_end",
        "settlement",
        "device_offline",
        "card_swipe",
        "device_alarm",
        "host_heartbeat",
    }
    assert triggers <= set(strings["device_automation"]["trigger_type"])
