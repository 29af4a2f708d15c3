"""The "connectivity" entity level: one entity per station, the site's totals on the server."""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.device_registry import DeviceEntryType
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.iot_zinx import async_remove_config_entry_device
from custom_components.iot_zinx.const import CONF_HEARTBEAT_TIMEOUT, CONF_PORT_ENTITIES, DOMAIN
from custom_components.iot_zinx.models import PortState, StationState
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator
from custom_components.iot_zinx.site_totals import (
    SITE_TOTALS_INTERVAL,
    SiteTotals,
    compute_site_totals,
    site_device_identifier,
)
from custom_components.iot_zinx.store import OrderBook

from .conftest import (
    POWER_REPORT,
    STATION_ID,
    device_by_identifier,
    set_port_entities,
    wait_for_station,
)

CONNECTIVITY = {CONF_HEARTBEAT_TIMEOUT: 420, CONF_PORT_ENTITIES: "connectivity"}
SITE_KEYS = ("stations_online", "charging_ports", "total_power", "total_lifetime_energy")


def site_entity_ids(registry: er.EntityRegistry, entry: MockConfigEntry) -> dict[str, str]:
    """The site sensors' entity ids by description key (those that exist)."""
    found = {}
    for key in SITE_KEYS:
        unique_id = f"{entry.entry_id}_site_{key}"
        if (entity_id := registry.async_get_entity_id("sensor", DOMAIN, unique_id)) is not None:
            found[key] = entity_id
    return found


def site_states(hass: HomeAssistant, entity_ids: dict[str, str]) -> dict[str, str]:
    return {key: hass.states.get(entity_id).state for key, entity_id in entity_ids.items()}


def interval_passes(hass: HomeAssistant) -> None:
    """Let the totals' rate limit run out (its timer fires, nothing else waits)."""
    later = dt_util.utcnow() + timedelta(seconds=SITE_TOTALS_INTERVAL + 1)
    async_fire_time_changed(hass, later)


@pytest.mark.parametrize("entry_options", [CONNECTIVITY])
async def test_one_entity_per_station_and_the_site_totals(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
    charging_dual_socket: SimulatedStation,
) -> None:
    """The station keeps its connectivity; the site device totals every station."""
    entry_id = init_integration.entry_id
    station_device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert station_device is not None
    assert [
        (entity.domain, entity.unique_id)
        for entity in er.async_entries_for_device(entity_registry, station_device.id)
    ] == [("binary_sensor", f"{STATION_ID}_connectivity")]
    assert hass.states.get("binary_sensor.ap3000_04a228cd_connectivity").state == "on"

    site = device_by_identifier(hass, site_device_identifier(entry_id))
    assert site is not None
    assert (site.name, site.entry_type, site.manufacturer) == (
        "Site AP3000 server 127.0.0.1:0",
        DeviceEntryType.SERVICE,
        "AP3000",
    )
    entity_ids = site_entity_ids(entity_registry, init_integration)
    assert {
        entity.unique_id for entity in er.async_entries_for_device(entity_registry, site.id)
    } == {f"{entry_id}_site_{key}" for key in SITE_KEYS}

    interval_passes(hass)  # the start and the power report came within one interval
    await hass.async_block_till_done()
    assert site_states(hass, entity_ids) == {
        "stations_online": "1",
        "charging_ports": "1",
        "total_power": "215.3",
        "total_lifetime_energy": "0.12",
    }
    energy = hass.states.get(entity_ids["total_lifetime_energy"])
    assert energy.entity_id == "sensor.site_ap3000_server_127_0_0_1_0_total_lifetime_energy"
    assert energy.attributes == {
        "device_class": "energy",
        "friendly_name": "Site AP3000 server 127.0.0.1:0 Total lifetime energy",
        "state_class": "total_increasing",
        "unit_of_measurement": "kWh",
    }
    assert hass.states.get(entity_ids["stations_online"]).attributes == {
        "friendly_name": "Site AP3000 server 127.0.0.1:0 Stations online",
        "state_class": "measurement",
    }


@pytest.mark.parametrize("entry_options", [CONNECTIVITY])
async def test_totals_are_written_at_most_once_per_interval(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    charging_dual_socket: SimulatedStation,
) -> None:
    """Changes within an interval are gathered into one write at its end; none is lost."""
    entity_ids = site_entity_ids(entity_registry, init_integration)
    # The setup's changes are written at the first interval's end, which opens another;
    # once that one passes quietly, the site is idle.
    for _ in range(2):
        interval_passes(hass)
        await hass.async_block_till_done()
    power = entity_ids["total_power"]
    assert hass.states.get(power).state == "215.3"
    writes: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            writes.append(event.data["new_state"].state)
            if event.data["entity_id"] == power
            else None
        ),
    )

    # The first change after a quiet interval is shown at once ...
    charging_dual_socket.send(dataclasses.replace(POWER_REPORT, power_w=300.5, energy_kwh=0.2))
    await wait_for_station(hass, STATION_ID, lambda station: station.ports[1].power_w == 300.5)
    assert writes == ["300.5"]
    # ... the next ones within the interval wait for its end, and the last one is shown.
    for power_w in (310.0, 320.5):
        charging_dual_socket.send(dataclasses.replace(POWER_REPORT, power_w=power_w))
        await wait_for_station(
            hass, STATION_ID, lambda station, p=power_w: station.ports[1].power_w == p
        )
    assert writes == ["300.5"]
    interval_passes(hass)
    await hass.async_block_till_done()
    assert writes == ["300.5", "320.5"]

    # A station going away is counted too.
    await charging_dual_socket.disconnect()
    await wait_for_station(hass, STATION_ID, lambda station: not station.online)
    interval_passes(hass)
    await hass.async_block_till_done()
    assert hass.states.get(entity_ids["stations_online"]).state == "0"
    assert hass.states.get("binary_sensor.ap3000_04a228cd_connectivity").state == "off"


