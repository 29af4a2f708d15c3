"""The endpoint sensors: one service device per webhook endpoint, push-updated."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.entity import Entity
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockEntityPlatform

import custom_components.iot_zinx  # noqa: F401
from custom_components.iot_zinx.const import (
    CONF_KIND,
    DOMAIN,
    FORWARDING_UNIQUE_ID,
    KIND_FORWARDING,
)
from custom_components.iot_zinx.forwarding import ForwardingManager
from custom_components.iot_zinx.forwarding_entities import (
    async_setup_forwarding_sensors,
    forwarding_device_identifier,
)
from custom_components.iot_zinx.forwarding_entry import async_remove_forwarding_entry_device
from custom_components.iot_zinx.outbox import Endpoint

from .conftest import device_by_identifier
from .forwarding_support import (  # noqa: F401 - fixtures
    NOW,
    STATION_A,
    advance,
    envelope,
    forward,
    manager_fixture,
    receiver_fixture,
    settings_fixture,
)
from .webhook_receiver import Receiver, status, wait_until

# The entity names the lead merges into strings.json (entity.sensor.*), used here so the
# entity ids are the real ones.
NAMES = {
    "forwarding_backlog": "Backlog",
    "forwarding_last_success": "Last successful delivery",
    "forwarding_last_error": "Last error",
    "forwarding_delivered": "Delivered events",
    "forwarding_dead_letters": "Dead letters",
}


class SensorPlatform:
    """The integration's sensor platform of one config entry, for the endpoint sensors."""

    def __init__(self, hass: HomeAssistant, entry: MockConfigEntry) -> None:
        """Bind a real entity platform to `entry`."""
        self.platform = MockEntityPlatform(hass, domain="sensor", platform_name=DOMAIN)
        self.platform.config_entry = entry
        translations = {
            f"component.{DOMAIN}.entity.sensor.{key}.name": name for key, name in NAMES.items()
        }
        data = self.platform.platform_data
        data.platform_translations = translations
        data.object_id_platform_translations = translations
        data.default_language_platform_translations = translations
        self.hass = hass

    def add(self, entities: Iterable[Entity], update_before_add: bool = False) -> None:
        """AddConfigEntryEntitiesCallback."""
        self.hass.async_create_task(self.platform.async_add_entities(entities))


@pytest.fixture
async def entry(hass: HomeAssistant) -> MockConfigEntry:
    """Forwarding's own entry, loaded (only its sensor platform matters here)."""
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        entry_id="01FORWARDINGENTRY000000000",
        unique_id=FORWARDING_UNIQUE_ID,
        data={CONF_KIND: KIND_FORWARDING},
    )
    config_entry.add_to_hass(hass)
    config_entry.mock_state(hass, ConfigEntryState.LOADED)
    return config_entry


def states(hass: HomeAssistant, device_name: str) -> dict[str, Any]:
    """State of each endpoint sensor, by entity id."""
    prefix = "sensor." + device_name.replace(".", "_").replace(":", "_").replace("/", "_")
    return {
        state.entity_id.removeprefix(prefix): state.state
        for state in hass.states.async_all("sensor")
        if state.entity_id.startswith(prefix)
    }


async def test_sensors_of_known_and_new_endpoints(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Known endpoints get sensors at setup, new ones when they appear; states follow."""
    await forward(hass, receiver.url, envelope(1))
    await wait_until(lambda: manager.endpoint_view(Endpoint(receiver.url).key).delivered == 1)
    platform = SensorPlatform(hass, entry)
    await async_setup_forwarding_sensors(hass, entry, platform.add)
    await hass.async_block_till_done()

    key = Endpoint(receiver.url).key
    device = device_by_identifier(hass, forwarding_device_identifier(key))
    assert device is not None
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert device.name == f"127.0.0.1:{receiver.port}/api/iot/events"
    assert device.model == "Webhook endpoint"
    entities = er.async_entries_for_device(er.async_get(hass), device.id)
    assert sorted(entity.unique_id for entity in entities) == sorted(
        f"forwarding_{key}_{suffix}"
        for suffix in ("backlog", "last_success", "last_error", "delivered", "dead_letters")
    )
    assert all(entity.entity_category == "diagnostic" for entity in entities)
    name = device.name
    assert states(hass, name) == {
        "_backlog": "0",
        "_last_successful_delivery": NOW.isoformat(),
        "_last_error": "unknown",
        "_delivered_events": "1",
        "_dead_letters": "0",
    }

    # A failure shows up (after the one-second throttle of updates).
    receiver.respond(status(503, body="maintenance"))
    await forward(hass, receiver.url, envelope(2))
    await wait_until(lambda: bool(manager.outbox.retries))
    await advance(hass, freezer, 0.9)
    await wait_until(lambda: states(hass, name)["_last_error"] == "HTTP 503: maintenance")
    assert states(hass, name)["_backlog"] == "1"

    # A new endpoint brings its own device.
    other = receiver.url.replace("/api/iot/events", "/api/iot/events?x=1")
    await forward(hass, other, envelope(3), token="t")
    await hass.async_block_till_done()
    other_key = Endpoint(other, token="t").key
    assert device_by_identifier(hass, forwarding_device_identifier(other_key))


async def test_long_error_is_cut_to_a_state(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    entry: MockConfigEntry,
) -> None:
    """A state holds 255 characters at most."""
    receiver.respond(status(307, {"Location": "https://example.com/" + "x" * 300}))
    await forward(hass, receiver.url, envelope(1))
    await wait_until(lambda: bool(manager.outbox.dead_letters))
    platform = SensorPlatform(hass, entry)
    await async_setup_forwarding_sensors(hass, entry, platform.add)
    await hass.async_block_till_done()
    error = hass.states.get("sensor." + f"127_0_0_1_{receiver.port}_api_iot_events_last_error")
    assert error is not None
    assert len(error.state) == 255
    assert error.state.endswith("…")


async def test_forgotten_endpoint_devices_removed(
    hass: HomeAssistant, manager: ForwardingManager, entry: MockConfigEntry
) -> None:
    """A device of an endpoint the manager no longer knows is removed at setup."""
    registry = dr.async_get(hass)
    stale = registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={forwarding_device_identifier("ffffffffffffffff")},
        entry_type=dr.DeviceEntryType.SERVICE,
    )
    station = registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, STATION_A)}
    )
    await async_setup_forwarding_sensors(hass, entry, lambda entities: None)
    assert registry.async_get(stale.id) is None
    assert registry.async_get(station.id) is not None


async def test_removing_an_endpoint_device(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    entry: MockConfigEntry,
) -> None:
    """Refused while events wait; afterwards the endpoint's figures are forgotten."""
    registry = dr.async_get(hass)
    station = registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, STATION_A)}
    )
    assert async_remove_forwarding_entry_device(hass, station) is False

    receiver.respond(receiver.hang())
    await forward(hass, receiver.url, envelope(1))
    key = Endpoint(receiver.url).key
    device = registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={forwarding_device_identifier(key)}
    )
    assert async_remove_forwarding_entry_device(hass, device) is False
    receiver.release.set()
    await wait_until(lambda: manager.outbox.pending_count == 0)
    assert async_remove_forwarding_entry_device(hass, device) is True
    assert key not in manager.endpoint_keys


async def test_without_forwarding(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Nothing to show (and everything removable) when forwarding is not set up."""
    added: list[Entity] = []
    await async_setup_forwarding_sensors(hass, entry, added.extend)
    assert added == []
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={forwarding_device_identifier("k")}
    )
    assert async_remove_forwarding_entry_device(hass, device) is True
