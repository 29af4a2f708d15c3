"""Webhook forwarding's own config entry: created on first use, its options, the upgrade.

With a real Home Assistant, the integration set up as at a start, and a real receiver.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
import json
import time
from typing import Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_zinx import async_remove_config_entry_device
from custom_components.iot_zinx.const import (
    CONF_FORWARD_RETENTION_DAYS,
    CONF_HEARTBEAT_TIMEOUT,
    CONF_KIND,
    DOMAIN,
    FORWARDING_TITLE,
    KIND_FORWARDING,
)
from custom_components.iot_zinx.device_trigger import async_get_triggers
from custom_components.iot_zinx.diagnostics import async_get_config_entry_diagnostics
from custom_components.iot_zinx.entries import forwarding_entry, station_entries
from custom_components.iot_zinx.forwarding import DATA_FORWARDING
from custom_components.iot_zinx.forwarding_entities import (
    FORWARDING_DEVICE_IDENTIFIER,
    forwarding_device_identifier,
)
from custom_components.iot_zinx.outbox import INDEX_KEY, Endpoint, segment_key

from .forwarding_support import envelope, event_id, forward
from .webhook_receiver import Receiver, wait_until


@pytest.fixture(name="receiver")
async def receiver_fixture() -> AsyncGenerator[Receiver]:
    """A platform answering success."""
    platform = Receiver()
    await platform.start()
    yield platform
    await platform.stop()


def outbox_storage(url: str, numbers: list[int]) -> dict[str, Any]:
    """An older version's outbox, as Store files: the index and one segment of events."""
    endpoint = Endpoint(url)
    now = time.time()
    entries = [
        {
            "seq": seq,
            "endpoint": endpoint.key,
            "device_id": "04A228CD",
            "event_id": event_id(number),
            "event_type": "charging_start",
            "body": json.dumps(envelope(number)),
            "enqueued_at": now - 60,
        }
        for seq, number in enumerate(numbers, start=1)
    ]
    index = {
        "next_seq": len(numbers) + 1,
        "next_segment": 2,
        "segments": [1],
        "done": {},
        "retries": {},
        "endpoints": {},
        "dead_letters": [],
    }
    segment = {"endpoints": {endpoint.key: {"url": url}}, "entries": entries}
    return {
        INDEX_KEY: {"version": 1, "minor_version": 1, "key": INDEX_KEY, "data": index},
        segment_key(1): {
            "version": 1,
            "minor_version": 1,
            "key": segment_key(1),
            "data": segment,
        },
    }


async def test_upgrade_creates_the_entry_and_delivers_the_outbox(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    receiver: Receiver,
    command_timing: None,
) -> None:
    """A station entry with the old retention option and a queued outbox, then a start.

    The forwarding entry appears with the largest retention of the station entries, the
    endpoint's device and sensor move to it, and the queued events reach the receiver.
    """
    hass_storage.update(outbox_storage(receiver.url, [1, 2, 3]))
    key = Endpoint(receiver.url).key
    stations = [
        MockConfigEntry(
            domain=DOMAIN,
            title=f"AP3000 server 127.0.0.1:{number}",
            unique_id=str(number),
            data={"host": "127.0.0.1", "port": 0},
            options={CONF_HEARTBEAT_TIMEOUT: 420, CONF_FORWARD_RETENTION_DAYS: days},
        )
        for number, days in ((1, 14), (2, 30))
    ]
    for station in stations:
        station.add_to_hass(hass)
    # What the older version registered on the first station entry.
    devices, entities = dr.async_get(hass), er.async_get(hass)
    old_device = devices.async_get_or_create(
        config_entry_id=stations[0].entry_id,
        identifiers={forwarding_device_identifier(key)},
        entry_type=dr.DeviceEntryType.SERVICE,
    )
    old_sensor = entities.async_get_or_create(
        "sensor",
        DOMAIN,
        f"forwarding_{key}_delivered",
        config_entry=stations[0],
        device_id=old_device.id,
    )

    assert await hass.config_entries.async_setup(stations[0].entry_id)
    await hass.async_block_till_done()

    entry = forwarding_entry(hass)
    assert entry is not None
    assert entry.state is ConfigEntryState.LOADED
    assert entry.title == FORWARDING_TITLE
    assert entry.data == {CONF_KIND: KIND_FORWARDING}
    assert entry.options == {CONF_FORWARD_RETENTION_DAYS: 30}
    assert hass.data[DATA_FORWARDING].settings.retention == timedelta(days=30)
    assert station_entries(hass) == stations
    for station in stations:
        assert CONF_FORWARD_RETENTION_DAYS not in station.options
        assert station.state is ConfigEntryState.LOADED

    moved = devices.async_get(old_device.id)
    assert moved is not None
    assert moved.config_entry_id == entry.entry_id
    own = devices.async_get_device_by_identifier(FORWARDING_DEVICE_IDENTIFIER, entry.entry_id)
    assert own is not None
    assert own.config_entry_id == entry.entry_id
    assert moved.via_device_id == own.id
    sensor = entities.async_get(old_sensor.entity_id)
    assert sensor is not None
    assert sensor.config_entry_id == entry.entry_id

    await wait_until(lambda: len(receiver.processed) == 3)
    assert receiver.processed == [event_id(1), event_id(2), event_id(3)]
    await wait_until(lambda: hass.data[DATA_FORWARDING].outbox.pending_count == 0)
    # The endpoint's device is the forwarding entry's: no station triggers.
    assert await async_get_triggers(hass, moved.id) == []


