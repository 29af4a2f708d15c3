"""Fixtures shared by the tests of the Home Assistant layer.

The integration is tested for real: a Home Assistant instance (``hass``), the integration's
own TCP listener on 127.0.0.1 with a port chosen by the OS, and the protocol package's
station simulator connecting to it. Nothing is mocked on the wire.

- ``mock_config_entry``: an entry listening on 127.0.0.1:0 (0 = a free port picked at
  bind time; ``hub.server.port`` tells which). Override ``entry_options`` in a test module to
  change its options.
- ``init_integration``: that entry, set up and loaded, with ``command_timing`` (no command
  spacing, 2 s reply timeout).
- ``simulator``: a ``StationSimulator`` pointed at the loaded entry's port, stopped after the
  test. Add stations (``simulator.add_stations(...)``), then ``await simulator.start()``.
- ``dual_socket``: one dual-socket station (04A228CD) with a charger plugged into port 1,
  connected and registered, its first heartbeat processed.
- ``charging_dual_socket``: that station charging on port 1 (order ``ORDER-0001``, started
  through the action) with one power report of fixed values (``POWER_REPORT``).
- ``entity_registry_enabled_by_default``: every entity enabled, for snapshots.

Helpers: ``wait_for_station`` (until the hub's state of a station satisfies a predicate),
``snapshot_entities`` (every entity of one platform: registry entry and state) and
``device_by_identifier`` (the one registered device with an identifier).

Sockets are enabled for every test (pytest-socket still limits connections to 127.0.0.1).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Generator
import logging
import socket
from typing import Any
from unittest.mock import PropertyMock, patch

from homeassistant.const import CONF_HOST, CONF_PORT, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

# Imported at module level so that Home Assistant's loader finds the custom integration
# (it scans the imported ``custom_components`` package) before the hass fixture starts.
import custom_components.iot_zinx  # noqa: F401
from custom_components.iot_zinx.const import (
    CONF_HEARTBEAT_TIMEOUT,
    CONF_PORT_ENTITIES,
    DOMAIN,
)
from custom_components.iot_zinx.entries import station_entries
from custom_components.iot_zinx.protocol.messages import PowerHeartbeat
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator

STATION_ID = "04A228CD"
STATION_PHYSICAL_ID = 0x04A228CD
ORDER_NUMBER = "ORDER-0001"
ORDER_NO = ORDER_NUMBER.encode("ascii").ljust(16, b"\0")
# A 0x06 power report of port 1 (wire port 0) ten minutes into ORDER-0001.
POWER_REPORT = PowerHeartbeat(
    port=0,
    status=1,
    duration_s=600,
    energy_kwh=0.12,
    start_mode=1,
    power_w=215.3,
    max_power_w=220.0,
    min_power_w=180.0,
    avg_power_w=200.0,
    order_no=ORDER_NO,
    interval_energy_raw=0,
    peak_power_w=220.0,
    voltage_v=221.5,
    current_a=0.972,
    ambient_temp_raw=95,
    port_temp_raw=101,
    timestamp=1_767_225_600,
)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load custom integrations, in every test that has a ``hass``.

    Conditional so the protocol package's tests, which need no Home Assistant, do not start
    one just for this fixture.
    """
    if "recorder_mock" in request.fixturenames:
        # The recorder's database must exist before Home Assistant starts.
        request.getfixturevalue("recorder_db_url")
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots in Home Assistant's format, under tests/snapshots/.

    The plugin declares the same fixture, but which of two plugins' fixtures of one name
    wins (syrupy's plain one or the plugin's) is up to their load order; a conftest fixture
    always wins, as in Home Assistant core's own tests.
    """
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


class _UsageReports(logging.Handler):
    """What Home Assistant's frame helper reports about our code (deprecated calls)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "iot_zinx" in message:
            self.reports.append(message)


@pytest.fixture(scope="session")
def usage_reports() -> Generator[_UsageReports]:
    """Listen to homeassistant.helpers.frame for the whole session.

    The frame helper reports each deprecated call site once per process, so the listener
    must outlive the test that triggers it; the autouse fixture below checks it per test.
    """
    handler = _UsageReports()
    logger = logging.getLogger("homeassistant.helpers.frame")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def no_deprecated_usage(usage_reports: _UsageReports) -> Generator[None]:
    """Fail the test in which Home Assistant reports that iot_zinx uses something deprecated.

    ("Detected that custom integration 'iot_zinx' ... This will stop working in Home
    Assistant ..."). DeprecationWarnings raised from our own modules are errors through
    pytest's filterwarnings (pyproject.toml).
    """
    before = len(usage_reports.reports)
    yield
    assert usage_reports.reports[before:] == []


@pytest.fixture(autouse=True)
def auto_socket_enabled(socket_enabled: None) -> None:
    """Real TCP on 127.0.0.1: the listener and the simulated stations."""


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Options of ``mock_config_entry``; a test module overrides this fixture to change them."""
    return {CONF_HEARTBEAT_TIMEOUT: 420}


@pytest.fixture
def mock_config_entry(entry_options: dict[str, Any]) -> MockConfigEntry:
    """A station server entry on 127.0.0.1 with a port picked by the OS."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="AP3000 server 127.0.0.1:0",
        unique_id="0",
        data={CONF_HOST: "127.0.0.1", CONF_PORT: 0},
        options=entry_options,
        entry_id="01JIOTZINXTESTENTRY0000000",
    )


