"""The dashboard's compact station list (iot_zinx/station_list/subscribe) and port_map's limit."""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.iot_zinx.const import (
    CONF_HEARTBEAT_TIMEOUT,
    CONF_PORT_ENTITIES,
    DOMAIN,
    PORT_ENTITIES_CONNECTIVITY,
)
from custom_components.iot_zinx.models import StationState
from custom_components.iot_zinx.protocol.codes import PortStatus
from custom_components.iot_zinx.protocol.simulator import SimulatedStation, StationSimulator
from custom_components.iot_zinx.station_list import (
    ListedStation,
    ListQuery,
    async_directory,
    async_fleets,
    sort_key,
    station_flags,
    station_page,
)

from .conftest import POWER_REPORT, STATION_ID, device_by_identifier, wait_for_station

SECOND_ID = "04A228CE"
SUBSCRIBE = "iot_zinx/station_list/subscribe"


@pytest.fixture(autouse=True)
def list_interval() -> Generator[None]:
    """No throttling unless a test asks for it: every change is sent at once."""
    with patch("custom_components.iot_zinx.station_list.LIST_INTERVAL", 0.0):
        yield


@pytest.fixture
async def two_stations(
    hass: HomeAssistant,
    simulator: StationSimulator,
    station_factory: Callable[..., SimulatedStation],
) -> tuple[SimulatedStation, SimulatedStation]:
    """04A228CD (2 ports, port 1 plugged) and 04A228CE (3 ports), registered, heartbeat seen."""
    first = simulator.add_station(station_factory(plugged=(0,)))
    second = simulator.add_station(station_factory(0x04A228CE, port_count=3))
    await simulator.start()
    await simulator.wait_registered(timeout=5)
    for station_id in (STATION_ID, SECOND_ID):
        await wait_for_station(hass, station_id, lambda state: state.last_heartbeat is not None)
    return first, second


async def subscribe(client: Any, **query: Any) -> tuple[int, dict[str, Any]]:
    """Subscribe; the subscription's id and its first page."""
    await client.send_json_auto_id({"type": SUBSCRIBE, **query})
    result = await client.receive_json()
    assert result["success"], result
    return result["id"], await next_page(client, result["id"])


async def next_page(client: Any, message_id: int) -> dict[str, Any]:
    message = await client.receive_json()
    assert (message["id"], message["type"]) == (message_id, "event"), message
    page: dict[str, Any] = message["event"]
    return page


def init_station(hass: HomeAssistant, station_id: str) -> StationState:
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    station: StationState = entry.runtime_data.stations[station_id]
    return station


async def unsubscribe(client: Any, message_id: int) -> None:
    await client.send_json_auto_id({"type": "unsubscribe_events", "subscription": message_id})
    assert (await client.receive_json())["success"]


def cell(number: int, status: str | None, kind: str, power_w: float | None) -> dict[str, Any]:
    return {"number": number, "status": status, "kind": kind, "power_w": power_w}


async def test_first_page_then_a_port_starts_charging(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    two_stations: tuple[SimulatedStation, SimulatedStation],
) -> None:
    """One row per station with a cell per port; a start pushes the page again."""
    first, _second = two_stations
    client = await hass_ws_client(hass)
    message_id, page = await subscribe(client)
    device = device_by_identifier(hass, (DOMAIN, STATION_ID))
    second_device = device_by_identifier(hass, (DOMAIN, SECOND_ID))
    assert device is not None
    assert second_device is not None
    assert page == {
        "page": 0,
        "pages": 1,
        "page_size": 50,
        "matched": 2,
        "counts": {"stations": 2, "online": 2, "offline": 0, "charging": 0, "fault": 0},
        "stations": [
            {
                "device_id": device.id,
                "name": "AP3000 04A228CD",
                "station_id": STATION_ID,
                "online": True,
                "ports": [cell(1, "plugged", "plugged", None), cell(2, "idle", "idle", None)],
            },
            {
                "device_id": second_device.id,
                "name": "AP3000 04A228CE",
                "station_id": SECOND_ID,
                "online": True,
                "ports": [cell(n, "idle", "idle", None) for n in (1, 2, 3)],
            },
        ],
    }

    await hass.services.async_call(
        DOMAIN, "start_charging", {"station_id": STATION_ID, "port": 1}, blocking=True
    )
    page = await next_page(client, message_id)
    while page["stations"][0]["ports"][0]["kind"] != "charging":
        page = await next_page(client, message_id)
    assert page["counts"]["charging"] == 1
    first.send(POWER_REPORT)
    page = await next_page(client, message_id)
    assert page["stations"][0]["ports"][0] == cell(1, "charging", "charging", 215.3)