@pytest.mark.parametrize("entry_options", [CONNECTIVITY])
async def test_deleting_a_station_keeps_the_site_energy(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
    charging_dual_socket: SimulatedStation,
) -> None:
    """What a deleted station delivered stays in the site's lifetime energy, across restarts."""
    entity_ids = site_entity_ids(entity_registry, init_integration)
    hub = init_integration.runtime_data
    await charging_dual_socket.disconnect()
    await wait_for_station(hass, STATION_ID, lambda station: not station.online)
    station_device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    assert station_device is not None
    assert await async_remove_config_entry_device(hass, init_integration, station_device)
    assert STATION_ID not in hub.stations
    interval_passes(hass)
    await hass.async_block_till_done()
    assert site_states(hass, entity_ids) == {
        "stations_online": "0",
        "charging_ports": "0",
        "total_power": "0.0",
        "total_lifetime_energy": "0.12",
    }

    # Saved, and back after a reload.
    await hub._store.async_save()
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.runtime_data.site.totals.total_lifetime_energy_kwh == 0.12
    assert hass.states.get(entity_ids["total_lifetime_energy"]).state == "0.12"


@pytest.mark.parametrize("entry_options", [CONNECTIVITY])
async def test_the_site_device_stays_while_the_level_provides_it(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry, init_integration: MockConfigEntry
) -> None:
    """Deleting the site's device is refused: its totals would come straight back."""
    site = device_by_identifier(hass, site_device_identifier(init_integration.entry_id))
    assert site is not None
    assert not await async_remove_config_entry_device(hass, init_integration, site)
    # A stale one (another level) may go; no station is forgotten for it.
    hass.config_entries.async_update_entry(
        init_integration, options={**init_integration.options, CONF_PORT_ENTITIES: "none"}
    )
    assert await async_remove_config_entry_device(hass, init_integration, site)


async def test_leaving_and_choosing_the_level(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
    station_factory: Callable[..., SimulatedStation],
) -> None:
    """all -> connectivity -> none: the station's entities and the site follow the level."""
    entry_id = init_integration.entry_id
    identifier = site_device_identifier(entry_id)

    async def station_talks() -> None:
        simulator = StationSimulator("127.0.0.1", init_integration.runtime_data.server.port)
        simulator.add_station(station_factory(plugged=(0,)))
        try:
            await simulator.start()
            await simulator.wait_registered(timeout=5)
            await wait_for_station(hass, STATION_ID, lambda state: state.port_count == 2)
            await hass.async_block_till_done()
        finally:
            await simulator.stop()

    def station_unique_ids() -> set[str]:
        return {
            entity.unique_id
            for entity in er.async_entries_for_config_entry(entity_registry, entry_id)
            if entity.unique_id.startswith(STATION_ID)
        }

    await station_talks()
    # The station's 10 (with Identify and Firmware) and 11 per port.
    assert len(station_unique_ids()) == 10 + 2 * 11
    assert device_by_identifier(hass, identifier) is None

    await set_port_entities(hass, entry_id, "connectivity")
    assert station_unique_ids() == {f"{STATION_ID}_connectivity"}
    assert set(site_entity_ids(entity_registry, init_integration)) == set(SITE_KEYS)
    await station_talks()
    assert station_unique_ids() == {f"{STATION_ID}_connectivity"}

    await set_port_entities(hass, entry_id, "none")
    # The site's device and totals are gone; the station totals are back with its readings.
    assert device_by_identifier(hass, identifier) is None
    assert site_entity_ids(entity_registry, init_integration) == {}
    await station_talks()
    assert {f"{STATION_ID}_total_power", f"{STATION_ID}_voltage"} <= station_unique_ids()


def test_compute_site_totals() -> None:
    """One pass: online stations, charging ports, power, energy including deleted stations."""
    first = StationState("04A228CD", 0x04A228CD, online=True)
    first.ports[1] = PortState(1, status=1, power_w=200.04, lifetime_energy_kwh=3.0)
    first.ports[2] = PortState(2, status=0, power_w=None, lifetime_energy_kwh=1.25)
    second = StationState("04A228CE", 0x04A228CE)
    second.ports[1] = PortState(1, status=1, power_w=100.0, lifetime_energy_kwh=0.5)
    stations = {station.station_id: station for station in (first, second)}
    assert compute_site_totals(stations, removed_kwh=2.004) == SiteTotals(
        stations_online=1,
        charging_ports=2,
        total_power_w=300.0,
        total_lifetime_energy_kwh=6.75,
    )
    # A port unconfirmed after a restart: unknown rather than a smaller sum.
    second.ports[1].lifetime_confirmed = False
    assert compute_site_totals(stations, removed_kwh=0.0).total_lifetime_energy_kwh is None
    assert compute_site_totals({}, removed_kwh=0.0) == SiteTotals()


def test_removed_energy_is_stored() -> None:
    """The book keeps what deleted stations delivered, and documents without it load as 0."""
    book = OrderBook()
    book.forget_station("04A228CD", 1.234)
    book.forget_station("04A228CE", 0.5)
    document = book.dump({})
    assert document["removed_kwh"] == 1.73
    restored = OrderBook()
    restored.restore(document, {})
    assert restored.removed_kwh == 1.73
    del document["removed_kwh"]
    restored.restore(document, {})
    assert restored.removed_kwh == 0.0