@pytest.fixture
def command_timing() -> Generator[None]:
    """Commands without the protocol's 0.5 s spacing, and a 2 s reply timeout (not 15 s).

    The spacing protects real stations; the simulator needs none, and tests stay fast.
    """
    with (
        patch("custom_components.iot_zinx.hub.COMMAND_SPACING", 0.0),
        patch("custom_components.iot_zinx.hub.REPLY_TIMEOUT", 2.0),
    ):
        yield


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, command_timing: None
) -> MockConfigEntry:
    """The entry, set up: the listener is bound and waits for stations."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry


@pytest.fixture
async def simulator(init_integration: MockConfigEntry) -> AsyncGenerator[StationSimulator]:
    """A station simulator aimed at the loaded entry's listener; stopped after the test."""
    sim = StationSimulator("127.0.0.1", init_integration.runtime_data.server.port)
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
def station_factory() -> Callable[..., SimulatedStation]:
    """Build a simulated station with test-friendly defaults (``**options`` override them).

    No automatic reconnection (a test that disconnects wants the station to stay away) and
    short command reply waits; heartbeats and power reports keep their real periods so
    nothing arrives unless the test asks for it.
    """

    def build(physical_id: int = STATION_PHYSICAL_ID, **options: Any) -> SimulatedStation:
        options.setdefault("auto_reconnect", False)
        options.setdefault("reply_timeout", 2.0)
        return SimulatedStation(physical_id, **options)

    return build


@pytest.fixture
async def dual_socket(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> SimulatedStation:
    """A dual socket (04A228CD) with a charger in port 1, registered and heartbeat seen."""
    station = simulator.add_station(station_factory(plugged=(0,)))
    await simulator.start()
    await simulator.wait_registered(timeout=5)
    await wait_for_station(hass, STATION_ID, lambda state: state.last_heartbeat is not None)
    return station


@pytest.fixture
async def charging_dual_socket(
    hass: HomeAssistant, dual_socket: SimulatedStation
) -> SimulatedStation:
    """``dual_socket`` charging on port 1 with ``POWER_REPORT`` processed."""
    response = await hass.services.async_call(
        DOMAIN,
        "start_charging",
        {"station_id": STATION_ID, "port": 1, "order_number": ORDER_NUMBER},
        blocking=True,
        return_response=True,
    )
    assert response == {
        "order_number": ORDER_NUMBER,
        "response_code": 0,
        "status_desc": "执行成功",
    }
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].is_charging)
    dual_socket.send(POWER_REPORT)
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].power_w == 215.3)
    return dual_socket


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create every entity enabled, including those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


async def snapshot_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    entry_id: str,
    domain: str,
) -> None:
    """Snapshot the registry entry and the state of every entity of ``domain``.

    Like ``snapshot_platform``, restricted to one platform while all are loaded. A timestamp
    state is checked to parse, then snapshotted as ``<timestamp>`` since it is the wall
    clock of the test run.
    """
    entries = sorted(
        (
            entity_entry
            for entity_entry in er.async_entries_for_config_entry(entity_registry, entry_id)
            if entity_entry.domain == domain
        ),
        key=lambda entity_entry: entity_entry.entity_id,
    )
    assert entries
    for entity_entry in entries:
        assert entity_entry == snapshot(name=f"{entity_entry.entity_id}-entry")
        assert entity_entry.disabled_by is None, "enable every entity for snapshots"
        state = hass.states.get(entity_entry.entity_id)
        assert state is not None, f"no state for {entity_entry.entity_id}"
        if state.attributes.get("device_class") == "timestamp" and state.state not in (
            STATE_UNKNOWN,
            STATE_UNAVAILABLE,
        ):
            assert dt_util.parse_datetime(state.state) is not None
            state = State(state.entity_id, "<timestamp>", state.attributes)
        assert state == snapshot(name=f"{entity_entry.entity_id}-state")


def port_holder() -> socket.socket:
    """A socket listening on a free 127.0.0.1 port, as another program holding it would:
    nothing else can bind the port until it is closed."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


async def set_port_entities(hass: HomeAssistant, entry_id: str, level: str) -> None:
    """Choose *Entities per port* ``level`` in the options flow (which reloads the entry)."""
    result = await hass.config_entries.options.async_init(entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {**result["data_schema"]({}), CONF_PORT_ENTITIES: level}
    )
    await hass.async_block_till_done()


async def wait_for_station(
    hass: HomeAssistant,
    station_id: str,
    predicate: Callable[[Any], bool],
    within: float = 5.0,
) -> None:
    """Wait until the hub's ``StationState`` of ``station_id`` satisfies ``predicate``.

    Polls the hub between event-loop turns: the simulator and the listener share the test's
    loop, so each turn lets frames travel, and the hub has processed what it has seen.
    """
    async with asyncio.timeout(within):
        while True:
            await hass.async_block_till_done()
            for entry in station_entries(hass, loaded=True):
                station = entry.runtime_data.stations.get(station_id)
                if station is not None and predicate(station):
                    return
            await asyncio.sleep(0.01)


def device_by_identifier(hass: HomeAssistant, identifier: tuple[str, str]) -> dr.DeviceEntry | None:
    """The device registered with ``identifier``, or None; two would be a bug of ours.

    Looked up across config entries (the registry keeps identifiers unique per entry only),
    so a test also sees a device that landed in the wrong entry.
    """
    devices = dr.async_get(hass).async_get_devices(identifiers={identifier})
    assert len(devices) <= 1, devices
    return devices[0] if devices else None