async def test_heartbeat_that_changes_nothing_shown_sends_nothing(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    two_stations: tuple[SimulatedStation, SimulatedStation],
) -> None:
    """Heartbeats with the same port statuses, on the page or off it, send no page.

    A fault off the page does: it changes the counts.
    """
    first, second = two_stations
    client = await hass_ws_client(hass)
    message_id, page = await subscribe(client, page_size=1)
    assert [row["station_id"] for row in page["stations"]] == [STATION_ID]
    for station, station_id in ((first, STATION_ID), (second, SECOND_ID)):
        before = init_station(hass, station_id).last_heartbeat
        station.send_heartbeat()
        await wait_for_station(
            hass, station_id, lambda state, before=before: state.last_heartbeat != before
        )
    second.set_port_status(1, PortStatus.RELAY_WELDED)  # port 2 (the simulator counts from 0)
    page = await next_page(client, message_id)
    assert page["counts"]["fault"] == 1
    assert [row["station_id"] for row in page["stations"]] == [STATION_ID]


async def test_filters_and_pages(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    two_stations: tuple[SimulatedStation, SimulatedStation],
) -> None:
    """Text (name or id, any case), status, and pages (past the last one: the last one)."""
    _first, second = two_stations
    client = await hass_ws_client(hass)

    message_id, page = await subscribe(client, text=" 28ce ")
    assert [row["station_id"] for row in page["stations"]] == [SECOND_ID]
    assert (page["matched"], page["counts"]["stations"]) == (1, 1)
    await unsubscribe(client, message_id)

    message_id, page = await subscribe(client, page=5, page_size=1)
    assert (page["page"], page["pages"], page["matched"]) == (1, 2, 2)
    assert [row["station_id"] for row in page["stations"]] == [SECOND_ID]
    await unsubscribe(client, message_id)

    message_id, page = await subscribe(client, status="fault")
    assert (page["matched"], page["stations"]) == (0, [])
    assert page["counts"] == {"stations": 2, "online": 2, "offline": 0, "charging": 0, "fault": 0}
    second.set_port_status(2, PortStatus.CONTACT_STUCK)
    page = await next_page(client, message_id)
    assert [row["station_id"] for row in page["stations"]] == [SECOND_ID]

    await second.disconnect()
    page = await next_page(client, message_id)
    assert page["counts"]["offline"] == 1
    await unsubscribe(client, message_id)
    _id, page = await subscribe(client, status="offline")
    assert [(row["station_id"], row["online"]) for row in page["stations"]] == [(SECOND_ID, False)]
    assert page["counts"]["offline"] == 1


async def test_a_renamed_station_is_found_by_its_new_name(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    two_stations: tuple[SimulatedStation, SimulatedStation],
) -> None:
    """The device's name as the user set it: shown, searched and sorted by."""
    client = await hass_ws_client(hass)
    message_id, page = await subscribe(client)
    device = device_by_identifier(hass, (DOMAIN, SECOND_ID))
    assert device is not None
    # Not a name: the names stay sorted as they were (no page: nothing shown changed).
    dr.async_get(hass).async_update_device(device.id, sw_version="V9.99")
    dr.async_get(hass).async_update_device(device.id, name_by_user="Bike shed 1")
    page = await next_page(client, message_id)
    assert [row["name"] for row in page["stations"]] == ["AP3000 04A228CD", "Bike shed 1"]
    _id, page = await subscribe(client, text="SHED")
    assert [row["station_id"] for row in page["stations"]] == [SECOND_ID]


async def test_changes_within_the_interval_are_sent_together(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    two_stations: tuple[SimulatedStation, SimulatedStation],
) -> None:
    """After a page, the next changes wait for the interval's end and go as one page."""
    first, second = two_stations
    client = await hass_ws_client(hass)
    with patch("custom_components.iot_zinx.station_list.LIST_INTERVAL", 3600.0):
        message_id, _page = await subscribe(client)
        second.set_port_status(0, PortStatus.RELAY_WELDED)
        await wait_for_station(hass, SECOND_ID, lambda state: state.ports[1].is_fault)
        second.set_port_status(1, PortStatus.RELAY_WELDED)
        await wait_for_station(hass, SECOND_ID, lambda state: state.ports[2].is_fault)
        first.set_port_status(1, PortStatus.RELAY_WELDED)
        await wait_for_station(hass, STATION_ID, lambda state: state.ports[2].is_fault)
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=2))
        page = await next_page(client, message_id)
    assert [[port["kind"] for port in row["ports"]] for row in page["stations"]] == [
        ["plugged", "fault"],
        ["fault", "fault", "idle"],
    ]
    assert page["counts"]["fault"] == 2


