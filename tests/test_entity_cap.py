"""Home Assistant's cap of enabled entities per entry: later stations' ports start disabled.

The cap is lowered to ``CAP`` on the module attribute Home Assistant reads as it adds each
entity. A 2-port station at the default level has 9 enabled entities of its own and 5 per port
(status, power, session and lifetime energy, the charging switch): 19 in all. Ports start
enabled while the entry stays within ``CAP`` less the reserve (a tenth): 108 here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_platform, entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_zinx import entity_cap as entity_cap_module, repairs as repairs_module
from custom_components.iot_zinx.binary_sensor import PORT_BINARY_SENSORS
from custom_components.iot_zinx.const import CONF_PORT_ENTITIES, DOMAIN, ENABLED_PORT_ENTITIES
from custom_components.iot_zinx.entity_cap import entity_cap, port_entity_limit
from custom_components.iot_zinx.entity_levels import parse_unique_id
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator
from custom_components.iot_zinx.sensor import PORT_SENSORS
from custom_components.iot_zinx.switch import CHARGING_SWITCH

CAP = 120
STATIONS = [f"{0x04A228CD + offset:08X}" for offset in range(7)]
# Stations 1-5 end at 95 enabled entities; the 6th's ports would bring 104 to 114 (> 108), and
# its own 9 and the 7th's fit in the reserve: 113.
WITH_PORTS = STATIONS[:5]
PORTS_DISABLED = STATIONS[5:]
# (domain, key) of the port entities enabled by default at the default level.
ENABLED_PORT_KEYS = {
    ("sensor", "status"),
    ("sensor", "power"),
    ("sensor", "session_energy"),
    ("sensor", "lifetime_energy"),
    ("switch", "charging"),
}


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Home Assistant's cap lowered to ``CAP``, where Home Assistant reads it."""
    monkeypatch.setattr(entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", CAP)


async def connect_one_by_one(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """Each station registered and its entities added before the next connects."""
    for station_id in STATIONS:
        station = simulator.add_station(station_factory(int(station_id, 16)))
        await station.connect("127.0.0.1", entry.runtime_data.server.port)
        async with asyncio.timeout(5):
            await station.registered.wait()
        await hass.async_block_till_done()


def port_entries(
    registry: er.EntityRegistry, entry_id: str, station_id: str
) -> dict[tuple[str, str], list[er.RegistryEntryDisabler | None]]:
    """(domain, key) -> disabled_by of the station's port entities, port by port."""
    found: dict[tuple[str, str], list[er.RegistryEntryDisabler | None]] = {}
    for entity in sorted(
        er.async_entries_for_config_entry(registry, entry_id), key=lambda e: e.unique_id
    ):
        parsed = parse_unique_id(entity.unique_id)
        if parsed is None or parsed.station_id != station_id or parsed.port is None:
            continue
        found.setdefault((entity.domain, parsed.key), []).append(entity.disabled_by)
    return found


def connectivity_enabled(registry: er.EntityRegistry, station_id: str) -> bool:
    """Whether the station's Connectivity is in the registry, enabled."""
    entity_id = registry.async_get_entity_id("binary_sensor", DOMAIN, f"{station_id}_connectivity")
    entry = None if entity_id is None else registry.async_get(entity_id)
    return entry is not None and entry.disabled_by is None


def assert_fleet(registry: er.EntityRegistry, entry_id: str) -> None:
    for station_id in STATIONS:
        assert connectivity_enabled(registry, station_id)
        ports = port_entries(registry, entry_id, station_id)
        expected = None if station_id in WITH_PORTS else er.RegistryEntryDisabler.INTEGRATION
        assert {key: ports[key] for key in ENABLED_PORT_KEYS} == {
            key: [expected, expected] for key in ENABLED_PORT_KEYS
        }, station_id
        # Those disabled by default stay so for every station.
        assert all(
            disabled == [er.RegistryEntryDisabler.INTEGRATION] * 2
            for key, disabled in ports.items()
            if key not in ENABLED_PORT_KEYS
        )


@pytest.mark.usefixtures("small_cap")
async def test_later_stations_keep_their_own_entities_and_get_disabled_ports(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every station has its Connectivity; past the limit, new port entities start disabled.

    Home Assistant drops nothing (no warning of its cap), the repair issue names the stations,
    and after a reload the registry keeps each entity's state and the issue still names them.
    """
    entry_id = init_integration.entry_id
    registry = er.async_get(hass)
    assert port_entity_limit() == 108
    await connect_one_by_one(hass, init_integration, simulator, station_factory)

    assert_fleet(registry, entry_id)
    assert registry.entities.get_enabled_count_for_config_entry_id(entry_id) == 113
    assert "Reached the maximum" not in caplog.text
    # One warning, like Home Assistant's; the next station's at debug level.
    assert [
        record.getMessage()[:39]
        for record in caplog.records
        if record.levelno == logging.WARNING and "created disabled" in record.getMessage()
    ] == ["Station 04A228D2: its port entities are"]
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"entity_cap_{entry_id}")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_key == "entity_cap"
    assert issue.translation_placeholders == {
        "cap": "120",
        "title": init_integration.title,
        "count": "2",
        "stations": ", ".join(PORTS_DISABLED),
    }

    await hass.config_entries.async_reload(entry_id)
    await hass.async_block_till_done()
    assert_fleet(registry, entry_id)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"entity_cap_{entry_id}")
    assert issue is not None
    assert issue.translation_placeholders["stations"] == ", ".join(PORTS_DISABLED)


async def test_below_the_limit_every_port_entity_is_enabled_and_no_issue(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """With Home Assistant's own cap the same fleet gets every port entity, and no issue."""
    await connect_one_by_one(hass, init_integration, simulator, station_factory)
    registry = er.async_get(hass)
    for station_id in STATIONS:
        ports = port_entries(registry, init_integration.entry_id, station_id)
        assert all(ports[key] == [None, None] for key in ENABLED_PORT_KEYS)
    issue_id = f"entity_cap_{init_integration.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


def test_the_cap_is_home_assistants(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read from Home Assistant at each use; 10,000 where a release lacks the constant."""
    assert entity_cap() == 10_000
    assert port_entity_limit() == 9_000
    monkeypatch.setattr(entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", 20_000)
    assert entity_cap() == 20_000
    monkeypatch.delattr(entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY")
    assert entity_cap() == entity_cap_module.DEFAULT_ENTITY_CAP == 10_000


@pytest.fixture
def one_station_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The repair issue names one station and counts the others."""
    monkeypatch.setattr(repairs_module, "STATIONS_NAMED", 1)


@pytest.mark.usefixtures("small_cap", "one_station_named")
async def test_raising_the_level_decides_each_station_for_all_its_platforms(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """From *None* to *All*: every stored station's port entities are new at once.

    Each platform then adds them for every station in turn, in whichever order the platforms
    are set up; a station's ports are still all enabled or all disabled, Connectivity stays
    and Home Assistant drops nothing.
    """
    entry_id = init_integration.entry_id

    async def set_level(level: str) -> None:
        result = await hass.config_entries.options.async_init(entry_id)
        await hass.config_entries.options.async_configure(
            result["flow_id"], {**result["data_schema"]({}), CONF_PORT_ENTITIES: level}
        )
        await hass.async_block_till_done()

    await set_level("none")
    await connect_one_by_one(hass, init_integration, simulator, station_factory)
    await set_level("all")

    registry = er.async_get(hass)
    decided: dict[str, er.RegistryEntryDisabler | None] = {}
    for station_id in STATIONS:
        assert connectivity_enabled(registry, station_id)
        ports = port_entries(registry, entry_id, station_id)
        (decided[station_id],) = {disabled for key in ENABLED_PORT_KEYS for disabled in ports[key]}
    assert None in decided.values()
    assert er.RegistryEntryDisabler.INTEGRATION in decided.values()
    assert registry.entities.get_enabled_count_for_config_entry_id(entry_id) <= CAP
    assert "Reached the maximum" not in caplog.text
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"entity_cap_{entry_id}")
    assert issue is not None
    # The issue names the first (here one) and counts the others.
    disabled_ids = [station_id for station_id, disabled in decided.items() if disabled]
    assert issue.translation_placeholders["count"] == str(len(disabled_ids))
    assert issue.translation_placeholders["stations"] == (
        disabled_ids[0] + (f" (+{len(disabled_ids) - 1})" if len(disabled_ids) > 1 else "")
    )


def test_the_enabled_port_entities_are_the_descriptions() -> None:
    """``ENABLED_PORT_ENTITIES`` is what the port descriptions enable by default."""
    descriptions = [
        *(("sensor", description) for description in PORT_SENSORS),
        *(("binary_sensor", description) for description in PORT_BINARY_SENSORS),
        ("switch", CHARGING_SWITCH),
    ]
    assert {
        (platform, description.key)
        for platform, description in descriptions
        if description.entity_registry_enabled_default
    } == ENABLED_PORT_ENTITIES
    assert {("sensor", "status"), ("switch", "charging")} <= ENABLED_PORT_ENTITIES
