"""Station groups: past Home Assistant's cap of enabled entities per entry, more entries.

The cap is lowered to ``CAP`` on the module attribute Home Assistant reads as it adds each
entity. A 2-port station at the default level has 9 enabled entities of its own and 5 per port
(status, power, session and lifetime energy, the charging switch): 19, counted as 20 (10 for
the station's own). An entry is filled up to ``CAP`` less a tenth: 54 here, so two stations
per entry: the server's entry holds the first two, station group 1 the next two, group 2 the
fifth.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_SYSTEM,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_HOST,
    CONF_PORT,
    SERVICE_TURN_ON,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_platform, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_zinx import station_group_entry
from custom_components.iot_zinx.binary_sensor import PORT_BINARY_SENSORS
from custom_components.iot_zinx.const import (
    DOMAIN,
    ENABLED_PORT_ENTITIES,
)
from custom_components.iot_zinx.diagnostics import async_get_config_entry_diagnostics
from custom_components.iot_zinx.entity_levels import parse_unique_id
from custom_components.iot_zinx.entries import station_group_entries
from custom_components.iot_zinx.protocol.messages import ChargeControl
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator
from custom_components.iot_zinx.sensor import PORT_SENSORS
from custom_components.iot_zinx.station_groups import (
    DEFAULT_ENTITY_CAP,
    entity_cap,
    entry_limit,
)
from custom_components.iot_zinx.switch import CHARGING_SWITCH

from .conftest import device_by_identifier, port_holder, set_port_entities, wait_for_station

CAP = 60
STATIONS = [f"{0x04A228CD + offset:08X}" for offset in range(5)]
# Station index -> group number (0: the server's own entry).
HOMES = [0, 0, 1, 1, 2]
ENABLED_PER_STATION = 19


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Home Assistant's cap lowered to ``CAP``, where Home Assistant reads it."""
    monkeypatch.setattr(entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", CAP)


async def connect_one_by_one(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> list[SimulatedStation]:
    """Each station registered and its entities added before the next connects."""
    stations = []
    for station_id in STATIONS:
        station = simulator.add_station(station_factory(int(station_id, 16), plugged=(0,)))
        await station.connect("127.0.0.1", entry.runtime_data.server.port)
        async with asyncio.timeout(5):
            await station.registered.wait()
        await hass.async_block_till_done()
        stations.append(station)
    return stations


async def grouped_fleet_unloaded(
    hass: HomeAssistant,
    server: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> list[ConfigEntry]:
    """The fleet connected (so the groups exist), then gone and the server unloaded: its
    groups, unloaded with it."""
    await connect_one_by_one(hass, server, simulator, station_factory)
    await simulator.stop()
    assert await hass.config_entries.async_unload(server.entry_id)
    await hass.async_block_till_done()
    return station_group_entries(hass, server.entry_id)


def entry_ids(hass: HomeAssistant, server: MockConfigEntry) -> list[str]:
    """The server's entry id, then its groups' by number."""
    groups = station_group_entries(hass, server.entry_id)
    assert [group.data["group"] for group in groups] == list(range(1, len(groups) + 1))
    return [server.entry_id, *(group.entry_id for group in groups)]


def assert_homes(hass: HomeAssistant, server: MockConfigEntry, homes: list[int]) -> None:
    """Every station's device and entities in its home entry, each one it should have enabled."""
    registry = er.async_get(hass)
    ids = entry_ids(hass, server)
    for station_id, home in zip(STATIONS, homes, strict=True):
        device = device_by_identifier(hass, (DOMAIN, station_id))
        assert device is not None
        assert device.config_entry_id == ids[home], station_id
        entities = er.async_entries_for_device(registry, device.id, include_disabled_entities=True)
        assert {entity.config_entry_id for entity in entities} == {ids[home]}, station_id
        enabled = [entity for entity in entities if entity.disabled_by is None]
        assert len(enabled) == ENABLED_PER_STATION, station_id
        assert {
            (entity.domain, parsed.key)
            for entity in enabled
            if (parsed := parse_unique_id(entity.unique_id)) is not None and parsed.port is not None
        } == ENABLED_PORT_ENTITIES
        # Each of them has a state: its platform (in that entry) added it.
        assert all(hass.states.get(entity.entity_id) is not None for entity in enabled)
    for entry_id in ids:
        assert registry.entities.get_enabled_count_for_config_entry_id(entry_id) <= entry_limit()


@pytest.mark.usefixtures("small_cap")
async def test_stations_past_the_cap_go_to_station_groups(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every station gets every entity: the server creates groups as its entry fills up.

    A grouped station's port switch starts charging like any other; Home Assistant drops
    nothing, and the groups have no options nor anything to reconfigure.
    """
    stations = await connect_one_by_one(hass, init_integration, simulator, station_factory)

    assert_homes(hass, init_integration, HOMES)
    assert "Reached the maximum" not in caplog.text
    groups = station_group_entries(hass, init_integration.entry_id)
    assert [(group.title, group.state) for group in groups] == [
        (f"{init_integration.title} · station group 1", ConfigEntryState.LOADED),
        (f"{init_integration.title} · station group 2", ConfigEntryState.LOADED),
    ]
    assert [group.data for group in groups] == [
        {"kind": "station_group", "server": init_integration.entry_id, "group": number}
        for number in (1, 2)
    ]
    assert [group.supports_options for group in groups] == [False, False]
    assert init_integration.supports_options

    # The last station's port 1, in group 2: its switch sends the start to that station.
    switch = f"switch.ap3000_{STATIONS[4].lower()}_port_1_charging"
    await hass.services.async_call(
        "switch", SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    start = stations[4].commands[-1]
    assert isinstance(start, ChargeControl)
    assert (start.action, start.port) == (1, 0)
    await wait_for_station(hass, STATIONS[4], lambda station: station.ports[1].is_charging)
    assert hass.states.get(switch).state == STATE_ON

    # The group's diagnostics list its stations; their details are the server's.
    diagnostics = await async_get_config_entry_diagnostics(hass, groups[0])
    assert diagnostics["stations"] == STATIONS[2:4]
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": groups[0].entry_id}
    )
    assert (result["type"], result["reason"]) == ("abort", "station_group_not_reconfigurable")


@pytest.mark.usefixtures("small_cap")
async def test_a_reload_keeps_every_station_where_it_was(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """The server unloads its groups with itself and sets them up again after its set-up;
    the homes are read back from the registry: no device nor entity moves or doubles."""
    await connect_one_by_one(hass, init_integration, simulator, station_factory)
    registry = er.async_get(hass)
    before = {entity.entity_id: entity.config_entry_id for entity in registry.entities.values()}

    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()

    groups = station_group_entries(hass, init_integration.entry_id)
    assert [group.state for group in groups] == [ConfigEntryState.LOADED] * 2
    assert_homes(hass, init_integration, HOMES)
    after = {entity.entity_id: entity.config_entry_id for entity in registry.entities.values()}
    assert after == before


@pytest.mark.usefixtures("small_cap")
async def test_a_group_set_up_before_its_server_waits_for_it(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """As at Home Assistant's start, where a domain's entries are set up side by side."""
    groups = await grouped_fleet_unloaded(hass, init_integration, simulator, station_factory)
    assert [group.state for group in groups] == [ConfigEntryState.NOT_LOADED] * 2

    first = hass.async_create_task(hass.config_entries.async_setup(groups[0].entry_id))
    await asyncio.sleep(0)
    assert not first.done()  # waiting for the server's hub
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    assert first.result()
    assert [group.state for group in groups] == [ConfigEntryState.LOADED] * 2
    assert_homes(hass, init_integration, HOMES)


@pytest.mark.usefixtures("small_cap")
async def test_a_group_without_its_server_retries(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its server not running, a group waits ``SERVER_WAIT``, then retries; the server's
    set-up then sets it up."""
    group = (await grouped_fleet_unloaded(hass, init_integration, simulator, station_factory))[0]
    monkeypatch.setattr(station_group_entry, "SERVER_WAIT", 0.0)

    assert not await hass.config_entries.async_setup(group.entry_id)
    assert group.state is ConfigEntryState.SETUP_RETRY
    assert group.error_reason_translation_key == "station_group_server_not_loaded"
    assert group.error_reason_translation_placeholders == {"title": init_integration.title}

    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    assert group.state is ConfigEntryState.LOADED


@pytest.mark.usefixtures("small_cap")
async def test_raising_the_level_moves_the_stations_that_no_longer_fit(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """From *None* (6 entities a station: all five fit the server's entry) to *All*.

    The stations past the limit move to groups with their devices (same device id, so
    areas and names stay) and their entities (same entity ids).
    """
    entry_id = init_integration.entry_id

    await set_port_entities(hass, entry_id, "none")
    await connect_one_by_one(hass, init_integration, simulator, station_factory)
    assert station_group_entries(hass, entry_id) == []
    device_ids = [device_by_identifier(hass, (DOMAIN, station_id)).id for station_id in STATIONS]  # type: ignore[union-attr]
    connectivity = [
        f"binary_sensor.ap3000_{station_id.lower()}_connectivity" for station_id in STATIONS
    ]
    assert all(hass.states.get(entity_id) is not None for entity_id in connectivity)

    await set_port_entities(hass, entry_id, "all")

    assert_homes(hass, init_integration, HOMES)
    assert [
        device_by_identifier(hass, (DOMAIN, station_id)).id for station_id in STATIONS
    ] == device_ids  # type: ignore[union-attr]
    assert all(hass.states.get(entity_id) is not None for entity_id in connectivity)


@pytest.mark.usefixtures("small_cap")
async def test_deleting_the_server_deletes_its_groups(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """A group without its server would show nothing."""
    await connect_one_by_one(hass, init_integration, simulator, station_factory)
    await simulator.stop()
    assert len(station_group_entries(hass, init_integration.entry_id)) == 2

    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()

    assert hass.config_entries.async_entries(DOMAIN) == []
    assert (
        er.async_get(hass).entities.get_enabled_count_for_config_entry_id(init_integration.entry_id)
        == 0
    )


async def test_below_the_cap_every_station_stays_in_the_server_entry(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """With Home Assistant's own cap the same fleet needs no group."""
    await connect_one_by_one(hass, init_integration, simulator, station_factory)
    assert station_group_entries(hass, init_integration.entry_id) == []
    assert_homes(hass, init_integration, [0] * len(STATIONS))


def test_the_cap_is_home_assistants(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read from Home Assistant at each use; 10,000 where a release lacks the constant."""
    assert entity_cap() == 10_000
    assert entry_limit() == 9_000
    monkeypatch.setattr(entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", 20_000)
    assert entity_cap() == 20_000
    monkeypatch.delattr(entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY")
    assert entity_cap() == DEFAULT_ENTITY_CAP == 10_000


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


async def test_a_group_whose_server_is_gone_removes_itself(hass: HomeAssistant) -> None:
    """Left over from a server deleted while the group was not loaded: nothing to show."""
    orphan = MockConfigEntry(
        domain=DOMAIN,
        title="AP3000 server 127.0.0.1:0 · station group 1",
        data={"kind": "station_group", "server": "01JNOSUCHSERVER00000000000", "group": 1},
        unique_id="01JNOSUCHSERVER00000000000_station_group_1",
    )
    orphan.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(orphan.entry_id)
    await hass.async_block_till_done()

    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_no_group_for_a_server_that_does_not_exist(hass: HomeAssistant) -> None:
    """The config flow's system step refuses a group of an unknown server."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_SYSTEM},
        data={"kind": "station_group", "server": "01JNOSUCHSERVER00000000000", "group": 1},
    )
    assert (result["type"], result["reason"]) == ("abort", "station_group_without_server")
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_a_group_of_a_server_that_cannot_bind_retries_with_it(
    hass: HomeAssistant, command_timing: None
) -> None:
    """The server's set-up fails (its port is taken): its waiting group gives up at once
    instead of waiting ``SERVER_WAIT``, and loads once the server does."""
    # The integration first, so that setting up one entry does not set up the others.
    assert await async_setup_component(hass, DOMAIN, {})
    blocker = port_holder()
    port = int(blocker.getsockname()[1])
    server = MockConfigEntry(
        domain=DOMAIN, unique_id=str(port), data={CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    server.add_to_hass(hass)
    group = MockConfigEntry(
        domain=DOMAIN,
        title=f"{server.title} · station group 1",
        data={"kind": "station_group", "server": server.entry_id, "group": 1},
        unique_id=f"{server.entry_id}_station_group_1",
    )
    group.add_to_hass(hass)
    try:
        waiting = hass.async_create_task(hass.config_entries.async_setup(group.entry_id))
        await asyncio.sleep(0)
        assert not waiting.done()
        await hass.config_entries.async_setup(server.entry_id)
        await hass.async_block_till_done()
        assert server.state is ConfigEntryState.SETUP_RETRY
        assert waiting.done()
        assert group.state is ConfigEntryState.SETUP_RETRY
    finally:
        blocker.close()

    await hass.config_entries.async_reload(server.entry_id)
    await hass.async_block_till_done()
    assert (server.state, group.state) == (ConfigEntryState.LOADED, ConfigEntryState.LOADED)
    assert group.runtime_data is server.runtime_data
    assert await hass.config_entries.async_unload(server.entry_id)
    assert group.state is ConfigEntryState.NOT_LOADED