async def test_unsubscribed_pages_stop(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    two_stations: tuple[SimulatedStation, SimulatedStation],
) -> None:
    """After unsubscribe_events, a change sends nothing; a new subscription sees it."""
    _first, second = two_stations
    client = await hass_ws_client(hass)
    message_id, _page = await subscribe(client)
    await unsubscribe(client, message_id)
    second.set_port_status(0, PortStatus.RELAY_WELDED)
    await wait_for_station(hass, SECOND_ID, lambda state: state.ports[1].is_fault)
    _id, page = await subscribe(client, status="fault")
    assert [row["station_id"] for row in page["stations"]] == [SECOND_ID]


def test_sort_order() -> None:
    """Words of digits by number, other words (hex ids) as text, case ignored."""
    names = ["shed 10", "AP3000 04A22A01", "Shed 9", "AP3000 04A22A0A", "Shed 9 b", "AP3000 9"]
    assert sorted(names, key=sort_key) == [
        "AP3000 9",
        "AP3000 04A22A01",
        "AP3000 04A22A0A",
        "Shed 9",
        "Shed 9 b",
        "shed 10",
    ]


def test_flags_of_ports_not_reported_yet() -> None:
    """A port whose status is unknown neither charges nor is in fault."""
    station = StationState(STATION_ID, 0x04A228CD, online=True)
    station.port(1)
    station.port(2).status = PortStatus.FLOAT_CHARGING
    assert station_flags(station) == (True, True, False)
    station.port(2).status = PortStatus.CANNOT_METER
    assert station_flags(station) == (True, False, True)


async def test_a_station_gone_since_the_directory_is_left_out(
    hass: HomeAssistant, two_stations: tuple[SimulatedStation, SimulatedStation]
) -> None:
    """A listed station its server no longer knows (removed meanwhile) is not shown."""
    directory = [
        *async_directory(hass),
        ListedStation("01JIOTZINXTESTENTRY0000000", "04A228FF", "AP3000 04A228FF", None, "x"),
    ]
    page = station_page(async_fleets(hass), ListQuery(), directory)
    assert [row["station_id"] for row in page.message["stations"]] == [STATION_ID, SECOND_ID]
    assert page.message["matched"] == 2


@pytest.mark.parametrize(
    "query",
    [{"status": "charged"}, {"page_size": 0}, {"page_size": 201}, {"page": -1}],
)
async def test_bad_query_is_refused(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    init_integration: MockConfigEntry,
    query: dict[str, Any],
) -> None:
    """An unknown status filter or a page size out of 1..200 is an invalid_format error."""
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": SUBSCRIBE, **query})
    response = await client.receive_json()
    assert not response["success"]
    assert response["error"]["code"] == "invalid_format"


async def test_port_map_limit(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    two_stations: tuple[SimulatedStation, SimulatedStation],
) -> None:
    """Above ``limit`` stations the port map has only the site devices (none at All)."""
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "iot_zinx/port_map", "limit": 1})
    result = (await client.receive_json())["result"]
    assert result == {"stations": [], "station_count": 2, "complete": False}
    await client.send_json_auto_id({"type": "iot_zinx/port_map", "limit": 2})
    result = (await client.receive_json())["result"]
    assert (len(result["stations"]), result["station_count"], result["complete"]) == (2, 2, True)


class TestConnectivityOnly:
    """At the *Connectivity only* level the ports have no entities; the list has their cells."""

    @pytest.fixture
    def entry_options(self) -> dict[str, Any]:
        return {CONF_HEARTBEAT_TIMEOUT: 420, CONF_PORT_ENTITIES: PORT_ENTITIES_CONNECTIVITY}

    async def test_cells_without_port_entities(
        self,
        hass: HomeAssistant,
        hass_ws_client: WebSocketGenerator,
        init_integration: MockConfigEntry,
        two_stations: tuple[SimulatedStation, SimulatedStation],
    ) -> None:
        """Port cells from the station's state; the port map's limit leaves the site device."""
        client = await hass_ws_client(hass)
        _id, page = await subscribe(client, text=STATION_ID)
        assert page["stations"][0]["ports"] == [
            cell(1, "plugged", "plugged", None),
            cell(2, "idle", "idle", None),
        ]
        await client.send_json_auto_id({"type": "iot_zinx/port_map", "limit": 1})
        result = (await client.receive_json())["result"]
        (site,) = result["stations"]
        assert (site["station_id"], result["station_count"]) == ("", 2)
        assert site["station"]["sensor.charging_ports"].startswith("sensor.")
        assert site["ports"] == []