async def test_first_use_creates_the_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry, receiver: Receiver
) -> None:
    """No entry until the action is used; then one, with the default retention."""
    assert forwarding_entry(hass) is None
    await forward(hass, receiver.url, envelope(1))
    await hass.async_block_till_done()
    entry = forwarding_entry(hass)
    assert entry is not None
    assert entry.state is ConfigEntryState.LOADED
    assert entry.options == {CONF_FORWARD_RETENTION_DAYS: 7}
    await wait_until(lambda: receiver.processed == [event_id(1)])

    # The endpoint's device and sensors are the forwarding entry's, none the station's.
    key = Endpoint(receiver.url).key
    device = dr.async_get(hass).async_get_device_by_identifier(
        forwarding_device_identifier(key), entry.entry_id
    )
    assert device is not None
    assert device.config_entry_id == entry.entry_id
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    assert len(entities) == 5
    assert not [
        entity
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), init_integration.entry_id
        )
        if entity.unique_id.startswith("forwarding_")
    ]

    # A second call creates nothing more; the station entry is untouched.
    await forward(hass, receiver.url, envelope(2))
    await hass.async_block_till_done()
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2
    assert init_integration.state is ConfigEntryState.LOADED


async def test_options_and_reconfigure(
    hass: HomeAssistant, init_integration: MockConfigEntry, receiver: Receiver
) -> None:
    """The retention is forwarding's option; its entry has no address to reconfigure."""
    await forward(hass, receiver.url, envelope(1))
    await hass.async_block_till_done()
    entry = forwarding_entry(hass)
    assert entry is not None

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "forwarding"
    assert result["data_schema"]({}) == {CONF_FORWARD_RETENTION_DAYS: 7}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_FORWARD_RETENTION_DAYS: 21.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {CONF_FORWARD_RETENTION_DAYS: 21}
    assert hass.data[DATA_FORWARDING].settings.retention == timedelta(days=21)

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "forwarding_not_reconfigurable"


async def test_removing_devices_of_the_forwarding_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry, receiver: Receiver
) -> None:
    """An endpoint's device goes once delivered; forwarding's own device stays."""
    await forward(hass, receiver.url, envelope(1))
    await hass.async_block_till_done()
    entry = forwarding_entry(hass)
    assert entry is not None
    await wait_until(lambda: hass.data[DATA_FORWARDING].outbox.pending_count == 0)
    devices = dr.async_get(hass)
    key = Endpoint(receiver.url).key
    endpoint_device = devices.async_get_device_by_identifier(
        forwarding_device_identifier(key), entry.entry_id
    )
    own = devices.async_get_device_by_identifier(FORWARDING_DEVICE_IDENTIFIER, entry.entry_id)
    assert endpoint_device is not None
    assert own is not None

    assert await async_remove_config_entry_device(hass, entry, own) is False
    assert await async_remove_config_entry_device(hass, entry, endpoint_device) is True
    assert key not in hass.data[DATA_FORWARDING].endpoint_keys
    assert await async_get_triggers(hass, own.id) == []


async def test_diagnostics_of_the_forwarding_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry, receiver: Receiver
) -> None:
    """Forwarding's entry shows the forwarding; a station server's no longer does."""
    await forward(hass, receiver.url, envelope(1), token="secret-token")
    await hass.async_block_till_done()
    entry = forwarding_entry(hass)
    assert entry is not None
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["entry"]["options"] == {CONF_FORWARD_RETENTION_DAYS: 7}
    assert diagnostics["forwarding"]["settings"]["retention_s"] == 7 * 86400
    [endpoint] = diagnostics["forwarding"]["endpoints"]
    assert endpoint["credentials"] == {"token": True, "api_key": False, "secret": False}
    assert "secret-token" not in json.dumps(diagnostics)
    assert "forwarding" not in await async_get_config_entry_diagnostics(hass, init_integration)
